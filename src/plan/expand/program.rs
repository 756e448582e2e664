//! Finding a tool's program as the container will: on the run's own `PATH`, from its
//! working directory, and not below a directory the run sees as hidden.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::container::dirmode::DirMode;
use crate::plan::RunSettings;
use crate::spec::SpecError;
use crate::spec::settings::absolute;

/// Checks that `program` resolves to an executable file for a run with `settings`.
///
/// A program with a `/` is a path relative to the working directory. Any other name is
/// searched on the `PATH` the run will have, which is `env.set.PATH` or else the host's.
pub fn check_program(program: &str, settings: &RunSettings, host_path: Option<&OsString>) -> Result<(), SpecError> {
    if program.contains('/') {
        let path = absolute(&settings.workdir, program);
        if is_visible_executable(&path, settings) {
            return Ok(());
        }
        let searched = format!("at `{}`", path.display());
        return Err(SpecError::ExecutableNotFound { program: program.to_string(), searched });
    }
    let search_path: OsString = match settings.env.set.get("PATH") {
        Some(path) => path.into(),
        None => host_path.cloned().unwrap_or_default(),
    };
    let found = std::env::split_paths(&search_path)
        .filter(|dir| dir.is_absolute())
        .any(|dir| is_visible_executable(&dir.join(program), settings));
    if found {
        return Ok(());
    }
    let searched = format!("on PATH `{}`", search_path.to_string_lossy());
    Err(SpecError::ExecutableNotFound { program: program.to_string(), searched })
}

fn is_visible_executable(path: &Path, settings: &RunSettings) -> bool {
    let executable = std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0);
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
    executable && settings.dirs.mode_of(path) != DirMode::Hidden && settings.dirs.mode_of(&canonical) != DirMode::Hidden
}
