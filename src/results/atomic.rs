//! Replacing a file so that readers and crashes see the old or the new contents, never a mix.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::ResultsError;

/// Writes `contents` to a temporary file beside `path`, flushes it and renames it over `path`.
///
/// The temporary name is fixed (`.NAME.tmp`), so a process killed halfway leaves at most one
/// stale temporary file, which the next write replaces.
pub fn write(path: &Path, contents: &[u8]) -> Result<(), ResultsError> {
    write_with(path, |file| file.write_all(contents))
}

/// Like [`write`], with the contents produced by `fill`.
pub fn write_with(path: &Path, fill: impl FnOnce(&mut File) -> std::io::Result<()>) -> Result<(), ResultsError> {
    let temp = temp_path(path);
    let error = |source| ResultsError::Write { path: path.to_path_buf(), source };

    let mut file = File::create(&temp).map_err(error)?;
    fill(&mut file).map_err(error)?;
    file.sync_data().map_err(error)?;
    drop(file);

    std::fs::rename(&temp, path).map_err(error)?;
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        File::open(parent).and_then(|dir| dir.sync_all()).map_err(error)?;
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().expect("atomic writes target a file"));
    name.push(".tmp");
    path.with_file_name(name)
}
