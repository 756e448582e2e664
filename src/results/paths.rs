//! Where a run's log and result files live inside the result directory.
//!
//! Run ids contain `/` (for example `cadical/pigeonhole/php-8-7.cnf`), and each `/` becomes a
//! subdirectory. An id must never name a file outside the result directory, so each component
//! is encoded: `%` becomes `%25` and NUL becomes `%00`; a component that is empty, `.` or `..`
//! has its dots written as `%2E` and an empty one becomes `%`. Ids without those characters
//! keep their readable form.

use std::path::PathBuf;

/// Encodes a run id as a path relative to `logs/` or `files/`, with no component that can
/// leave the directory it is joined to.
pub fn relative_path(run_id: &str) -> PathBuf {
    run_id.split('/').map(encode_component).collect()
}

/// Returns the log file of a run, relative to the result directory.
pub fn log_path(run_id: &str) -> PathBuf {
    let mut path = PathBuf::from("logs").join(relative_path(run_id));
    let mut name = path.file_name().expect("an encoded component is never empty").to_os_string();
    name.push(".log");
    path.set_file_name(name);
    path
}

/// Returns the directory of a run's result files, relative to the result directory.
pub fn files_dir(run_id: &str) -> PathBuf {
    PathBuf::from("files").join(relative_path(run_id))
}

fn encode_component(component: &str) -> String {
    match component {
        "" => "%".to_string(),
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => component.replace('%', "%25").replace('\0', "%00"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path};

    use super::*;

    fn stays_inside(path: &Path) -> bool {
        path.components().all(|component| matches!(component, Component::Normal(_)))
    }

    #[test]
    fn plain_id_keeps_its_form() {
        assert_eq!(log_path("cadical/sat/php-8-7.cnf"), Path::new("logs/cadical/sat/php-8-7.cnf.log"));
        assert_eq!(files_dir("cadical/sat/php-8-7.cnf"), Path::new("files/cadical/sat/php-8-7.cnf"));
    }

    #[test]
    fn hostile_ids_stay_inside() {
        for id in ["../../etc/passwd", "/etc/passwd", "a//b", ".", "..", "a/./b", "a/../..", "", "x\0y"] {
            let path = relative_path(id);
            assert!(stays_inside(&path), "{id:?} became {path:?}");
            assert!(stays_inside(&log_path(id)), "{id:?} log path escapes");
        }
    }

    #[test]
    fn encoding_is_unambiguous() {
        assert_ne!(relative_path(".."), relative_path("%2E%2E"));
        assert_ne!(relative_path(""), relative_path("%"));
        assert_eq!(relative_path("%2E%2E"), Path::new("%252E%252E"));
    }

    #[test]
    fn odd_characters_kept_readable() {
        let id = "comma,quote\"and newline\nname";
        assert_eq!(relative_path(id), Path::new(id));
    }
}
