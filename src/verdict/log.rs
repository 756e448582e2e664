//! Separating a run's log into the header cellrun wrote and the tool's own output.
//!
//! A log file starts with a header in the layout `runexec` uses: the command line, a line of
//! exactly 80 `-` characters, then a blank line. The tool's standard output and error follow.
//! Verdict rules must only see the tool's output, so that a pattern such as `UNSAT` does not
//! match an input file named `php-unsat.cnf` on the command line.

/// Width of the line of dashes that ends a log header.
pub const HEADER_RULE_WIDTH: usize = 80;

/// Returns the tool's output within a log file: everything after the first line of exactly 80 dashes
/// and the blank lines right after it, or the whole log when it has no such line.
pub fn tool_output(log: &[u8]) -> &[u8] {
    let mut offset = 0;
    for line in log.split_inclusive(|&byte| byte == b'\n') {
        offset += line.len();
        if is_header_rule(line) {
            let rest = &log[offset..];
            let blank = rest.iter().take_while(|&&byte| byte == b'\n' || byte == b'\r').count();
            return &rest[blank..];
        }
    }
    log
}

fn is_header_rule(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.len() == HEADER_RULE_WIDTH && line.iter().all(|&byte| byte == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(command: &str) -> String {
        format!("{command}\n{}\n\n", "-".repeat(HEADER_RULE_WIDTH))
    }

    #[test]
    fn header_is_stripped() {
        let log = format!("{}s UNSATISFIABLE\n", header("minisat php-unsat.cnf"));
        assert_eq!(tool_output(log.as_bytes()), b"s UNSATISFIABLE\n");
    }

    #[test]
    fn multi_line_command_is_stripped() {
        let log = format!("{}done\n", header("sh -c 'echo a\necho b'"));
        assert_eq!(tool_output(log.as_bytes()), b"done\n");
    }

    #[test]
    fn log_without_header_is_kept() {
        assert_eq!(tool_output(b"SAT\n"), b"SAT\n");
    }

    #[test]
    fn later_dash_lines_stay_in_output() {
        let rule = "-".repeat(HEADER_RULE_WIDTH);
        let log = format!("{}{rule}\nresult\n", header("tool"));
        assert_eq!(tool_output(log.as_bytes()), format!("{rule}\nresult\n").as_bytes());
    }

    #[test]
    fn shorter_dash_line_is_not_header() {
        let log = "tool\n-----\n\nout\n";
        assert_eq!(tool_output(log.as_bytes()), log.as_bytes());
    }

    #[test]
    fn empty_output_after_header() {
        let log = header("tool");
        assert_eq!(tool_output(log.as_bytes()), b"");
    }
}
