//! The job file as written: serde structs that mirror the YAML one to one.
//!
//! Values that later checks may reject keep their location (`Spanned`), so a semantic error
//! points at the value, not at the file. Every struct rejects unknown keys. The settings keys
//! (`limits`, `dirs`, `network`, `env`, `workdir`, `result_files`) appear at every level; a
//! macro adds them instead of `#[serde(flatten)]`, which would lose both the locations and the
//! unknown-key check.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::ordered::OrderedMap;

/// Adds the settings keys of every level to a struct and a `settings()` view of them.
macro_rules! with_settings {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
            pub limits: Option<RawLimits>,
            pub dirs: Option<RawDirs>,
            pub network: Option<Spanned<bool>>,
            pub env: Option<RawEnv>,
            pub workdir: Option<Spanned<String>>,
            pub result_files: Option<Vec<Spanned<String>>>,
        }

        impl $name {
            pub fn settings(&self) -> RawSettingsRef<'_> {
                RawSettingsRef {
                    limits: self.limits.as_ref(),
                    dirs: self.dirs.as_ref(),
                    network: self.network.as_ref(),
                    env: self.env.as_ref(),
                    workdir: self.workdir.as_ref(),
                    result_files: self.result_files.as_deref(),
                }
            }
        }
    };
}

/// The settings keys of one level, borrowed.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawSettingsRef<'a> {
    pub limits: Option<&'a RawLimits>,
    pub dirs: Option<&'a RawDirs>,
    pub network: Option<&'a Spanned<bool>>,
    pub env: Option<&'a RawEnv>,
    pub workdir: Option<&'a Spanned<String>>,
    pub result_files: Option<&'a [Spanned<String>]>,
}

/// The whole job file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub name: Option<Spanned<String>>,
    pub parallel: Option<Spanned<usize>>,
    pub fail_on: Option<Vec<Spanned<String>>>,
    pub unenforced_limits: Option<Spanned<String>>,
    pub defaults: Option<RawDefaults>,
    #[serde(default)]
    pub tools: OrderedMap<RawTool>,
    #[serde(default)]
    pub tasks: OrderedMap<RawTaskSet>,
    pub runs: Option<Vec<Spanned<RawRunGroup>>>,
    #[serde(default)]
    pub commands: OrderedMap<RawCommand>,
}

with_settings! {
    /// `defaults:`: settings for every run.
    #[derive(Default)]
    pub struct RawDefaults {}
}

with_settings! {
    /// One entry of `tools:`.
    pub struct RawTool {
        pub command: Spanned<Vec<Spanned<String>>>,
        pub version: Option<Vec<String>>,
        pub verdict: Option<RawVerdict>,
        pub configs: Option<OrderedMap<RawConfigEntry>>,
    }
}

with_settings! {
    /// One config of a tool in its long form: `{options: [...], limits: ...}`.
    #[derive(Default)]
    pub struct RawConfig {
        #[serde(default)]
        pub options: Vec<Spanned<String>>,
    }
}

with_settings! {
    /// One entry of `tasks:`.
    #[derive(Default)]
    pub struct RawTaskSet {
        pub files: Option<Vec<Spanned<String>>>,
        pub exclude: Option<Vec<Spanned<String>>>,
        pub taskdefs: Option<Vec<Spanned<String>>>,
        pub files_from: Option<Spanned<String>>,
        pub property: Option<Spanned<String>>,
        pub expected: Option<Spanned<String>>,
        pub expected_from_name: Option<RawExpectedFromName>,
    }
}

with_settings! {
    /// One entry of `runs:`.
    #[derive(Default)]
    pub struct RawRunGroup {
        pub tools: Option<Vec<Spanned<String>>>,
        pub configs: Option<Vec<Spanned<String>>>,
        pub tasks: Option<Vec<Spanned<String>>>,
    }
}

with_settings! {
    /// One entry of `commands:`.
    pub struct RawCommand {
        pub command: Spanned<Vec<Spanned<String>>>,
        pub verdict: Option<RawVerdict>,
        pub expected: Option<Spanned<String>>,
    }
}

/// `limits:` at any level; sizes and durations stay text until they are parsed with units.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub memory: Option<Spanned<String>>,
    pub cputime: Option<Spanned<String>>,
    pub soft_cputime: Option<Spanned<String>>,
    pub walltime: Option<Spanned<String>>,
    pub cores: Option<Spanned<u32>>,
    pub processes: Option<Spanned<u64>>,
    pub output: Option<Spanned<String>>,
}

/// `dirs:` at any level.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirs {
    pub hidden: Option<Vec<Spanned<String>>>,
    pub read_only: Option<Vec<Spanned<String>>>,
    pub overlay: Option<Vec<Spanned<String>>>,
    pub full_access: Option<Vec<Spanned<String>>>,
}

/// `env:` at any level.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnv {
    pub set: Option<BTreeMap<String, String>>,
    pub inherit: Option<Vec<String>>,
}

/// `verdict:` of a tool or command.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerdict {
    pub exit_codes: Option<BTreeMap<i32, String>>,
    pub output: Option<OrderedMap<String>>,
    pub columns: Option<OrderedMap<String>>,
}

/// `expected_from_name:` of a task set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpectedFromName {
    pub regex: Spanned<String>,
    pub answers: Option<BTreeMap<String, String>>,
}

/// A config as written: either a list of options or a mapping with `options` and settings.
#[derive(Debug, Default)]
pub struct RawConfigEntry(pub RawConfig);

impl<'de> Deserialize<'de> for RawConfigEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = RawConfigEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of options or a mapping with `options` and settings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawConfigEntry, E> {
        Ok(RawConfigEntry::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawConfigEntry, A::Error> {
        let mut options = Vec::new();
        while let Some(option) = seq.next_element::<Spanned<String>>()? {
            options.push(option);
        }
        Ok(RawConfigEntry(RawConfig { options, ..RawConfig::default() }))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawConfigEntry, A::Error> {
        RawConfig::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawConfigEntry)
    }
}
