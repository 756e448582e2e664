//! Creating a campaign in the shared directory and submitting its shards.

use std::path::PathBuf;

use super::campaign::{Campaign, CampaignDir, SubmissionRecord};
use super::error::SlurmError;
use super::scheduler::{JobId, Scheduler, Submission};
use super::script::batch_script;
use crate::results::{JOB_COPY, atomic, meta};

/// Submissions of one shard after which cellrun stops submitting it again.
pub const DEFAULT_MAX_ATTEMPTS: usize = 3;

/// The parts of a new campaign.
#[derive(Clone, Debug)]
pub struct NewCampaign {
    /// Absolute.
    pub job_file: PathBuf,
    pub job_bytes: Vec<u8>,
    pub job_name: String,
    pub shards: usize,
    /// The cellrun binary for the batch script, absolute.
    pub cellrun: PathBuf,
    pub partition: Option<String>,
    pub max_concurrent: Option<usize>,
    pub sbatch_args: Vec<String>,
    /// The `--filter` pattern, also among `run_options`.
    pub filter: Option<String>,
    /// Further `cellrun run` options for every shard.
    pub run_options: Vec<String>,
}

/// Writes the layout, the job copy, the batch script and `slurm.json` of a new campaign into
/// `dir`, which must be empty or missing.
pub fn create(dir: &CampaignDir, new: NewCampaign) -> Result<Campaign, SlurmError> {
    let root = dir.root();
    if dir.campaign_file().exists() {
        return Err(SlurmError::CampaignExists { path: root.to_path_buf() });
    }
    let used = std::fs::read_dir(root).map(|mut entries| entries.next().is_some()).unwrap_or(false);
    if used {
        return Err(SlurmError::OutputNotEmpty { path: root.to_path_buf() });
    }
    dir.create_layout()?;

    atomic::write(&root.join(JOB_COPY), &new.job_bytes)?;
    let script = batch_script(&new.cellrun, &new.job_file, root, new.shards, &new.run_options);
    atomic::write(&dir.script(), script.as_bytes())?;

    let campaign = Campaign {
        job_hash: meta::job_hash(&new.job_bytes),
        job_file: new.job_file,
        job_name: new.job_name,
        shards: new.shards,
        cellrun: new.cellrun,
        partition: new.partition,
        max_concurrent: new.max_concurrent,
        sbatch_args: new.sbatch_args,
        filter: new.filter,
        max_attempts: DEFAULT_MAX_ATTEMPTS,
        submissions: Vec::new(),
    };
    campaign.write(dir)?;
    Ok(campaign)
}

/// Submits `shards` as one array job and records the submission in `slurm.json`.
pub fn submit_shards(
    dir: &CampaignDir,
    campaign: &mut Campaign,
    scheduler: &dyn Scheduler,
    shards: Vec<usize>,
) -> Result<JobId, SlurmError> {
    let submission = Submission {
        script: dir.script(),
        job_name: format!("cellrun-{}", campaign.job_name),
        tasks: shards.clone(),
        max_concurrent: campaign.max_concurrent,
        partition: campaign.partition.clone(),
        output_pattern: dir.slurm_logs().join("%A_%a.out"),
        workdir: dir.root().to_path_buf(),
        extra_args: campaign.sbatch_args.clone(),
    };
    let job_id = scheduler.submit(&submission)?;
    campaign.submissions.push(SubmissionRecord {
        job_id: job_id.clone(),
        shards,
        submitted_at: jiff::Timestamp::now().to_string(),
    });
    campaign.write(dir)?;
    Ok(job_id)
}
