//! Progress of a running batch on stderr.
//!
//! On a terminal: an overall bar (done/total, elapsed, ETA, counts per outcome) and one line
//! per slot with its run id and running time. Off a terminal: a plain line every
//! [`PLAIN_INTERVAL`]. `--quiet` shows nothing. Colours follow the terminal library's rules,
//! which honour `NO_COLOR`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::tally::{Tally, format_duration, printable};
use crate::results::RunRecord;

/// Time between two plain progress lines when stderr is not a terminal.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// The kind of progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    Bars,
    Plain,
    Quiet,
}

impl ProgressMode {
    /// Bars on a terminal, plain lines elsewhere, nothing when `quiet`.
    pub fn detect(quiet: bool) -> ProgressMode {
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Plain
        }
    }
}

/// The progress display of one session of a batch.
pub struct Progress {
    mode: ProgressMode,
    bars: Option<Bars>,
    tally: Tally,
    total: usize,
    done: usize,
    done_before: usize,
    start: Instant,
    last_plain: Instant,
    running: Vec<Option<(String, Instant)>>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    /// A text line below the bar with the counts per outcome, which do not fit beside it.
    counts: ProgressBar,
    slots: Vec<ProgressBar>,
}

impl Progress {
    /// Creates a display for `total` runs of which `finished` are done already, with `slots`
    /// slots.
    pub fn new<'a>(mode: ProgressMode, total: usize, finished: impl Iterator<Item = &'a RunRecord>, slots: usize) -> Progress {
        let mut tally = Tally::default();
        finished.for_each(|record| tally.add(record));
        let done = tally.total();
        let bars = (mode == ProgressMode::Bars).then(|| Bars::new(total, done, slots));

        let now = Instant::now();
        let mut progress = Progress {
            mode,
            bars,
            tally,
            total,
            done,
            done_before: done,
            start: now,
            last_plain: now,
            running: vec![None; slots],
        };
        progress.refresh();
        progress
    }

    pub fn started(&mut self, slot: usize, run_id: &str) {
        self.running[slot] = Some((printable(run_id), Instant::now()));
        if let Some(bars) = &self.bars {
            bars.slots[slot].set_message(format!("{} (0s)", printable(run_id)));
        }
    }

    pub fn finished(&mut self, slot: usize, record: &RunRecord) {
        self.running[slot] = None;
        self.tally.add(record);
        self.done += 1;
        if let Some(bars) = &self.bars {
            bars.slots[slot].set_message("idle");
            bars.overall.set_position(self.done as u64);
            bars.overall.set_message(self.times());
            bars.counts.set_message(self.tally.line());
        }
        self.maybe_plain_line();
    }

    /// Refreshes running times and the ETA; called a few times a second.
    pub fn tick(&mut self) {
        self.refresh();
        self.maybe_plain_line();
    }

    /// Prints `message` on its own line, above the bars when they are shown.
    pub fn note(&self, message: &str) {
        match (&self.bars, self.mode) {
            (Some(bars), _) => bars.multi.suspend(|| eprintln!("cellrun: {message}")),
            (None, ProgressMode::Plain) => eprintln!("cellrun: {message}"),
            _ => {}
        }
    }

    /// Removes the bars from the terminal.
    pub fn finish(&mut self) {
        if let Some(bars) = self.bars.take() {
            for slot in &bars.slots {
                slot.finish_and_clear();
            }
            bars.counts.finish_and_clear();
            bars.overall.finish_and_clear();
            let _ = bars.multi.clear();
        }
    }

    fn refresh(&mut self) {
        let Some(bars) = &self.bars else { return };
        bars.overall.set_message(self.times());
        bars.counts.set_message(self.tally.line());
        for (slot, running) in self.running.iter().enumerate() {
            if let Some((run_id, since)) = running {
                bars.slots[slot].set_message(format!("{run_id} ({})", format_duration(since.elapsed())));
            }
        }
    }

    fn maybe_plain_line(&mut self) {
        if self.mode != ProgressMode::Plain || self.last_plain.elapsed() < PLAIN_INTERVAL {
            return;
        }
        self.last_plain = Instant::now();
        eprintln!("cellrun: {}/{} runs done · {} · {}", self.done, self.total, self.times(), self.tally.line());
    }

    fn times(&self) -> String {
        let elapsed = self.start.elapsed();
        format!("elapsed {} · ETA {}", format_duration(elapsed), self.eta(elapsed))
    }

    /// Remaining runs at the rate of this session so far.
    fn eta(&self, elapsed: Duration) -> String {
        let done_now = self.done - self.done_before;
        if done_now == 0 {
            return "unknown".to_string();
        }
        let remaining = self.total.saturating_sub(self.done) as f64;
        format_duration(elapsed.mul_f64(remaining / done_now as f64))
    }
}

impl Bars {
    fn new(total: usize, done: usize, slots: usize) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("[{bar:30.cyan/blue}] {pos}/{len} {wide_msg}")
                .expect("the progress template is valid")
                .progress_chars("=> "),
        );
        overall.set_position(done as u64);

        let counts = multi.add(ProgressBar::new(1));
        counts.set_style(ProgressStyle::with_template("  {wide_msg}").expect("the counts template is valid"));

        let slot_style = ProgressStyle::with_template("  slot {prefix}: {wide_msg}").expect("the slot template is valid");
        let slots = (0..slots)
            .map(|slot| {
                let bar = multi.add(ProgressBar::new(1));
                bar.set_style(slot_style.clone());
                bar.set_prefix(slot.to_string());
                bar.set_message("idle");
                bar
            })
            .collect();
        Bars { multi, overall, counts, slots }
    }
}
