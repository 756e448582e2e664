//! Ctrl+C and SIGTERM: the first stops the batch in order, the second ends cellrun at once.
//!
//! The first signal sets a flag. The scheduler stops starting runs, and the executor receives
//! the same flag as its `cancel` argument and kills the running containers. A second signal ends
//! the process with status 130 from the signal handler. No file is left corrupt, because
//! journal lines are written with one `write` each and the summary and `meta.json` are
//! replaced by rename.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of an interrupted batch: 128 + SIGINT, as shells report it.
pub const INTERRUPTED_EXIT: i32 = 130;

/// The shared "stop now" flag of a batch.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
}

impl Interrupt {
    /// Creates a flag that only [`Interrupt::trigger`] sets.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Creates a flag set by SIGINT and SIGTERM. A second such signal exits with status 130.
    pub fn install() -> std::io::Result<Interrupt> {
        let interrupt = Interrupt::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // The exit must be registered before the flag, so that on the first signal it finds
            // the flag still unset, and on the second it finds it set and exits.
            signal_hook::flag::register_conditional_shutdown(signal, INTERRUPTED_EXIT, Arc::clone(&interrupt.flag))?;
            signal_hook::flag::register(signal, Arc::clone(&interrupt.flag))?;
        }
        Ok(interrupt)
    }

    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Returns the flag itself, as handed to [`super::Executor::execute`].
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sigterm_sets_flag() {
        let interrupt = Interrupt::install().unwrap();
        assert!(!interrupt.is_set());

        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();

        assert!(interrupt.is_set(), "the process is still alive and the flag is set");
    }

    #[test]
    fn trigger_sets_shared_flag() {
        let interrupt = Interrupt::new();
        let clone = interrupt.clone();
        clone.trigger();
        assert!(interrupt.flag().load(Ordering::SeqCst));
    }
}
