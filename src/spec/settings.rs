//! The settings keys of one level, checked and typed, and the merge of all levels of a run.
//!
//! Levels go from broad to narrow: defaults, tool, config, task set, `runs` entry (or plain
//! command). A narrower level replaces each key it sets, with two exceptions that merge:
//! `dirs` merges by path and `env.set` by variable name, the narrower level winning.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::error::{Located, Pos, SpecError};
use super::pos_of;
use super::raw::{RawDirs, RawLimits, RawSettingsRef};
use crate::container::dirmode::{DirMode, DirModes, normalize};
use crate::limits::Limits;
use crate::plan::{EnvSettings, RunSettings};
use crate::units::{Bytes, UnitError, format_duration, parse_duration};

/// Variables a run inherits from the host when no level sets `env.inherit`.
pub const DEFAULT_INHERIT: [&str; 2] = ["PATH", "HOME"];

/// One level's settings after checking; `None` means "not set at this level".
#[derive(Clone, Debug, Default)]
pub struct Layer {
    pub memory: Option<Bytes>,
    pub cputime: Option<(Duration, Pos)>,
    pub soft_cputime: Option<Duration>,
    pub walltime: Option<(Duration, Pos)>,
    pub cores: Option<u32>,
    pub processes: Option<u64>,
    pub output: Option<Bytes>,
    pub dirs: Vec<(PathBuf, DirMode)>,
    pub network: Option<bool>,
    pub env_set: BTreeMap<String, String>,
    pub env_inherit: Option<Vec<String>>,
    pub workdir: Option<PathBuf>,
    pub result_files: Option<Vec<String>>,
}

/// Context for checking one level: where relative paths start and where errors go.
pub struct LayerContext<'a> {
    pub job_dir: &'a Path,
    pub file: &'a Path,
    pub errors: &'a mut Vec<Located>,
}

impl LayerContext<'_> {
    fn report(&mut self, pos: Pos, error: impl Into<SpecError>) {
        self.errors.push(Located::new(self.file, pos, error));
    }
}

impl Layer {
    /// Checks one level's settings; every problem goes to `context.errors`.
    pub fn from_raw(raw: RawSettingsRef<'_>, context: &mut LayerContext<'_>) -> Layer {
        let mut layer = Layer::default();
        if let Some(limits) = raw.limits {
            layer.read_limits(limits, context);
        }
        if let Some(dirs) = raw.dirs {
            layer.dirs = read_dirs(dirs, context);
        }
        layer.network = raw.network.map(|network| network.value);
        if let Some(env) = raw.env {
            layer.env_set = env.set.clone().unwrap_or_default();
            layer.env_inherit = env.inherit.clone();
        }
        if let Some(workdir) = raw.workdir {
            let path = absolute(context.job_dir, &workdir.value);
            if !path.is_dir() {
                context.report(pos_of(workdir), SpecError::WorkdirNotFound { path: path.clone() });
            }
            layer.workdir = Some(path);
        }
        if let Some(patterns) = raw.result_files {
            layer.result_files = Some(read_result_patterns(patterns, context));
        }
        layer
    }

    fn read_limits(&mut self, raw: &RawLimits, context: &mut LayerContext<'_>) {
        self.memory = size(raw.memory.as_ref(), context);
        self.output = size(raw.output.as_ref(), context);
        self.cputime = duration(raw.cputime.as_ref(), context).zip(raw.cputime.as_ref().map(pos_of));
        self.walltime = duration(raw.walltime.as_ref(), context).zip(raw.walltime.as_ref().map(pos_of));
        self.soft_cputime = duration(raw.soft_cputime.as_ref(), context);
        self.cores = positive(raw.cores.as_ref(), "limits.cores", context);
        self.processes = positive(raw.processes.as_ref(), "limits.processes", context);
    }
}

fn size(raw: Option<&Spanned<String>>, context: &mut LayerContext<'_>) -> Option<Bytes> {
    let raw = raw?;
    parse_or_report(raw, Bytes::parse, context)
}

fn duration(raw: Option<&Spanned<String>>, context: &mut LayerContext<'_>) -> Option<Duration> {
    let raw = raw?;
    parse_or_report(raw, parse_duration, context)
}

fn parse_or_report<T>(
    raw: &Spanned<String>,
    parse: fn(&str) -> Result<T, UnitError>,
    context: &mut LayerContext<'_>,
) -> Option<T> {
    match parse(&raw.value) {
        Ok(value) => Some(value),
        Err(error) => {
            context.report(pos_of(raw), error);
            None
        }
    }
}

fn positive<T: Copy + PartialEq + From<u8>>(
    raw: Option<&Spanned<T>>,
    key: &'static str,
    context: &mut LayerContext<'_>,
) -> Option<T> {
    let raw = raw?;
    if raw.value == T::from(0) {
        context.report(pos_of(raw), SpecError::Zero { key });
        return None;
    }
    Some(raw.value)
}

fn read_dirs(raw: &RawDirs, context: &mut LayerContext<'_>) -> Vec<(PathBuf, DirMode)> {
    let lists = [
        (DirMode::Hidden, &raw.hidden),
        (DirMode::ReadOnly, &raw.read_only),
        (DirMode::Overlay, &raw.overlay),
        (DirMode::FullAccess, &raw.full_access),
    ];
    let mut seen: BTreeMap<PathBuf, DirMode> = BTreeMap::new();
    for (mode, paths) in lists {
        for path in paths.iter().flatten() {
            let resolved = absolute(context.job_dir, &path.value);
            match std::fs::metadata(&resolved) {
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    context.report(pos_of(path), SpecError::DirNotFound { path: resolved });
                    continue;
                }
                Err(error) => {
                    let reason = error.to_string();
                    context.report(pos_of(path), SpecError::DirNotAccessible { path: resolved, reason });
                    continue;
                }
            }
            if let Some(first) = seen.get(&resolved) {
                let error = SpecError::ConflictingDirModes { path: resolved, first: first.key(), second: mode.key() };
                context.report(pos_of(path), error);
                continue;
            }
            seen.insert(resolved, mode);
        }
    }
    seen.into_iter().collect()
}

fn read_result_patterns(raw: &[Spanned<String>], context: &mut LayerContext<'_>) -> Vec<String> {
    let mut patterns = Vec::with_capacity(raw.len());
    for pattern in raw {
        let path = Path::new(&pattern.value);
        if path.is_absolute() {
            context.report(pos_of(pattern), SpecError::ResultPatternAbsolute { pattern: pattern.value.clone() });
        } else if path.components().any(|part| part == Component::ParentDir) {
            context.report(pos_of(pattern), SpecError::ResultPatternParent { pattern: pattern.value.clone() });
        } else if let Err(error) = globset::Glob::new(&pattern.value) {
            let reason = error.kind().to_string();
            context.report(pos_of(pattern), SpecError::InvalidGlob { pattern: pattern.value.clone(), reason });
        } else {
            patterns.push(pattern.value.clone());
        }
    }
    patterns
}

/// Resolves `path` against `base` unless it is absolute, and normalizes it lexically.
pub fn absolute(base: &Path, path: &str) -> PathBuf {
    let mut resolved = PathBuf::new();
    for component in base.join(path).components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    normalize(&resolved)
}

/// Merges the levels of a run, broadest first, into its settings.
///
/// `job_dir` is the working directory when no level sets one. The only error is a walltime
/// below the cputime, reported at the walltime's place.
pub fn merge(layers: &[&Layer], job_dir: &Path, file: &Path) -> Result<RunSettings, Located> {
    let mut limits = Limits::default();
    let mut walltime_pos = Pos::FILE;
    let mut dirs = DirModes::default();
    let mut env = EnvSettings { set: BTreeMap::new(), inherit: DEFAULT_INHERIT.map(String::from).to_vec() };
    let mut settings = RunSettings {
        limits: Limits::default(),
        dirs: DirModes::default(),
        network: false,
        env: EnvSettings::default(),
        workdir: job_dir.to_path_buf(),
        result_files: Vec::new(),
        accept_unenforced_limits: false,
    };
    for layer in layers {
        limits.memory = layer.memory.or(limits.memory);
        limits.output = layer.output.or(limits.output);
        limits.cores = layer.cores.or(limits.cores);
        limits.processes = layer.processes.or(limits.processes);
        limits.soft_cputime = layer.soft_cputime.or(limits.soft_cputime);
        if let Some((cputime, _)) = layer.cputime {
            limits.cputime = Some(cputime);
        }
        if let Some((walltime, pos)) = layer.walltime {
            limits.walltime = Some(walltime);
            walltime_pos = pos;
        }

        for (path, mode) in &layer.dirs {
            dirs.set(path.clone(), *mode);
        }
        settings.network = layer.network.unwrap_or(settings.network);
        env.set.extend(layer.env_set.iter().map(|(name, value)| (name.clone(), value.clone())));
        if let Some(inherit) = &layer.env_inherit {
            env.inherit = inherit.clone();
        }
        if let Some(workdir) = &layer.workdir {
            settings.workdir = workdir.clone();
        }
        if let Some(patterns) = &layer.result_files {
            settings.result_files = patterns.clone();
        }
    }

    if let (Some(walltime), Some(cputime)) = (limits.walltime, limits.cputime)
        && walltime < cputime
    {
        let error = SpecError::WalltimeBelowCputime {
            walltime: format_duration(walltime),
            cputime: format_duration(cputime),
        };
        return Err(Located::new(file, walltime_pos, error));
    }
    settings.limits = limits;
    settings.dirs = dirs;
    settings.env = env;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer_with(cputime: Option<u64>, walltime: Option<u64>) -> Layer {
        Layer {
            cputime: cputime.map(|s| (Duration::from_secs(s), Pos { line: 1, column: 1 })),
            walltime: walltime.map(|s| (Duration::from_secs(s), Pos { line: 2, column: 3 })),
            ..Layer::default()
        }
    }

    #[test]
    fn narrower_level_wins() {
        let broad = Layer { memory: Some(Bytes(1 << 30)), cores: Some(1), ..Layer::default() };
        let narrow = Layer { memory: Some(Bytes(1 << 20)), ..Layer::default() };
        let settings = merge(&[&broad, &narrow], Path::new("/job"), Path::new("j.yaml")).unwrap();
        assert_eq!(settings.limits.memory, Some(Bytes(1 << 20)));
        assert_eq!(settings.limits.cores, Some(1));
        assert_eq!(settings.workdir, Path::new("/job"));
    }

    #[test]
    fn dirs_merge_by_path() {
        let broad = Layer { dirs: vec![(PathBuf::from("/srv"), DirMode::ReadOnly)], ..Layer::default() };
        let narrow = Layer { dirs: vec![(PathBuf::from("/srv"), DirMode::FullAccess)], ..Layer::default() };
        let settings = merge(&[&broad, &narrow], Path::new("/job"), Path::new("j.yaml")).unwrap();
        assert_eq!(settings.dirs.mode_of(Path::new("/srv/x")), DirMode::FullAccess);
        assert_eq!(settings.dirs.mode_of(Path::new("/tmp")), DirMode::Hidden);
    }

    #[test]
    fn env_set_merges_inherit_replaces() {
        let mut broad = Layer { env_inherit: Some(vec!["PATH".into(), "TERM".into()]), ..Layer::default() };
        broad.env_set.insert("LC_ALL".into(), "C".into());
        let mut narrow = Layer { env_inherit: Some(vec!["HOME".into()]), ..Layer::default() };
        narrow.env_set.insert("X".into(), "1".into());
        let settings = merge(&[&broad, &narrow], Path::new("/job"), Path::new("j.yaml")).unwrap();
        assert_eq!(settings.env.inherit, ["HOME"]);
        assert_eq!(settings.env.set.len(), 2);
    }

    #[test]
    fn default_env_inherits_path_and_home() {
        let settings = merge(&[], Path::new("/job"), Path::new("j.yaml")).unwrap();
        assert_eq!(settings.env.inherit, ["PATH", "HOME"]);
        assert_eq!(settings.dirs, DirModes::default());
    }

    #[test]
    fn walltime_below_cputime_located_at_walltime() {
        let error = merge(&[&layer_with(Some(60), Some(10))], Path::new("/job"), Path::new("j.yaml")).unwrap_err();
        assert_eq!(error.pos, Pos { line: 2, column: 3 });
        assert!(matches!(error.error, SpecError::WalltimeBelowCputime { .. }));
    }

    #[test]
    fn narrower_cputime_can_exceed_broader_walltime() {
        let broad = layer_with(Some(10), Some(20));
        let narrow = layer_with(Some(30), None);
        assert!(merge(&[&broad, &narrow], Path::new("/job"), Path::new("j.yaml")).is_err());
    }

    #[test]
    fn absolute_resolves_relative_paths() {
        assert_eq!(absolute(Path::new("/job"), "./scratch/"), Path::new("/job/scratch"));
        assert_eq!(absolute(Path::new("/job/a"), "../b"), Path::new("/job/b"));
        assert_eq!(absolute(Path::new("/job"), "/srv"), Path::new("/srv"));
    }
}

#[cfg(test)]
mod layer_tests {
    use super::*;
    use crate::spec::raw::RawJob;

    fn layer_of(defaults: &str) -> (Layer, Vec<Located>) {
        let text = format!("defaults:\n{defaults}");
        let job: RawJob = crate::spec::parse(&text, Path::new("job.yaml")).unwrap();
        let mut errors = Vec::new();
        let mut context = LayerContext { job_dir: Path::new("/"), file: Path::new("job.yaml"), errors: &mut errors };
        let layer = Layer::from_raw(job.defaults.as_ref().unwrap().settings(), &mut context);
        (layer, errors)
    }

    #[test]
    fn limits_parsed_with_units() {
        let (layer, errors) = layer_of("  limits: {memory: 2 GiB, cputime: 1m30s, cores: 2, output: 20 MB}\n");
        assert!(errors.is_empty());
        assert_eq!(layer.memory, Some(Bytes(2 << 30)));
        assert_eq!(layer.cputime.map(|(duration, _)| duration), Some(Duration::from_secs(90)));
        assert_eq!(layer.cores, Some(2));
        assert_eq!(layer.output, Some(Bytes(20_000_000)));
    }

    #[test]
    fn bare_numbers_and_zero_rejected() {
        let (_, errors) = layer_of("  limits: {memory: 1000, walltime: 60, processes: 0}\n");
        assert_eq!(errors.len(), 3);
        assert!(matches!(errors[0].error, SpecError::Unit(UnitError::SizeWithoutUnit { .. })));
        assert!(matches!(errors[1].error, SpecError::Unit(UnitError::DurationWithoutUnit { .. })));
        assert!(matches!(errors[2].error, SpecError::Zero { key: "limits.processes" }));
    }

    #[test]
    fn dirs_resolved_and_conflicts_rejected() {
        let (layer, errors) = layer_of("  dirs: {read_only: [/usr, /etc/], overlay: [/usr]}\n");
        assert_eq!(layer.dirs, [(PathBuf::from("/etc"), DirMode::ReadOnly), (PathBuf::from("/usr"), DirMode::ReadOnly)]);
        assert_eq!(errors.len(), 1);
        assert!(matches!(errors[0].error, SpecError::ConflictingDirModes { first: "read_only", second: "overlay", .. }));
    }

    #[test]
    fn result_patterns_must_stay_below_workdir() {
        let (layer, errors) = layer_of("  result_files: [\"out/**\", /abs, \"../up\", \"a/../b\"]\n");
        assert_eq!(layer.result_files, Some(vec!["out/**".to_string()]));
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn env_and_network_read() {
        let (layer, errors) = layer_of("  network: true\n  env: {set: {LC_ALL: C}, inherit: [TERM]}\n");
        assert!(errors.is_empty());
        assert_eq!(layer.network, Some(true));
        assert_eq!(layer.env_inherit, Some(vec!["TERM".to_string()]));
        assert_eq!(layer.env_set.get("LC_ALL").map(String::as_str), Some("C"));
    }
}
