//! Set files: plain-text lists of task patterns, one per line, as BenchExec uses them.
//!
//! Empty lines and lines starting with `#` are skipped. Patterns are relative to the set file.

/// A pattern from a set file and its line number (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetLine {
    pub line: u32,
    pub pattern: String,
}

/// Reads the patterns of a set file's text.
pub fn parse_set_file(text: &str) -> Vec<SetLine> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(index, line)| SetLine { line: index as u32 + 1, pattern: line.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_skipped() {
        let lines = parse_set_file("# header\n\ncnf/*.cnf\n  sv/a.yml  \n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], SetLine { line: 3, pattern: "cnf/*.cnf".into() });
        assert_eq!(lines[1].pattern, "sv/a.yml");
    }
}
