//! Directory modes: how each part of the host's file tree appears inside a container.
//!
//! A mode applies to its directory and everything below it, including every mount point
//! below, until a deeper directory names another mode. The meanings follow BenchExec's:
//! - `hidden`: an empty, writable directory; writes stay in the container.
//! - `read_only`: the host contents, not writable.
//! - `overlay`: the host contents, writable; writes stay in the container's upper layer.
//! - `full_access`: the host directory itself; writes land on the host.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One directory mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DirMode {
    Hidden,
    ReadOnly,
    Overlay,
    FullAccess,
}

impl DirMode {
    /// Returns the key that names this mode in job files.
    pub fn key(self) -> &'static str {
        match self {
            DirMode::Hidden => "hidden",
            DirMode::ReadOnly => "read_only",
            DirMode::Overlay => "overlay",
            DirMode::FullAccess => "full_access",
        }
    }

    /// Tells whether files written under a directory in this mode stay in the container's
    /// writable layer, where result files are collected from.
    pub fn keeps_writes_in_container(self) -> bool {
        matches!(self, DirMode::Hidden | DirMode::Overlay)
    }
}

impl fmt::Display for DirMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The directory modes of a run: absolute, normalized paths mapped to their mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirModes {
    modes: BTreeMap<PathBuf, DirMode>,
}

impl Default for DirModes {
    /// Overlay `/`, hide `/tmp` and `/run`: the defaults of `runexec --container`.
    fn default() -> Self {
        let mut modes = BTreeMap::new();
        modes.insert(PathBuf::from("/"), DirMode::Overlay);
        modes.insert(PathBuf::from("/tmp"), DirMode::Hidden);
        modes.insert(PathBuf::from("/run"), DirMode::Hidden);
        DirModes { modes }
    }
}

impl DirModes {
    /// Creates an empty set; [`DirModes::mode_of`] then treats `/` as overlay.
    pub fn empty() -> Self {
        DirModes { modes: BTreeMap::new() }
    }

    /// Sets the mode of `path`, replacing any mode it had. `path` must be absolute.
    pub fn set(&mut self, path: PathBuf, mode: DirMode) {
        debug_assert!(path.is_absolute(), "dir mode path must be absolute: {}", path.display());
        self.modes.insert(normalize(&path), mode);
    }

    /// Removes the mode set for exactly `path`, if any.
    pub fn remove(&mut self, path: &Path) {
        self.modes.remove(&normalize(path));
    }

    /// Returns the mode in force at `path`: the mode of its closest configured ancestor (or itself).
    /// `/` counts as overlay when no mode is set for it.
    pub fn mode_of(&self, path: &Path) -> DirMode {
        let mut current = Some(path);
        while let Some(candidate) = current {
            if let Some(mode) = self.modes.get(candidate) {
                return *mode;
            }
            current = candidate.parent();
        }
        DirMode::Overlay
    }

    /// Iterates over the configured paths in lexical order, so parents come before children.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, DirMode)> {
        self.modes.iter().map(|(path, mode)| (path.as_path(), *mode))
    }
}

/// Removes `.` components and trailing slashes; `..` is kept as the caller gave it.
pub fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_ancestor_wins() {
        let mut modes = DirModes::default();
        modes.set(PathBuf::from("/home/user/out"), DirMode::FullAccess);
        assert_eq!(modes.mode_of(Path::new("/home/user/out/x")), DirMode::FullAccess);
        assert_eq!(modes.mode_of(Path::new("/home/user")), DirMode::Overlay);
        assert_eq!(modes.mode_of(Path::new("/tmp/a/b")), DirMode::Hidden);
        assert_eq!(modes.mode_of(Path::new("/")), DirMode::Overlay);
    }

    #[test]
    fn trailing_slash_normalized() {
        let mut modes = DirModes::empty();
        modes.set(PathBuf::from("/srv/data/"), DirMode::ReadOnly);
        assert_eq!(modes.mode_of(Path::new("/srv/data")), DirMode::ReadOnly);
    }
}
