//! Creation and removal of `<own>/cellrun-<pid>` on cgroup v2, including the move of
//! cellrun into a leaf cgroup that the no-internal-process rule may require.

use std::io;
use std::path::{Path, PathBuf};

use super::{CONTROLLERS, V2Cgroups};
use crate::cgroup::error::{CgroupError, DELEGATION_FIX};
use crate::cgroup::{fs as cgfs, names};

/// Name of the leaf cgroup that contains cellrun itself when its own cgroup must be emptied.
/// Run cgroup names start with a digit, so they never collide with it.
pub const SELF_LEAF: &str = "cellrun";

/// The `cellrun-<pid>` cgroup and what setting it up changed outside it.
#[derive(Debug)]
pub struct Parent {
    pub dir: PathBuf,
    /// Whether cellrun moved itself from its own cgroup into the leaf [`SELF_LEAF`].
    moved_self: bool,
    /// Controllers cellrun enabled in its own cgroup's `cgroup.subtree_control`.
    enabled_in_own: Vec<&'static str>,
    /// Controllers enabled in `cellrun-<pid>/cgroup.subtree_control`.
    enabled_in_parent: Vec<&'static str>,
}

impl V2Cgroups {
    /// Returns `cellrun-<pid>`, creating it with the controllers enabled for its children at
    /// the first call.
    pub(in crate::cgroup) fn ensure_parent(&self) -> Result<PathBuf, CgroupError> {
        let mut parent = self
            .parent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = parent.as_ref().filter(|parent| parent.dir.exists()) {
            return Ok(existing.dir.clone());
        }
        let created = self.set_up_parent()?;
        let dir = created.dir.clone();
        *parent = Some(created);
        Ok(dir)
    }

    fn set_up_parent(&self) -> Result<Parent, CgroupError> {
        let dir = self.own.join(names::parent_name());
        match (self.ops.create)(&dir) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => {
                return Err(CgroupError::Create {
                    path: dir,
                    source: error,
                    fix: DELEGATION_FIX,
                });
            }
            _ => {}
        }

        let mut parent = Parent {
            dir,
            moved_self: false,
            enabled_in_own: Vec::new(),
            enabled_in_parent: Vec::new(),
        };
        if let Err(error) = self.delegate_controllers(&mut parent) {
            if let Err(undo_error) = self.undo_setup(&parent) {
                tracing::warn!(%undo_error, path = %parent.dir.display(), "failed to undo a partial cgroup setup");
            }
            return Err(error);
        }
        Ok(parent)
    }

    /// Enables the controllers cellrun uses in its own cgroup (moving itself into a leaf
    /// first where the no-internal-process rule requires it) and in `cellrun-<pid>`,
    /// recording each change in `parent` so that it can be undone.
    fn delegate_controllers(&self, parent: &mut Parent) -> Result<(), CgroupError> {
        let available = self.available_controllers()?;
        let usable: Vec<&'static str> = CONTROLLERS
            .into_iter()
            .filter(|controller| available.iter().any(|name| name == controller))
            .collect();
        let own_control = self.own.join("cgroup.subtree_control");
        let enabled = cgfs::read(&own_control)?;
        let missing: Vec<&'static str> = usable
            .iter()
            .copied()
            .filter(|controller| !enabled.split_whitespace().any(|name| name == *controller))
            .collect();

        if !missing.is_empty() {
            if !self.is_root() && !cgfs::read_pids(&self.own.join("cgroup.procs"))?.is_empty() {
                self.move_self_into_leaf(&parent.dir)?;
                parent.moved_self = true;
            }
            enable_controllers(&own_control, &missing, &self.own)?;
            parent.enabled_in_own = missing;
        }
        enable_controllers(
            &parent.dir.join("cgroup.subtree_control"),
            &usable,
            &self.own,
        )?;
        parent.enabled_in_parent = usable;
        Ok(())
    }

    fn move_self_into_leaf(&self, parent: &Path) -> Result<(), CgroupError> {
        let leaf = parent.join(SELF_LEAF);
        match (self.ops.create)(&leaf) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => {
                return Err(CgroupError::Create {
                    path: leaf,
                    source: error,
                    fix: DELEGATION_FIX,
                });
            }
            _ => {}
        }
        cgfs::write(&leaf.join("cgroup.procs"), &std::process::id().to_string())
    }

    /// Undoes [`Self::ensure_parent`] on a best-effort basis: removes `cellrun-<pid>` when no
    /// run is left in it, moves cellrun back and disables the controllers it enabled.
    pub(super) fn tear_down_parent(&self) {
        let mut parent = self
            .parent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(setup) = parent.take() else {
            return;
        };
        if let Err(error) = self.undo_setup(&setup) {
            tracing::debug!(%error, path = %setup.dir.display(), "cgroup of this cellrun process left in place");
        }
    }

    fn undo_setup(&self, setup: &Parent) -> Result<(), CgroupError> {
        let runs_left = std::fs::read_dir(&setup.dir)
            .map_err(|source| CgroupError::Read {
                path: setup.dir.clone(),
                source,
            })?
            .flatten()
            .any(|entry| {
                entry.file_type().is_ok_and(|kind| kind.is_dir()) && entry.file_name() != SELF_LEAF
            });
        if runs_left {
            return Ok(());
        }

        // A controller can be disabled only where no child cgroup still enables it, so the
        // order is: cellrun-<pid> first, then the own cgroup, then cellrun moves back.
        disable_controllers(
            &setup.dir.join("cgroup.subtree_control"),
            &setup.enabled_in_parent,
        )?;
        disable_controllers(
            &self.own.join("cgroup.subtree_control"),
            &setup.enabled_in_own,
        )?;
        if setup.moved_self {
            cgfs::write(
                &self.own.join("cgroup.procs"),
                &std::process::id().to_string(),
            )?;
        }
        crate::cgroup::kill::remove_subtree(&setup.dir, self.ops.remove)
    }
}

/// Writes `+name` for each controller to a `cgroup.subtree_control` file in one write.
fn enable_controllers(control: &Path, controllers: &[&str], own: &Path) -> Result<(), CgroupError> {
    if controllers.is_empty() {
        return Ok(());
    }
    let value: Vec<String> = controllers.iter().map(|name| format!("+{name}")).collect();
    cgfs::write(control, &value.join(" ")).map_err(|error| match error {
        CgroupError::Write { path, source, .. } => delegation_error(path, controllers, source, own),
        other => other,
    })
}

fn disable_controllers(control: &Path, controllers: &[&str]) -> Result<(), CgroupError> {
    if controllers.is_empty() {
        return Ok(());
    }
    let value: Vec<String> = controllers.iter().map(|name| format!("-{name}")).collect();
    cgfs::write(control, &value.join(" "))
}

/// Turns a rejected write to `cgroup.subtree_control` into an error with the fix for its
/// errno.
pub fn delegation_error(
    path: PathBuf,
    controllers: &[&str],
    source: io::Error,
    own: &Path,
) -> CgroupError {
    let fix = match source.raw_os_error() {
        Some(libc::EBUSY) => format!(
            "other processes are in {}, and a cgroup with processes cannot pass controllers to \
             its children; start cellrun in a cgroup of its own, for example with \
             `systemd-run --scope -p Delegate=yes cellrun ...`",
            own.display()
        ),
        Some(libc::ENOENT | libc::EINVAL | libc::EOPNOTSUPP) => format!(
            "a controller is not available to {}; enable it in the parent's \
             cgroup.subtree_control, or start cellrun under `systemd-run --scope -p Delegate=yes cellrun ...`",
            own.display()
        ),
        _ => DELEGATION_FIX.to_string(),
    };
    CgroupError::Delegation {
        path,
        controllers: controllers.join(" "),
        source,
        fix,
    }
}
