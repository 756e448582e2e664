//! Per-run scratch directories on the host.
//!
//! Each run needs an empty host directory as the mount point of its tmpfs; the tmpfs itself
//! exists only in the container's mount namespace and vanishes with it. The directories are
//! named `<cellrun pid>-<run number>` so that a later cellrun can remove those of a killed one.

use std::path::{Path, PathBuf};

use super::SandboxError;

/// The directory below which runs get their scratch directories.
pub struct ScratchBase {
    base: PathBuf,
}

/// One run's scratch directory; removed with [`ScratchDir::remove`].
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchBase {
    /// Creates the base directory and removes the leftovers of dead cellrun processes.
    /// Each user gets a base directory of their own, because rootless runs cannot write to
    /// root's.
    pub fn open(uid: u32) -> Result<ScratchBase, SandboxError> {
        let name = if uid == 0 { ".cellrun-scratch".to_string() } else { format!(".cellrun-scratch-{uid}") };
        let base = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&base).map_err(|source| SandboxError::Scratch { path: base.clone(), source })?;
        sweep_stale(&base);
        Ok(ScratchBase { base })
    }

    pub fn create_run_dir(&self, number: u64) -> Result<ScratchDir, SandboxError> {
        let path = self.base.join(format!("{}-{number}", std::process::id()));
        std::fs::create_dir(&path).map_err(|source| SandboxError::Scratch { path: path.clone(), source })?;
        Ok(ScratchDir { path })
    }
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory; it is empty on the host because the tmpfs lived only in the
    /// container's mount namespace.
    pub fn remove(self) {
        if let Err(error) = std::fs::remove_dir(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "cannot remove a scratch directory");
        }
    }
}

/// Removes scratch directories whose cellrun process no longer exists.
fn sweep_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.split('-').next()).and_then(|pid| pid.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = std::fs::remove_dir(entry.path());
    }
}
