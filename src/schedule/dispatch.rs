//! The main thread of a batch: starts the slot threads, then turns their events into
//! progress and summary rewrites until every slot has stopped.

use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use super::batch::present;
use super::interrupt::Interrupt;
use super::preflight::SlotPlan;
use super::slot::{Event, Shared, run_slot};
use super::Executor;
use crate::plan::Plan;
use crate::report::progress::Progress;
use crate::results::summary::SummaryWriter;
use crate::results::{ResultDir, ResultsError, RunRecord, SUMMARY};

/// How often the main thread wakes to refresh the progress display without events.
const TICK: Duration = Duration::from_millis(250);

/// The counts and errors of the slot phase.
pub struct SlotsOutcome {
    pub ran: usize,
    pub write_error: Option<ResultsError>,
    pub thread_error: Option<std::io::Error>,
}

/// Starts one thread per slot and handles their events until all have stopped.
#[allow(clippy::too_many_arguments)]
pub fn run_slots(
    plan: &Plan,
    executor: &dyn Executor,
    dir: &ResultDir,
    slots: &SlotPlan,
    pending: &[usize],
    rows: &mut [Option<Box<RunRecord>>],
    mut progress: Progress,
    interrupt: &Interrupt,
) -> SlotsOutcome {
    let (queue_sender, queue) = crossbeam_channel::unbounded();
    for &index in pending {
        queue_sender.send(index).expect("the queue receiver is alive");
    }
    drop(queue_sender);

    let shared = Shared { plan, executor, dir, queue, interrupt };
    let (event_sender, events) = crossbeam_channel::unbounded();
    let mut outcome = SlotsOutcome { ran: 0, write_error: None, thread_error: None };

    std::thread::scope(|scope| {
        for (slot, cpus) in slots.slots.iter().enumerate() {
            let shared = &shared;
            let sender = event_sender.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("slot-{slot}"))
                .spawn_scoped(scope, move || run_slot(shared, slot, cpus, sender));
            if let Err(error) = spawned {
                outcome.thread_error = Some(error);
                interrupt.trigger();
                break;
            }
        }
        drop(event_sender);
        handle_events(plan, dir, &events, rows, &mut progress, interrupt, &mut outcome);
    });

    progress.finish();
    outcome
}

fn handle_events(
    plan: &Plan,
    dir: &ResultDir,
    events: &crossbeam_channel::Receiver<Event>,
    rows: &mut [Option<Box<RunRecord>>],
    progress: &mut Progress,
    interrupt: &Interrupt,
    outcome: &mut SlotsOutcome,
) {
    let mut summary = SummaryWriter::new(dir.root().join(SUMMARY));
    let mut interrupt_reported = false;

    loop {
        if interrupt.is_set() && !interrupt_reported && outcome.write_error.is_none() {
            progress.note("interrupted: stopping the running runs; press Ctrl+C again to exit at once");
            interrupt_reported = true;
        }
        match events.recv_timeout(TICK) {
            Ok(Event::Started { slot, index }) => progress.started(slot, &plan.runs[index].id),
            Ok(Event::Finished { slot, index, record }) => {
                progress.finished(slot, &record);
                rows[index] = Some(record);
                outcome.ran += 1;
                if let Err(error) = summary.write_if_due(present(rows)) {
                    fail(outcome, error, interrupt);
                }
            }
            Ok(Event::WriteFailed(error)) => fail(outcome, error, interrupt),
            Err(RecvTimeoutError::Timeout) => progress.tick(),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// Records the first write error and stops the batch: results can no longer be kept.
fn fail(outcome: &mut SlotsOutcome, error: ResultsError, interrupt: &Interrupt) {
    outcome.write_error.get_or_insert(error);
    interrupt.trigger();
}
