//! Parsers for the text files of procfs and cgroupfs that the cgroup module reads.
//!
//! They take the file's content and return `None` or an expectation string on malformed
//! input, so that the caller can name the file in its error.

use std::path::PathBuf;

/// One line of `/proc/self/mountinfo`, reduced to what cgroup detection needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// The path inside the mounted filesystem that appears at `mount_point`.
    pub root: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// Per-superblock options; for cgroup v1 they name the controllers (`rw,cpu,cpuacct`).
    pub super_options: Vec<String>,
}

/// Parses `/proc/self/mountinfo`, skipping lines that do not have the documented shape.
///
/// Format (proc(5)): `id parent major:minor root mount_point options [optional...] - fs_type
/// source super_options`.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountEntry> {
    let (before, after) = line.split_once(" - ")?;
    let before: Vec<&str> = before.split(' ').collect();
    let after: Vec<&str> = after.split(' ').collect();
    if before.len() < 6 || after.len() < 3 {
        return None;
    }
    Some(MountEntry {
        root: unescape_octal(before[3]),
        mount_point: PathBuf::from(unescape_octal(before[4])),
        fs_type: after[0].to_string(),
        super_options: after[2].split(',').map(str::to_string).collect(),
    })
}

/// Decodes the `\040`-style escapes the kernel uses for space, tab, newline and backslash.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 4).filter(|digits| {
            bytes[i] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        match escape {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, digit| acc * 8 + u32::from(digit - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcCgroupEntry {
    pub hierarchy_id: u32,
    /// Empty for the cgroup v2 line (`0::/path`); may contain `name=systemd` on v1.
    pub controllers: Vec<String>,
    pub path: String,
}

/// Parses `/proc/self/cgroup`; `None` if a line does not have three fields.
pub fn parse_proc_cgroup(text: &str) -> Option<Vec<ProcCgroupEntry>> {
    let mut entries = Vec::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let mut fields = line.splitn(3, ':');
        let hierarchy_id = fields.next()?.parse().ok()?;
        let controllers = fields.next()?;
        let path = fields.next()?;
        entries.push(ProcCgroupEntry {
            hierarchy_id,
            controllers: controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            path: path.to_string(),
        });
    }
    Some(entries)
}

/// Parses a cpuset list such as `0-3,8,10-11`; the empty string is the empty set.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let text = text.trim();
    let mut ids = Vec::new();
    if text.is_empty() {
        return Some(ids);
    }
    for part in text.split(',') {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
                if first > last {
                    return None;
                }
                ids.extend(first..=last);
            }
            None => ids.push(part.parse().ok()?),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

/// Formats ids as a cpuset list, joining consecutive ids into ranges (`0-3,8`).
pub fn format_cpu_list(ids: &[usize]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();

    let mut parts = Vec::new();
    let mut index = 0;
    while index < sorted.len() {
        let first = sorted[index];
        let mut last = first;
        while index + 1 < sorted.len() && sorted[index + 1] == last + 1 {
            index += 1;
            last = sorted[index];
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
        index += 1;
    }
    parts.join(",")
}

/// Returns the value of `key` in a flat keyed file (`key value` per line), as in `cpu.stat`,
/// `memory.events` and `memory.oom_control`.
pub fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        if name == key {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

/// Parses a cgroup v2 limit: `max` is no limit.
pub fn parse_v2_limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        number => number.parse().ok().map(Some),
    }
}

/// Smallest cgroup v1 memory limit taken as "unlimited": the kernel reports no limit as
/// `PAGE_COUNTER_MAX` times the page size, which is just below 2^63 with 4 KiB pages.
const V1_UNLIMITED_FROM: u64 = 1 << 62;

/// Parses a cgroup v1 `memory.limit_in_bytes`; a value near 2^63 is no limit.
pub fn parse_v1_memory_limit(text: &str) -> Option<Option<u64>> {
    let value: u64 = text.trim().parse().ok()?;
    Some(if value >= V1_UNLIMITED_FROM {
        None
    } else {
        Some(value)
    })
}

/// Parses a list of pids, one per line, as in `cgroup.procs`.
pub fn parse_pids(text: &str) -> Option<Vec<i32>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_cgroup_v1_and_v2_lines() {
        let text = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";
        let entries = parse_mountinfo(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[1].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(entries[1].fs_type, "cgroup");
        assert_eq!(entries[1].super_options, ["rw", "cpu", "cpuacct"]);
        assert_eq!(entries[2].fs_type, "cgroup2");
    }

    #[test]
    fn mountinfo_root_and_escaped_mount_point() {
        let line = "50 31 0:32 /docker/abc /sys/fs/my\\040cgroups rw - cgroup cgroup rw,memory";
        let entries = parse_mountinfo(line);
        assert_eq!(entries[0].root, "/docker/abc");
        assert_eq!(entries[0].mount_point, PathBuf::from("/sys/fs/my cgroups"));
    }

    #[test]
    fn mountinfo_skips_malformed_lines() {
        assert!(parse_mountinfo("garbage line\n1 2 3\n").is_empty());
    }

    #[test]
    fn proc_cgroup_v1_and_v2() {
        let text =
            "9:name=systemd:/\n4:memory:/process_api/6bb5\n1:cpu,cpuacct:/\n0::/user.slice\n";
        let entries = parse_proc_cgroup(text).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].controllers, ["memory"]);
        assert_eq!(entries[1].path, "/process_api/6bb5");
        assert_eq!(entries[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!(entries[3].hierarchy_id, 0);
        assert!(entries[3].controllers.is_empty());
        assert_eq!(entries[3].path, "/user.slice");
    }

    #[test]
    fn proc_cgroup_path_with_colon() {
        let entries = parse_proc_cgroup("0::/a:b\n").unwrap();
        assert_eq!(entries[0].path, "/a:b");
    }

    #[test]
    fn proc_cgroup_rejects_short_line() {
        assert_eq!(parse_proc_cgroup("4:memory\n"), None);
    }

    #[test]
    fn cpu_list_ranges_and_singles() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
    }

    #[test]
    fn cpu_list_rejects_garbage() {
        assert_eq!(parse_cpu_list("0-x"), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("1,,2"), None);
    }

    #[test]
    fn cpu_list_format_round_trip() {
        assert_eq!(format_cpu_list(&[11, 0, 1, 2, 3, 8, 10]), "0-3,8,10-11");
        assert_eq!(format_cpu_list(&[4]), "4");
        assert_eq!(format_cpu_list(&[]), "");
    }

    #[test]
    fn cpu_stat_usage() {
        let text = "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 0\n";
        assert_eq!(keyed_value(text, "usage_usec"), Some(1_234_567));
        assert_eq!(keyed_value(text, "missing"), None);
    }

    #[test]
    fn oom_control_kill_counter() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(3));
        assert_eq!(keyed_value(text, "oom_kill_disable"), Some(0));
    }

    #[test]
    fn memory_events_oom_kill_not_oom() {
        let text = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(1));
        assert_eq!(keyed_value(text, "oom"), Some(2));
    }

    #[test]
    fn limits_v1_and_v2() {
        assert_eq!(parse_v2_limit("max\n"), Some(None));
        assert_eq!(parse_v2_limit("1048576\n"), Some(Some(1_048_576)));
        assert_eq!(parse_v2_limit("lots"), None);
        assert_eq!(parse_v1_memory_limit("9223372036854771712\n"), Some(None));
        assert_eq!(
            parse_v1_memory_limit("104857600\n"),
            Some(Some(104_857_600))
        );
    }

    #[test]
    fn pids_list() {
        assert_eq!(parse_pids("12\n345\n"), Some(vec![12, 345]));
        assert_eq!(parse_pids(""), Some(vec![]));
        assert_eq!(parse_pids("12\nx\n"), None);
    }
}
