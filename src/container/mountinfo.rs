//! The host's mount table, read from `/proc/self/mountinfo`.
//!
//! Directory modes apply to every mount point below a directory, and overlayfs and bind
//! mounts are not recursive, so the container needs the list of host mount points.

use std::path::{Path, PathBuf};

/// One mounted filesystem of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMount {
    pub mount_point: PathBuf,
    pub fs_type: String,
}

/// Reads the mount table of the calling process.
pub fn read_host_mounts() -> std::io::Result<Vec<HostMount>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(parse_mountinfo(&text))
}

/// Parses mountinfo text; malformed lines are skipped because the kernel writes the file.
pub fn parse_mountinfo(text: &str) -> Vec<HostMount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<HostMount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let mount_point = fields.get(4)?;
    let separator = fields.iter().position(|field| *field == "-")?;
    let fs_type = fields.get(separator + 1)?;
    Some(HostMount { mount_point: PathBuf::from(unescape(mount_point)), fs_type: fs_type.to_string() })
}

/// Decodes the octal escapes (`\040` for a space) that mountinfo uses in paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = &bytes[index..];
        if escape.len() >= 4 && escape[0] == b'\\' && escape[1..4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let value = (escape[1] - b'0') * 64 + (escape[2] - b'0') * 8 + (escape[3] - b'0');
            out.push(value);
            index += 4;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Tells whether `path` lies at or below `ancestor`.
pub fn is_at_or_below(path: &Path, ancestor: &Path) -> bool {
    path.starts_with(ancestor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_escapes() {
        let text = "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                    30 22 0:25 / /mnt/with\\040space rw - tmpfs tmpfs rw\n\
                    31 22 0:26 / /sys/fs/cgroup/memory rw shared:9 master:2 - cgroup cgroup rw,memory\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/"));
        assert_eq!(mounts[0].fs_type, "ext4");
        assert_eq!(mounts[1].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(mounts[2].fs_type, "cgroup");
    }

    #[test]
    fn skips_malformed_lines() {
        assert!(parse_mountinfo("garbage\n").is_empty());
    }
}
