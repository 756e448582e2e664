//! Executes a mount plan inside the container's new mount namespace.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use thiserror::Error;

use super::steps::{MountPlan, MountStep};
use super::syscalls;

/// A mount step that failed, with the directory, the errno and what the user can do.
#[derive(Debug, Error)]
#[error("cannot set up {container_path} ({step}): {operation} failed: {errno}{hint}")]
pub struct SetupError {
    pub container_path: PathBuf,
    pub step: String,
    pub operation: &'static str,
    pub errno: String,
    pub hint: String,
}

/// Runs every step of `plan` in order; stops at the first failure.
///
/// With `split_refused_overlays`, a directory whose overlay the kernel rejects is rebuilt
/// from one overlay per subdirectory. Rootless containers need this because the kernel
/// rejects every lower directory with mounts below it there. As root a rejected overlay is
/// an error.
pub fn execute_plan(plan: &MountPlan, tmpfs_size: Option<u64>, split_refused_overlays: bool) -> Result<(), SetupError> {
    make_everything_private().map_err(|errno| failure_of(&plan.steps[0], "making mounts private", errno))?;
    for step in &plan.steps {
        execute_step(step, &plan.root, tmpfs_size, split_refused_overlays)?;
    }
    Ok(())
}

fn make_everything_private() -> nix::Result<()> {
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
}

fn execute_step(step: &MountStep, root: &Path, tmpfs_size: Option<u64>, split_refused_overlays: bool) -> Result<(), SetupError> {
    let fail = |operation: &'static str| move |errno: nix::Error| failure_of(step, operation, errno);
    match step {
        MountStep::ScratchTmpfs { target } => {
            let options = match tmpfs_size {
                Some(bytes) => format!("mode=0700,size={bytes}"),
                None => "mode=0700".to_string(),
            };
            mount(Some("tmpfs"), target, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(options.as_str()))
                .map_err(fail("mounting tmpfs"))?;
            create_dir(root).map_err(fail("creating the root directory"))?;
        }
        MountStep::Overlay { lower, upper, work, target, split, .. } => {
            ensure_target(target, true).map_err(fail("creating the mount point"))?;
            let refused = match mount_overlay(lower, upper, work, target) {
                Ok(()) => return Ok(()),
                Err(errno) if !split_refused_overlays => return Err(failure_of(step, "mounting overlayfs", errno)),
                Err(errno) => errno,
            };
            // Split the directory instead, so that the view stays the same.
            tracing::debug!(path = %lower.display(), %refused, "overlay rejected by the kernel, mounting one overlay per subdirectory");
            mount(Some(target), target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(fail("bind mount of the split directory"))?;
            split_overlay(lower, &split.join("upper"), &split.join("work"), target).map_err(|(path, errno)| SetupError {
                container_path: path.clone(),
                step: format!("overlay {} (the kernel refused an overlay of {}: {refused})", path.display(), lower.display()),
                operation: "mounting overlayfs",
                errno: format!("{} ({})", errno.desc(), errno),
                hint: format!(
                    "; give {0} another mode in the job file, for example `read_only: [{0}]` or `hidden: [{0}]`",
                    path.display()
                ),
            })?;
        }
        MountStep::Bind { source, target, read_only, .. } => {
            let is_dir = std::fs::metadata(source).map(|meta| meta.is_dir()).unwrap_or(true);
            ensure_target(target, is_dir).map_err(fail("creating the mount point"))?;
            mount(Some(source), target, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(fail("bind mount"))?;
            if *read_only {
                remount_read_only(target).map_err(fail("remounting read-only"))?;
            }
        }
        MountStep::Hidden { layer, target, .. } => {
            create_dir(layer).map_err(fail("creating the hidden directory"))?;
            ensure_target(target, true).map_err(fail("creating the mount point"))?;
            mount(Some(layer), target, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(fail("bind mount"))?;
        }
        MountStep::ReadOnlyTree { source, target, .. } => {
            ensure_target(target, true).map_err(fail("creating the mount point"))?;
            mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(fail("recursive bind mount"))?;
            syscalls::make_tree_read_only(target)
                .map_err(|error| failure_of(step, "making the tree read-only (mount_setattr)", io_errno(error)))?;
        }
        MountStep::SharedMemory { target, only_if_present, .. } => {
            if *only_if_present && !target.is_dir() {
                return Ok(());
            }
            ensure_target(target, true).map_err(fail("creating the mount point"))?;
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some("mode=1777")).map_err(fail("mounting tmpfs"))?;
        }
        MountStep::Proc { target } => {
            ensure_target(target, true).map_err(fail("creating the mount point"))?;
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount(Some("proc"), target, Some("proc"), flags, None::<&str>).map_err(fail("mounting procfs"))?;
        }
    }
    Ok(())
}

fn mount_overlay(lower: &Path, upper: &Path, work: &Path, target: &Path) -> nix::Result<()> {
    create_dir(upper)?;
    create_dir(work)?;
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        escape_overlay_path(lower),
        escape_overlay_path(upper),
        escape_overlay_path(work)
    );
    mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(options.as_str()))
}

/// Rebuilds the writable view of the host directory `lower` in the writable directory
/// `target`: each subdirectory gets its own overlay, split further where the kernel refuses
/// that too; symbolic links are recreated and files bound read-only. `/proc`, `/sys` and
/// `/dev` only get their mount points, because later steps mount them. Entries created
/// directly in a split directory stay on the run's tmpfs and are not collected.
fn split_overlay(lower: &Path, upper: &Path, work: &Path, target: &Path) -> Result<(), (PathBuf, nix::Error)> {
    let entries = std::fs::read_dir(lower).map_err(|error| (lower.to_path_buf(), io_errno(error)))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let host = lower.join(&name);
        let inside = target.join(&name);
        let Ok(metadata) = std::fs::symlink_metadata(&host) else { continue };
        let fail = |errno| (host.clone(), errno);
        if metadata.file_type().is_symlink() {
            let link = std::fs::read_link(&host).map_err(|error| fail(io_errno(error)))?;
            std::os::unix::fs::symlink(link, &inside).map_err(|error| fail(io_errno(error)))?;
        } else if metadata.is_dir() {
            create_dir(&inside).map_err(fail)?;
            let _ = std::fs::set_permissions(&inside, metadata.permissions());
            if ["/proc", "/sys", "/dev"].iter().any(|special| host == Path::new(special)) {
                continue;
            }
            let (entry_upper, entry_work) = (upper.join(&name), work.join(&name));
            if mount_overlay(&host, &entry_upper, &entry_work, &inside).is_err() {
                split_overlay(&host, &entry_upper, &entry_work, &inside)?;
            }
        } else if metadata.is_file() {
            ensure_target(&inside, false).map_err(fail)?;
            mount(Some(&host), &inside, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(fail)?;
            remount_read_only(&inside).map_err(fail)?;
        }
    }
    Ok(())
}

/// Remounts a bind mount read-only. The flags the source mount already has (nosuid, nodev,
/// noexec, atime settings) are kept, because the kernel refuses to clear them inside a user
/// namespace.
fn remount_read_only(target: &Path) -> nix::Result<()> {
    use nix::sys::statvfs::{statvfs, FsFlags};

    let existing = statvfs(target)?.flags();
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if existing.contains(fs_flag) {
            flags |= ms_flag;
        }
    }
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
}

fn failure_of(step: &MountStep, operation: &'static str, errno: nix::Error) -> SetupError {
    SetupError {
        container_path: step.container_path().to_path_buf(),
        step: step.to_string(),
        operation,
        errno: format!("{} ({})", errno.desc(), errno),
        hint: hint_for(step, errno),
    }
}

/// Returns the fix, in job-file terms, for the failures users meet in practice.
fn hint_for(step: &MountStep, errno: nix::Error) -> String {
    let path = step.container_path().display();
    match (step, errno) {
        (MountStep::Overlay { .. }, _) => format!(
            "; the kernel rejected an overlay for {path}: give it another mode, for example \
             `read_only: [{path}]` or `hidden: [{path}]` in the job file (`--read-only-dir {path}` \
             or `--hidden-dir {path}` for cellrun exec)"
        ),
        (MountStep::Bind { .. }, nix::Error::EACCES | nix::Error::EPERM) => {
            format!("; cellrun cannot access {path}: give it the mode `hidden` or make it readable")
        }
        (_, nix::Error::EROFS) => {
            format!("; the parent of {path} is read-only and the mount point is missing: create {path} on the host")
        }
        _ => String::new(),
    }
}

fn io_errno(error: std::io::Error) -> nix::Error {
    nix::Error::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

fn create_dir(path: &Path) -> nix::Result<()> {
    std::fs::create_dir_all(path).map_err(io_errno)
}

/// Makes sure a mount point exists: a directory, or an empty file for a file bind.
fn ensure_target(target: &Path, is_dir: bool) -> nix::Result<()> {
    if std::fs::symlink_metadata(target).is_ok() {
        return Ok(());
    }
    if is_dir {
        return create_dir(target);
    }
    if let Some(parent) = target.parent() {
        create_dir(parent)?;
    }
    std::fs::File::create(target).map(|_| ()).map_err(io_errno)
}

/// Escapes the characters that overlayfs treats as separators in its options.
fn escape_overlay_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, ',' | ':' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
