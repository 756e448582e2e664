//! Detection of the cgroup version and of cellrun's own cgroup, from `/proc/self/mountinfo`
//! and `/proc/self/cgroup`.
//!
//! A hybrid system, with v1 controllers mounted and a cgroup2 hierarchy beside them that
//! has few controllers, counts as v1, because there the controllers cellrun needs are on v1.

use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::parse::{self, MountEntry, ProcCgroupEntry};

/// The v1 controllers cellrun uses. `cpu` is not listed: where it shares a hierarchy with
/// `cpuacct`, it comes along, and cellrun sets no CPU bandwidth limits.
pub const V1_CONTROLLERS: [&str; 5] = ["memory", "cpuacct", "cpuset", "pids", "freezer"];

/// One mounted v1 hierarchy and cellrun's cgroup in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Hierarchy {
    pub mount_point: PathBuf,
    /// The controllers of this hierarchy, as listed in `/proc/self/cgroup`.
    pub controllers: Vec<String>,
    /// The directory of the cgroup cellrun runs in.
    pub own: PathBuf,
}

/// The cgroup layout found at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    V1(Vec<V1Hierarchy>),
    V2 { mount_point: PathBuf, own: PathBuf },
}

/// Reads the two procfs files of the calling process and detects its layout.
pub fn detect_self() -> Result<Layout, CgroupError> {
    let mountinfo_path = Path::new("/proc/self/mountinfo");
    let cgroup_path = Path::new("/proc/self/cgroup");
    let mountinfo = super::fs::read(mountinfo_path)?;
    let proc_cgroup = super::fs::read(cgroup_path)?;
    let entries = parse::parse_proc_cgroup(&proc_cgroup).ok_or_else(|| {
        super::fs::parse_error(
            cgroup_path,
            proc_cgroup.clone(),
            "lines `id:controllers:path`",
        )
    })?;
    detect_layout(&parse::parse_mountinfo(&mountinfo), &entries)
}

/// Chooses v1 when any controller cellrun uses is mounted as v1, else v2 when a cgroup2
/// hierarchy is mounted.
pub fn detect_layout(
    mounts: &[MountEntry],
    entries: &[ProcCgroupEntry],
) -> Result<Layout, CgroupError> {
    let hierarchies = v1_hierarchies(mounts, entries)?;
    if !hierarchies.is_empty() {
        return Ok(Layout::V1(hierarchies));
    }

    let v2_entry = entries
        .iter()
        .find(|entry| entry.hierarchy_id == 0 && entry.controllers.is_empty());
    let v2_mount = mounts.iter().find(|mount| {
        mount.fs_type == "cgroup2"
            && v2_entry.is_some_and(|entry| path_below(&entry.path, &mount.root))
    });
    match (v2_mount, v2_entry) {
        (Some(mount), Some(entry)) => Ok(Layout::V2 {
            mount_point: mount.mount_point.clone(),
            own: cgroup_dir(mount, &entry.path)?,
        }),
        _ => Err(CgroupError::NoHierarchy),
    }
}

fn v1_hierarchies(
    mounts: &[MountEntry],
    entries: &[ProcCgroupEntry],
) -> Result<Vec<V1Hierarchy>, CgroupError> {
    let mut hierarchies: Vec<V1Hierarchy> = Vec::new();
    for controller in V1_CONTROLLERS {
        let Some(entry) = entries
            .iter()
            .find(|entry| entry.controllers.iter().any(|c| c == controller))
        else {
            continue;
        };
        let candidates: Vec<&MountEntry> = mounts
            .iter()
            .filter(|mount| {
                mount.fs_type == "cgroup" && mount.super_options.iter().any(|o| o == controller)
            })
            .collect();
        let Some(first) = candidates.first() else {
            continue;
        };
        // A hierarchy may be mounted several times; the mount showing our cgroup wins.
        let mount = candidates
            .iter()
            .find(|mount| path_below(&entry.path, &mount.root))
            .unwrap_or(first);
        if hierarchies
            .iter()
            .any(|known| known.mount_point == mount.mount_point)
        {
            continue;
        }
        hierarchies.push(V1Hierarchy {
            mount_point: mount.mount_point.clone(),
            controllers: entry.controllers.clone(),
            own: cgroup_dir(mount, &entry.path)?,
        });
    }
    Ok(hierarchies)
}

/// Returns whether the cgroup `path` lies at or below the mount's `root` inside the hierarchy.
fn path_below(path: &str, root: &str) -> bool {
    root == "/"
        || path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Maps a cgroup path from `/proc/self/cgroup` to its directory under the mount point.
fn cgroup_dir(mount: &MountEntry, path: &str) -> Result<PathBuf, CgroupError> {
    if !path_below(path, &mount.root) {
        return Err(CgroupError::NotVisible {
            path: path.to_string(),
            mount_point: mount.mount_point.clone(),
            mount_root: mount.root.clone(),
        });
    }
    let relative = if mount.root == "/" {
        path
    } else {
        &path[mount.root.len()..]
    };
    Ok(mount.mount_point.join(relative.trim_start_matches('/')))
}

/// Returns whether any swap area is active, from `/proc/swaps` (a header line plus one line
/// per area).
pub fn swap_active() -> bool {
    std::fs::read_to_string("/proc/swaps")
        .map(|text| text.lines().count() > 1)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::parse::{parse_mountinfo, parse_proc_cgroup};

    const HYBRID_MOUNTINFO: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
6:freezer:/
4:memory:/process_api/6bb5
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    fn layout(mountinfo: &str, proc_cgroup: &str) -> Result<Layout, CgroupError> {
        detect_layout(
            &parse_mountinfo(mountinfo),
            &parse_proc_cgroup(proc_cgroup).unwrap(),
        )
    }

    #[test]
    fn hybrid_counts_as_v1() {
        let Layout::V1(hierarchies) = layout(HYBRID_MOUNTINFO, HYBRID_CGROUP).unwrap() else {
            panic!("expected v1");
        };
        assert_eq!(hierarchies.len(), 5);
        let memory = hierarchies
            .iter()
            .find(|h| h.controllers == ["memory"])
            .unwrap();
        assert_eq!(
            memory.own,
            PathBuf::from("/sys/fs/cgroup/memory/process_api/6bb5")
        );
        let cpuacct = hierarchies
            .iter()
            .find(|h| h.controllers == ["cpuacct"])
            .unwrap();
        assert_eq!(cpuacct.own, PathBuf::from("/sys/fs/cgroup/cpuacct"));
    }

    #[test]
    fn comounted_cpu_cpuacct_is_one_hierarchy() {
        let mountinfo =
            "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let Layout::V1(hierarchies) = layout(mountinfo, "2:cpu,cpuacct:/batch\n").unwrap() else {
            panic!("expected v1");
        };
        assert_eq!(hierarchies.len(), 1);
        assert_eq!(hierarchies[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(
            hierarchies[0].own,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/batch")
        );
    }

    #[test]
    fn pure_v2_with_named_systemd_hierarchy() {
        let mountinfo = "\
30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
40 31 0:37 / /run/systemd/x rw - cgroup cgroup rw,name=systemd
";
        let proc_cgroup = "1:name=systemd:/\n0::/user.slice/user-1000.slice/session-2.scope\n";
        let expected = Layout::V2 {
            mount_point: PathBuf::from("/sys/fs/cgroup"),
            own: PathBuf::from("/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"),
        };
        assert_eq!(layout(mountinfo, proc_cgroup).unwrap(), expected);
    }

    #[test]
    fn mount_root_is_stripped() {
        let mountinfo =
            "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let Layout::V1(hierarchies) = layout(mountinfo, "4:memory:/docker/abc/job\n").unwrap()
        else {
            panic!("expected v1");
        };
        assert_eq!(
            hierarchies[0].own,
            PathBuf::from("/sys/fs/cgroup/memory/job")
        );
    }

    #[test]
    fn cgroup_outside_mount_root_is_an_error() {
        let mountinfo =
            "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let error = layout(mountinfo, "4:memory:/other\n").unwrap_err();
        assert!(matches!(error, CgroupError::NotVisible { .. }), "{error}");
    }

    #[test]
    fn nothing_mounted_is_an_error() {
        let error = layout("", "0::/\n").unwrap_err();
        assert!(matches!(error, CgroupError::NoHierarchy), "{error}");
    }
}
