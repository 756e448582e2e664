//! The container of one run: namespaces, the mount tree built from its directory modes, and
//! the init process that starts the tool and reaps every process of the run.

pub mod dirmode;
