//! The batch script written into the shared directory and run by every array task.
//!
//! The script names the cellrun binary and the job file by absolute path, so both must be
//! on a file system that every node sees at the same path, or installed there alike.
//! Resource requests and the array go on the `sbatch` command line, not into the script,
//! so that a shard submitted again uses the same script.

use std::path::Path;

/// The text of the batch script for a campaign of `shards` shards in `shared`.
///
/// `extra` are further `cellrun run` options (such as `--parallel 4`) for every shard.
pub fn batch_script(cellrun: &Path, job_file: &Path, shared: &Path, shards: usize, extra: &[String]) -> String {
    let mut command = vec![
        quote(&cellrun.to_string_lossy()),
        "run".to_string(),
        quote(&job_file.to_string_lossy()),
        "--shard".to_string(),
        format!("\"$SLURM_ARRAY_TASK_ID/{shards}\""),
        "--shard-of".to_string(),
        quote(&shared.to_string_lossy()),
    ];
    command.extend(extra.iter().map(|word| quote(word)));

    format!(
        "#!/bin/sh\n\
         # Written by `cellrun run --slurm`. Array task I runs shard I of {shards}: the runs whose\n\
         # number in the job, counted from 0, leaves the remainder I when divided by {shards}.\n\
         # A shard with a result directory in shards/I continues it, keeping its finished runs.\n\
         exec {}\n",
        command.join(" ")
    )
}

/// `word` in single quotes, for a POSIX shell.
fn quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_runs_shard_of_task() {
        let script = batch_script(
            Path::new("/opt/cellrun"),
            Path::new("/home/u/my job.yaml"),
            Path::new("/shared/c"),
            4,
            &["--filter".into(), "it's".into()],
        );
        assert!(script.starts_with("#!/bin/sh\n"));
        let last = script.lines().last().unwrap();
        assert_eq!(
            last,
            "exec /opt/cellrun run '/home/u/my job.yaml' --shard \"$SLURM_ARRAY_TASK_ID/4\" --shard-of /shared/c --filter 'it'\\''s'"
        );
    }

    #[test]
    fn quoted_word_survives_shell() {
        let word = "a b'c\"$d";
        let output = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", quote(word))).output().unwrap();
        assert_eq!(String::from_utf8(output.stdout).unwrap(), word);
    }
}
