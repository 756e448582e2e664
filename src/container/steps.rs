//! The mount steps of a container, as data.
//!
//! The steps are computed from the run's directory modes and the host's mount table before
//! the container starts, so `cellrun check` can print them and a failure can name the step.
//! One loop in `setup` executes them in order: parents before children, the special
//! filesystems (`/dev`, `/sys`, `/proc`) last.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dirmode::{DirMode, DirModes};
use super::mountinfo::HostMount;

/// Filesystem types whose mount points are left out unless the job file names them. Their
/// directories appear as the empty mount point of the parent layer, which hides more than
/// asked, never less:
/// - autofs would trigger automounts;
/// - FUSE mounts are unreadable even for root without `allow_other`;
/// - kernel filesystems outside `/proc`, `/sys` and `/dev` (a procfs in a chroot tree, say)
///   cannot be an overlay's lower layer, and a bind would show the host's processes or
///   devices to the run.
fn is_skipped_fs_type(fs_type: &str) -> bool {
    const KERNEL_FS_TYPES: &[&str] = &[
        "proc", "sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs", "mqueue", "debugfs", "tracefs",
        "securityfs", "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "binfmt_misc", "efivarfs",
        "selinuxfs", "nsfs", "rpc_pipefs", "nfsd",
    ];
    fs_type == "autofs" || fs_type == "fuse" || fs_type.starts_with("fuse.") || KERNEL_FS_TYPES.contains(&fs_type)
}

/// Subtrees that get fixed treatment instead of directory modes.
const SPECIAL_SUBTREES: &[&str] = &["/proc", "/sys", "/dev"];

/// One mount operation of the container setup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountStep {
    /// The per-run tmpfs that contains the container's root and every writable layer.
    ScratchTmpfs { target: PathBuf },
    /// A writable view of a host directory whose writes go to an upper layer. When the
    /// kernel refuses the overlay (inside a user namespace it refuses lower directories with
    /// mounts below them, `/` among them), the directory is rebuilt from one overlay per
    /// subdirectory, whose layers go below `split`.
    Overlay { container_path: PathBuf, lower: PathBuf, upper: PathBuf, work: PathBuf, target: PathBuf, split: PathBuf },
    /// A host directory or file bound into the container.
    Bind { container_path: PathBuf, source: PathBuf, target: PathBuf, read_only: bool },
    /// An empty writable directory in the run's tmpfs, bound over a host directory.
    Hidden { container_path: PathBuf, layer: PathBuf, target: PathBuf },
    /// A host subtree bound with every mount below it, all read-only (`/dev`, `/sys`).
    ReadOnlyTree { container_path: PathBuf, source: PathBuf, target: PathBuf },
    /// A fresh procfs of the run's PID namespace.
    Proc { target: PathBuf },
    /// A fresh, empty tmpfs, for POSIX shared memory in `/dev/shm` and `/run/shm`.
    SharedMemory { container_path: PathBuf, target: PathBuf, only_if_present: bool },
}

impl MountStep {
    /// Returns the path inside the container that the step sets up.
    pub fn container_path(&self) -> &Path {
        match self {
            MountStep::ScratchTmpfs { .. } => Path::new("/"),
            MountStep::Overlay { container_path, .. }
            | MountStep::Bind { container_path, .. }
            | MountStep::Hidden { container_path, .. }
            | MountStep::ReadOnlyTree { container_path, .. }
            | MountStep::SharedMemory { container_path, .. } => container_path,
            MountStep::Proc { .. } => Path::new("/proc"),
        }
    }
}

impl fmt::Display for MountStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountStep::ScratchTmpfs { .. } => write!(f, "tmpfs for the writable layers, counted in the run's memory"),
            MountStep::Overlay { container_path, .. } => {
                write!(f, "overlay {}: host contents, writes kept in the upper layer", container_path.display())
            }
            MountStep::Bind { container_path, read_only: true, .. } => {
                write!(f, "read-only bind {}", container_path.display())
            }
            MountStep::Bind { container_path, read_only: false, .. } => {
                write!(f, "full-access bind {}: writes land on the host", container_path.display())
            }
            MountStep::Hidden { container_path, .. } => {
                write!(f, "hidden {}: empty directory, writes kept in the container", container_path.display())
            }
            MountStep::ReadOnlyTree { container_path, .. } => {
                write!(f, "read-only bind {} with every mount below it", container_path.display())
            }
            MountStep::Proc { .. } => write!(f, "fresh /proc of the run's PID namespace"),
            MountStep::SharedMemory { container_path, .. } => {
                write!(f, "fresh tmpfs {} for POSIX shared memory", container_path.display())
            }
        }
    }
}

/// A writable layer of the container and where its files appear inside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritableLayer {
    /// The layer's directory, as a path in the mount namespace of the container's init.
    pub dir: PathBuf,
    /// The container path that the layer's top directory corresponds to.
    pub container_path: PathBuf,
}

/// Every mount step of one container, and the writable layers they create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPlan {
    pub root: PathBuf,
    pub steps: Vec<MountStep>,
    pub layers: Vec<WritableLayer>,
}

/// Computes the mount steps for `dirs` over the host mounts, with the run's tmpfs at `scratch`.
pub fn plan_mounts(dirs: &DirModes, host_mounts: &[HostMount], scratch: &Path) -> MountPlan {
    let root = scratch.join("root");
    let mut plan = MountPlan { root: root.clone(), steps: vec![MountStep::ScratchTmpfs { target: scratch.to_path_buf() }], layers: Vec::new() };

    let configured: BTreeSet<PathBuf> = dirs.iter().map(|(path, _)| path.to_path_buf()).collect();
    let mut hidden_nodes: Vec<PathBuf> = Vec::new();
    for node in collect_nodes(dirs, host_mounts, scratch) {
        let below_hidden = hidden_nodes.iter().any(|hidden| node.starts_with(hidden) && &node != hidden);
        if below_hidden && !configured.contains(&node) {
            continue;
        }
        let mode = dirs.mode_of(&node);
        if mode == DirMode::Hidden {
            hidden_nodes.push(node.clone());
        }
        plan_node(&mut plan, scratch, &node, mode);
    }

    plan_special_filesystems(&mut plan);
    plan
}

/// Collects the paths that need their own step: configured directories and host mount
/// points, without the special subtrees and the scratch directory, parents first.
fn collect_nodes(dirs: &DirModes, host_mounts: &[HostMount], scratch: &Path) -> BTreeSet<PathBuf> {
    let mut nodes: BTreeSet<PathBuf> = dirs.iter().map(|(path, _)| path.to_path_buf()).collect();
    nodes.insert(PathBuf::from("/"));
    for mount in host_mounts {
        if is_skipped_fs_type(&mount.fs_type) {
            continue;
        }
        nodes.insert(mount.mount_point.clone());
    }
    nodes.retain(|node| {
        let special = SPECIAL_SUBTREES.iter().any(|special| node.starts_with(special));
        !special && !node.starts_with(scratch)
    });
    nodes
}

fn plan_node(plan: &mut MountPlan, scratch: &Path, node: &Path, mode: DirMode) {
    let target = under(&plan.root, node);
    let layer_index = plan.steps.len();
    let layer = scratch.join("layers").join(layer_index.to_string());
    let is_dir = std::fs::metadata(node).map(|meta| meta.is_dir()).unwrap_or(true);
    let container_path = node.to_path_buf();

    let step = match (mode, is_dir) {
        (DirMode::Overlay, true) => {
            let upper = layer.join("upper");
            plan.layers.push(WritableLayer { dir: upper.clone(), container_path: container_path.clone() });
            let split = layer.join("split");
            plan.layers.push(WritableLayer { dir: split.join("upper"), container_path: container_path.clone() });
            MountStep::Overlay { container_path, lower: node.to_path_buf(), upper, work: layer.join("work"), target, split }
        }
        (DirMode::Hidden, true) => {
            let hidden = layer.join("hidden");
            plan.layers.push(WritableLayer { dir: hidden.clone(), container_path: container_path.clone() });
            MountStep::Hidden { container_path, layer: hidden, target }
        }
        (DirMode::Hidden, false) => return,
        (DirMode::ReadOnly, _) | (DirMode::Overlay, false) => {
            MountStep::Bind { container_path, source: node.to_path_buf(), target, read_only: true }
        }
        (DirMode::FullAccess, _) => MountStep::Bind { container_path, source: node.to_path_buf(), target, read_only: false },
    };
    plan.steps.push(step);
}

fn plan_special_filesystems(plan: &mut MountPlan) {
    let root = plan.root.clone();
    for tree in ["/sys", "/dev"] {
        let path = PathBuf::from(tree);
        plan.steps.push(MountStep::ReadOnlyTree { target: under(&root, &path), source: path.clone(), container_path: path });
    }
    for (path, only_if_present) in [("/dev/shm", false), ("/run/shm", true)] {
        let path = PathBuf::from(path);
        plan.steps.push(MountStep::SharedMemory { target: under(&root, &path), container_path: path, only_if_present });
    }
    plan.steps.push(MountStep::Proc { target: root.join("proc") });
}

/// Joins an absolute container path below `root`.
pub fn under(root: &Path, container_path: &Path) -> PathBuf {
    match container_path.strip_prefix("/") {
        Ok(relative) if relative.as_os_str().is_empty() => root.to_path_buf(),
        Ok(relative) => root.join(relative),
        Err(_) => root.join(container_path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(path: &str, fs_type: &str) -> HostMount {
        HostMount { mount_point: PathBuf::from(path), fs_type: fs_type.to_string() }
    }

    fn paths_of(plan: &MountPlan) -> Vec<String> {
        plan.steps.iter().map(|step| step.container_path().display().to_string()).collect()
    }

    #[test]
    fn default_modes_overlay_root_hide_tmp() {
        let mounts = [mount("/", "ext4"), mount("/proc", "proc"), mount("/home", "ext4")];
        let plan = plan_mounts(&DirModes::default(), &mounts, Path::new("/scratch/1"));
        assert_eq!(paths_of(&plan), ["/", "/", "/home", "/run", "/tmp", "/sys", "/dev", "/dev/shm", "/run/shm", "/proc"]);
        assert!(matches!(plan.steps[1], MountStep::Overlay { .. }));
        assert!(matches!(plan.steps[2], MountStep::Overlay { .. }));
        assert!(matches!(plan.steps[3], MountStep::Hidden { .. }));
        assert_eq!(plan.layers.len(), 6, "each overlay has a second layer for its split form");
    }

    #[test]
    fn mounts_below_hidden_dir_are_skipped() {
        let mounts = [mount("/", "ext4"), mount("/tmp/fakeroot/proc", "proc"), mount("/tmp/fakeroot/dev", "tmpfs")];
        let plan = plan_mounts(&DirModes::default(), &mounts, Path::new("/scratch/1"));
        assert!(!paths_of(&plan).iter().any(|path| path.starts_with("/tmp/fakeroot")));
    }

    #[test]
    fn configured_dir_below_hidden_dir_is_kept() {
        let mut dirs = DirModes::default();
        dirs.set(PathBuf::from("/tmp/keep"), DirMode::ReadOnly);
        let plan = plan_mounts(&dirs, &[mount("/", "ext4")], Path::new("/scratch/1"));
        assert!(paths_of(&plan).contains(&"/tmp/keep".to_string()));
    }

    #[test]
    fn scratch_and_autofs_are_left_out() {
        let mounts = [
            mount("/", "ext4"),
            mount("/net", "autofs"),
            mount("/home/u/remote", "fuse.sshfs"),
            mount("/var/tmp/.cellrun-1/2", "tmpfs"),
        ];
        let plan = plan_mounts(&DirModes::default(), &mounts, Path::new("/var/tmp/.cellrun-1/2"));
        let paths = paths_of(&plan);
        assert!(!paths.contains(&"/net".to_string()));
        assert!(!paths.contains(&"/home/u/remote".to_string()));
        assert!(!paths.iter().any(|path| path.starts_with("/var/tmp")));
    }

    #[test]
    fn kernel_fs_below_overlay_left_out() {
        let mounts = [mount("/", "ext4"), mount("/srv/chroot/proc", "proc"), mount("/srv/chroot/dev/pts", "devpts")];
        let plan = plan_mounts(&DirModes::default(), &mounts, Path::new("/scratch/1"));
        assert!(!paths_of(&plan).iter().any(|path| path.starts_with("/srv/chroot")));
    }

    #[test]
    fn configured_pseudo_fs_keeps_overlay() {
        let mut dirs = DirModes::default();
        dirs.set(PathBuf::from("/srv/chroot/proc"), DirMode::Overlay);
        let plan = plan_mounts(&dirs, &[mount("/", "ext4"), mount("/srv/chroot/proc", "proc")], Path::new("/scratch/1"));
        let step = plan.steps.iter().find(|step| step.container_path() == Path::new("/srv/chroot/proc")).unwrap();
        assert!(matches!(step, MountStep::Overlay { .. }));
    }

    #[test]
    fn read_only_and_full_access_are_binds() {
        let mut dirs = DirModes::empty();
        dirs.set(PathBuf::from("/"), DirMode::ReadOnly);
        dirs.set(PathBuf::from("/srv"), DirMode::FullAccess);
        let plan = plan_mounts(&dirs, &[mount("/", "ext4")], Path::new("/scratch/1"));
        assert!(matches!(&plan.steps[1], MountStep::Bind { read_only: true, .. }));
        assert!(matches!(&plan.steps[2], MountStep::Bind { read_only: false, .. }));
        assert!(plan.layers.is_empty());
    }
}
