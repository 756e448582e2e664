//! Which characters names and task paths may use.
//!
//! Names of tools, configs, task sets and commands become parts of run ids and of paths in
//! the result directory, so they stay within a set that is safe in both: letters, digits,
//! `_`, `-` and `.`. Task paths come from the file system and may use any UTF-8 text except
//! control characters, which would break the one-line-per-run listings.

use super::error::SpecError;

/// Checks a tool, config, task-set or command name; `kind` names the thing in the error.
pub fn check_name(kind: &'static str, name: &str) -> Result<(), SpecError> {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || !name.chars().all(allowed) || name == "." || name == ".." {
        return Err(SpecError::InvalidName { kind, name: name.to_string() });
    }
    Ok(())
}

/// Checks a task path, which becomes the last part of a run id.
pub fn check_task_path(path: &str) -> Result<(), SpecError> {
    if path.chars().any(char::is_control) {
        return Err(SpecError::InvalidTaskPath { path: path.to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_safe_characters() {
        for name in ["cadical", "no-elim", "v1.2_3", "Grüße"] {
            assert_eq!(check_name("tool", name), Ok(()));
        }
    }

    #[test]
    fn names_reject_slash_space_and_dots() {
        for name in ["a/b", "a b", "", "..", "x{y}"] {
            assert!(check_name("tool", name).is_err(), "{name} accepted");
        }
    }

    #[test]
    fn task_paths_reject_control_characters() {
        assert_eq!(check_task_path("cnf/ä b.cnf"), Ok(()));
        assert!(check_task_path("cnf/a\nb.cnf").is_err());
    }
}
