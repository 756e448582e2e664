//! File patterns of task sets, expanded against the file system.
//!
//! A pattern is split into its literal leading directories and the rest; only the directory
//! named by the literal part is walked, so `cnf/php-*.cnf` reads one directory, not the whole
//! job tree. `*` and `?` stay within one path component, `**` crosses directories. Only
//! files match, and results are sorted so expansion is deterministic.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use walkdir::WalkDir;

use crate::spec::SpecError;

/// A compiled pattern, relative to a base directory unless absolute.
pub struct Pattern {
    root: PathBuf,
    rest: Option<(GlobMatcher, usize)>,
}

fn is_literal(component: &str) -> bool {
    !component.contains(['*', '?', '[', '{'])
}

impl Pattern {
    pub fn new(base: &Path, pattern: &str) -> Result<Pattern, SpecError> {
        let full = base.join(pattern);
        let mut root = PathBuf::new();
        let mut rest: Vec<String> = Vec::new();
        for component in full.components() {
            let text = component.as_os_str().to_string_lossy();
            if rest.is_empty() && is_literal(&text) {
                match component {
                    Component::ParentDir => {
                        root.pop();
                    }
                    Component::CurDir => {}
                    other => root.push(other),
                }
            } else {
                rest.push(text.into_owned());
            }
        }
        if rest.is_empty() {
            return Ok(Pattern { root, rest: None });
        }
        let joined = rest.join("/");
        let depth = if joined.contains("**") { usize::MAX } else { rest.len() };
        let glob = GlobBuilder::new(&joined).literal_separator(true).build().map_err(|error| {
            SpecError::InvalidGlob { pattern: pattern.to_string(), reason: error.kind().to_string() }
        })?;
        Ok(Pattern { root, rest: Some((glob.compile_matcher(), depth)) })
    }

    /// Lists the files the pattern matches, sorted; absolute when `base` is.
    pub fn files(&self) -> Vec<PathBuf> {
        let Some((matcher, depth)) = &self.rest else {
            return if self.root.is_file() { vec![self.root.clone()] } else { Vec::new() };
        };
        let mut files: Vec<PathBuf> = WalkDir::new(&self.root)
            .follow_links(true)
            .min_depth(1)
            .max_depth(*depth)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file())
            .filter(|entry| entry.path().strip_prefix(&self.root).is_ok_and(|relative| matcher.is_match(relative)))
            .map(walkdir::DirEntry::into_path)
            .collect();
        files.sort();
        files
    }

    /// Tells whether `path` (absolute, or relative to the same base) matches the pattern.
    pub fn matches(&self, path: &Path) -> bool {
        match (&self.rest, path.strip_prefix(&self.root)) {
            (None, _) => path == self.root,
            (Some((matcher, _)), Ok(relative)) => matcher.is_match(relative),
            (Some(_), Err(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in ["cnf/php-1.cnf", "cnf/php-2.cnf", "cnf/deep/php-3.cnf", "cnf/other.txt"] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    fn names(dir: &Path, pattern: &str) -> Vec<String> {
        let files = Pattern::new(dir, pattern).unwrap().files();
        files.iter().map(|file| file.strip_prefix(dir).unwrap().display().to_string()).collect()
    }

    #[test]
    fn star_stays_in_one_directory() {
        let dir = tree();
        assert_eq!(names(dir.path(), "cnf/php-*.cnf"), ["cnf/php-1.cnf", "cnf/php-2.cnf"]);
    }

    #[test]
    fn double_star_crosses_directories() {
        let dir = tree();
        assert_eq!(names(dir.path(), "cnf/**/*.cnf").len(), 3);
    }

    #[test]
    fn literal_path_and_missing_file() {
        let dir = tree();
        assert_eq!(names(dir.path(), "./cnf/other.txt"), ["cnf/other.txt"]);
        assert!(names(dir.path(), "cnf/none.txt").is_empty());
        assert!(names(dir.path(), "nodir/*.cnf").is_empty());
    }

    #[test]
    fn matches_for_exclusion() {
        let dir = tree();
        let pattern = Pattern::new(dir.path(), "cnf/php-2*").unwrap();
        assert!(pattern.matches(&dir.path().join("cnf/php-2.cnf")));
        assert!(!pattern.matches(&dir.path().join("cnf/php-1.cnf")));
    }

    #[test]
    fn invalid_pattern_rejected() {
        assert!(matches!(Pattern::new(Path::new("/"), "cnf/[a.cnf"), Err(SpecError::InvalidGlob { .. })));
    }
}
