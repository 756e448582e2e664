//! `--shard I/N`: which runs of a job belong to one shard.
//!
//! Run number `r` of the plan (in plan order, from 0) belongs to shard `r mod N`. The rule
//! depends only on the plan's order, which is stable for a job file, so a shard submitted
//! again gets exactly the runs it had. Round robin also spreads the runs of each tool and
//! task set over all shards, so the shards take about equally long.

use std::fmt;
use std::str::FromStr;

use super::error::SlurmError;
use crate::plan::Plan;

/// One shard out of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl ShardSpec {
    /// Whether run number `run` of the plan belongs to this shard.
    pub fn contains(&self, run: usize) -> bool {
        run % self.count == self.index
    }

    /// Keeps only the runs of this shard in `plan`, in their order.
    pub fn select(&self, plan: &mut Plan) {
        let runs = std::mem::take(&mut plan.runs);
        plan.runs = runs.into_iter().enumerate().filter(|(run, _)| self.contains(*run)).map(|(_, run)| run).collect();
    }

    /// The number of runs of this shard in a plan of `total` runs.
    pub fn size(&self, total: usize) -> usize {
        (0..total).filter(|&run| self.contains(run)).count()
    }
}

impl FromStr for ShardSpec {
    type Err = SlurmError;

    fn from_str(value: &str) -> Result<ShardSpec, SlurmError> {
        let invalid = || SlurmError::InvalidShard { value: value.to_string() };
        let (index, count) = value.split_once('/').ok_or_else(invalid)?;
        let index: usize = index.trim().parse().map_err(|_| invalid())?;
        let count: usize = count.trim().parse().map_err(|_| invalid())?;
        if index >= count {
            return Err(invalid());
        }
        Ok(ShardSpec { index, count })
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsed() {
        assert_eq!("2/8".parse::<ShardSpec>().unwrap(), ShardSpec { index: 2, count: 8 });
        for bad in ["8/8", "1", "a/2", "1/0", "-1/2", ""] {
            assert!(bad.parse::<ShardSpec>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn round_robin_by_run_number() {
        let shard = ShardSpec { index: 1, count: 3 };
        let runs: Vec<usize> = (0..10).filter(|&run| shard.contains(run)).collect();
        assert_eq!(runs, [1, 4, 7]);
        assert_eq!(shard.size(10), 3);
    }

    #[test]
    fn shards_cover_every_run_once() {
        let count = 4;
        for run in 0..23 {
            let owners = (0..count).filter(|&index| ShardSpec { index, count }.contains(run)).count();
            assert_eq!(owners, 1, "run {run}");
        }
    }
}
