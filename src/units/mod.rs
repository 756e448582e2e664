//! Sizes and durations as users write them in job files and on the command line.
//!
//! Sizes need a unit because a bare number is ambiguous between bytes and megabytes, which is
//! a classic source of runs with a memory limit a million times too small. Decimal units
//! (`kB`, `MB`, `GB`, powers of 1000) and binary units (`KiB`, `MiB`, `GiB`, powers of 1024)
//! are both accepted, as BenchExec's `runexec` documents them.
//!
//! Durations accept a sequence of number-unit pairs such as `1m30s`, `1.5s` or `250ms`.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

/// A number of bytes, parsed from text such as `1 GiB` or `100MB`.
/// Serialized as the plain number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

/// An invalid size or duration, with the text that was rejected.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum UnitError {
    #[error("invalid size `{text}`: a size needs a unit, for example `512 MiB` or `2 GB` (MB = 10^6 bytes, MiB = 2^20 bytes)")]
    SizeWithoutUnit { text: String },
    #[error("invalid size `{text}`: unknown unit `{unit}`; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB")]
    UnknownSizeUnit { text: String, unit: String },
    #[error("invalid size `{text}`: expected a number followed by a unit, for example `1 GiB`")]
    MalformedSize { text: String },
    #[error("invalid size `{text}`: the value does not fit in 64 bits")]
    SizeTooLarge { text: String },
    #[error("invalid duration `{text}`: a duration needs a unit, for example `90s`, `1m30s`, `1.5s` or `250ms`")]
    DurationWithoutUnit { text: String },
    #[error("invalid duration `{text}`: unknown unit `{unit}`; use ms, s, m, h or d")]
    UnknownDurationUnit { text: String, unit: String },
    #[error("invalid duration `{text}`: expected number-unit pairs such as `1m30s` or `1.5s`")]
    MalformedDuration { text: String },
}

const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("kB", 1000),
    ("KB", 1000),
    ("MB", 1000_u64.pow(2)),
    ("GB", 1000_u64.pow(3)),
    ("TB", 1000_u64.pow(4)),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

impl Bytes {
    /// Parses a size that must carry a unit, as job files require.
    pub fn parse(text: &str) -> Result<Bytes, UnitError> {
        parse_size(text, false)
    }

    /// Parses a size where a bare number means bytes, as `runexec` options allow.
    pub fn parse_or_bytes(text: &str) -> Result<Bytes, UnitError> {
        parse_size(text, true)
    }
}

impl fmt::Display for Bytes {
    /// Formats the size with the largest binary unit that divides it exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, factor) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= factor && self.0 % factor == 0 {
                return write!(f, "{} {unit}", self.0 / factor);
            }
        }
        for (unit, factor) in [("TB", 1000u64.pow(4)), ("GB", 1000u64.pow(3)), ("MB", 1000u64.pow(2)), ("kB", 1000)] {
            if self.0 >= factor && self.0 % factor == 0 {
                return write!(f, "{} {unit}", self.0 / factor);
            }
        }
        write!(f, "{} B", self.0)
    }
}

fn parse_size(text: &str, bare_is_bytes: bool) -> Result<Bytes, UnitError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(UnitError::MalformedSize { text: text.to_string() });
    }
    let factor = if unit.is_empty() {
        if !bare_is_bytes {
            return Err(UnitError::SizeWithoutUnit { text: text.to_string() });
        }
        1
    } else {
        match SIZE_UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, factor)) => *factor,
            None => {
                return Err(UnitError::UnknownSizeUnit { text: text.to_string(), unit: unit.to_string() });
            }
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::MalformedSize { text: text.to_string() })?;
    let bytes = (value * factor as f64).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(UnitError::SizeTooLarge { text: text.to_string() });
    }
    Ok(Bytes(bytes as u64))
}

/// Parses a duration such as `90s`, `1m30s`, `1.5s` or `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::MalformedDuration { text: text.to_string() });
    }
    if trimmed.parse::<f64>().is_ok() {
        return Err(UnitError::DurationWithoutUnit { text: text.to_string() });
    }
    let mut total = 0.0_f64;
    let mut rest = trimmed;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let after = after.trim_start();
        let unit_end = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let value: f64 = number
            .parse()
            .map_err(|_| UnitError::MalformedDuration { text: text.to_string() })?;
        let seconds_per_unit = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" => return Err(UnitError::MalformedDuration { text: text.to_string() }),
            other => {
                return Err(UnitError::UnknownDurationUnit { text: text.to_string(), unit: other.to_string() });
            }
        };
        total += value * seconds_per_unit;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| UnitError::MalformedDuration { text: text.to_string() })
}

/// Formats a duration the way `parse_duration` reads it back, for messages and `cellrun check`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 != 0 {
        return format!("{}ms", millis);
    }
    let seconds = duration.as_secs();
    if seconds >= 60 && seconds % 60 == 0 {
        return format!("{}m", seconds / 60);
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_units_decimal_and_binary() {
        assert_eq!(Bytes::parse("1 GiB"), Ok(Bytes(1 << 30)));
        assert_eq!(Bytes::parse("100MB"), Ok(Bytes(100_000_000)));
        assert_eq!(Bytes::parse("512 KiB"), Ok(Bytes(512 * 1024)));
        assert_eq!(Bytes::parse("1.5 kB"), Ok(Bytes(1500)));
        assert_eq!(Bytes::parse("7 B"), Ok(Bytes(7)));
    }

    #[test]
    fn size_bare_number_rejected_in_job_files() {
        assert_eq!(
            Bytes::parse("1000"),
            Err(UnitError::SizeWithoutUnit { text: "1000".into() })
        );
        assert_eq!(Bytes::parse_or_bytes("1000"), Ok(Bytes(1000)));
    }

    #[test]
    fn size_unknown_unit() {
        assert!(matches!(Bytes::parse("3 gigs"), Err(UnitError::UnknownSizeUnit { .. })));
        assert!(matches!(Bytes::parse("MB"), Err(UnitError::MalformedSize { .. })));
    }

    #[test]
    fn size_display_round_trips() {
        for text in ["1 GiB", "100 MB", "7 B", "3 KiB"] {
            assert_eq!(Bytes::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn duration_forms() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h 2m"), Ok(Duration::from_secs(3720)));
    }

    #[test]
    fn duration_without_unit_rejected() {
        assert!(matches!(parse_duration("60"), Err(UnitError::DurationWithoutUnit { .. })));
        assert!(matches!(parse_duration("5 fortnights"), Err(UnitError::UnknownDurationUnit { .. })));
        assert!(matches!(parse_duration(""), Err(UnitError::MalformedDuration { .. })));
    }

    #[test]
    fn duration_format_round_trips() {
        for text in ["90s", "10m", "250ms", "1500ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
