//! Names of the cgroups cellrun creates.

use std::sync::atomic::{AtomicU64, Ordering};

/// Maximum number of characters of a run name kept in its cgroup name. It keeps the name
/// short enough to read in `systemd-cgls` and far below the 255-byte limit of a file name.
const MAX_RUN_NAME_CHARS: usize = 40;

/// Numbers the run cgroups of this process; shared by every `Cgroups` value because they all
/// create their runs in the same `cellrun-<pid>` cgroup.
static RUN_COUNTER: AtomicU64 = AtomicU64::new(1);

pub const PARENT_PREFIX: &str = "cellrun-";

/// Returns `cellrun-<pid>`, the cgroup that contains all runs of this process.
pub fn parent_name() -> String {
    format!("{PARENT_PREFIX}{}", std::process::id())
}

/// Returns a new, unique name for the cgroup of the run `run_name`: a counter, a dash and
/// the run name with every character outside `[A-Za-z0-9_.-]` replaced by `_`.
///
/// The leading digit keeps the name apart from control files (`memory.max`) and from `.`
/// and `..`.
pub fn run_cgroup_name(run_name: &str) -> String {
    let number = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{number}-{}", sanitize(run_name))
}

fn sanitize(run_name: &str) -> String {
    let cleaned: String = run_name
        .chars()
        .take(MAX_RUN_NAME_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "run".to_string()
    } else {
        cleaned
    }
}

/// Returns the pid in a `cellrun-<pid>` name.
pub fn parent_pid(name: &str) -> Option<i32> {
    name.strip_prefix(PARENT_PREFIX)?
        .parse()
        .ok()
        .filter(|pid| *pid > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_name_sanitized_and_numbered() {
        let name = run_cgroup_name("sat/foo bar.c:42");
        let (number, rest) = name.split_once('-').unwrap();
        assert!(number.parse::<u64>().is_ok(), "{name}");
        assert_eq!(rest, "sat_foo_bar.c_42");
    }

    #[test]
    fn run_names_unique() {
        assert_ne!(run_cgroup_name("same"), run_cgroup_name("same"));
    }

    #[test]
    fn run_name_short_and_never_dots_only() {
        let long = "x".repeat(300);
        assert!(run_cgroup_name(&long).len() <= MAX_RUN_NAME_CHARS + 21);
        assert!(
            run_cgroup_name("..")
                .chars()
                .next()
                .unwrap()
                .is_ascii_digit()
        );
        assert!(run_cgroup_name("").ends_with("-run"));
    }

    #[test]
    fn parent_pid_parsed() {
        assert_eq!(parent_pid("cellrun-123"), Some(123));
        assert_eq!(parent_pid("cellrun-x"), None);
        assert_eq!(parent_pid("cellrun-0"), None);
        assert_eq!(parent_pid("other-123"), None);
    }
}
