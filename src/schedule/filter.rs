//! `--filter PATTERN`: which runs of the job to start.
//!
//! A pattern with any of `*`, `?`, `[` or `{` is a glob over the whole run id, where `*` also
//! matches `/`. Any other pattern selects the ids that contain it.

use globset::{GlobBuilder, GlobMatcher};

use super::error::ScheduleError;

/// A compiled `--filter` pattern.
#[derive(Clone, Debug)]
pub enum RunFilter {
    Glob { pattern: String, matcher: GlobMatcher },
    Substring(String),
}

impl RunFilter {
    pub fn new(pattern: &str) -> Result<RunFilter, ScheduleError> {
        if !pattern.contains(['*', '?', '[', '{']) {
            return Ok(RunFilter::Substring(pattern.to_string()));
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()
            .map_err(|error| ScheduleError::InvalidFilter { pattern: pattern.to_string(), message: error.kind().to_string() })?;
        Ok(RunFilter::Glob { pattern: pattern.to_string(), matcher: glob.compile_matcher() })
    }

    pub fn matches(&self, run_id: &str) -> bool {
        match self {
            RunFilter::Glob { matcher, .. } => matcher.is_match(run_id),
            RunFilter::Substring(text) => run_id.contains(text.as_str()),
        }
    }

    pub fn pattern(&self) -> &str {
        match self {
            RunFilter::Glob { pattern, .. } => pattern,
            RunFilter::Substring(text) => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_matches_anywhere() {
        let filter = RunFilter::new("php-8").unwrap();
        assert!(filter.matches("cadical/sat/php-8-7.cnf"));
        assert!(!filter.matches("cadical/sat/php-9-8.cnf"));
    }

    #[test]
    fn glob_matches_whole_id_across_slashes() {
        let filter = RunFilter::new("cadical*.cnf").unwrap();
        assert!(filter.matches("cadical/sat/php-8-7.cnf"));
        assert!(!filter.matches("kissat/sat/php-8-7.cnf"));
        assert!(!filter.matches("cadical/sat/php-8-7.cnf.log"));
    }

    #[test]
    fn glob_alternatives() {
        let filter = RunFilter::new("{a,b}/*").unwrap();
        assert!(filter.matches("a/x"));
        assert!(filter.matches("b/y/z"));
        assert!(!filter.matches("c/x"));
    }

    #[test]
    fn invalid_glob_rejected() {
        let error = RunFilter::new("[a").unwrap_err();
        assert!(error.to_string().contains("`[a`"), "{error}");
    }
}
