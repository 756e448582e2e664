//! The body of a slot thread: pull a run, execute it, journal it, report it.

use crossbeam_channel::{Receiver, Sender};

use super::interrupt::Interrupt;
use super::request;
use super::topology::SlotCpus;
use super::Executor;
use crate::plan::Plan;
use crate::results::{ResultDir, ResultsError, RunRecord};

/// A message from a slot to the main thread.
#[derive(Debug)]
pub enum Event {
    Started { slot: usize, index: usize },
    /// The run's record is in the journal.
    Finished { slot: usize, index: usize, record: Box<RunRecord> },
    /// The journal could not be written; the slot has stopped.
    WriteFailed(ResultsError),
}

/// The state every slot shares.
pub struct Shared<'a> {
    pub plan: &'a Plan,
    pub executor: &'a dyn Executor,
    pub dir: &'a ResultDir,
    pub queue: Receiver<usize>,
    pub interrupt: &'a Interrupt,
}

/// Runs queued runs on `cpus` until the queue is empty or the batch is interrupted.
pub fn run_slot(shared: &Shared<'_>, slot: usize, cpus: &SlotCpus, events: Sender<Event>) {
    for index in shared.queue.iter() {
        if shared.interrupt.is_set() {
            break;
        }
        let run = &shared.plan.runs[index];
        let _ = events.send(Event::Started { slot, index });

        let record = request::execute(run, cpus, shared.executor, shared.dir, shared.interrupt.flag());

        if let Err(error) = shared.dir.journal().append(&record) {
            let _ = events.send(Event::WriteFailed(error));
            break;
        }
        let _ = events.send(Event::Finished { slot, index, record: Box::new(record) });
    }
}
