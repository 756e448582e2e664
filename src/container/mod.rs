//! The container of one run: namespaces, the mount tree built from its directory modes, and
//! the init process that starts the tool and reaps every process of the run.
//!
//! `protocol` describes the processes and pipes; `steps` turns directory modes into mount
//! steps; `setup` executes them; `tool` enters the tree and executes the tool; `collect`
//! copies result files out of the writable layers.

mod collect;
pub mod dirmode;
pub mod fork_server;
mod init;
pub mod mountinfo;
pub mod protocol;
mod setup;
pub mod steps;
mod syscalls;
mod tool;

pub use init::helper_main;
pub use syscalls::monotonic_nanos;
