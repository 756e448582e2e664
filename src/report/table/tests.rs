use super::*;

fn record(
    tool: &str,
    config: &str,
    task: &str,
    category: Category,
    termination: Option<&str>,
    cputime_s: f64,
) -> RunRecord {
    RunRecord {
        run_id: format!("{tool}.{config}/set/{task}"),
        tool: tool.to_owned(),
        config: config.to_owned(),
        task_set: "set".to_owned(),
        task: task.to_owned(),
        status: category.name().to_owned(),
        category,
        expected: Some("unsat".to_owned()),
        exit_code: None,
        exit_signal: None,
        termination_reason: termination.map(str::to_owned),
        cputime_s,
        walltime_s: cputime_s,
        memory_bytes: None,
        cores: "0".to_owned(),
        started_at: "2026-01-01T00:00:00Z".to_owned(),
        log: format!("logs/{task}.log"),
        files: 0,
        failure: None,
        output_truncated: false,
        columns: BTreeMap::new(),
        notes: Vec::new(),
    }
}

fn campaign() -> Vec<RunRecord> {
    vec![
        record("minisat", "", "a.cnf", Category::Correct, None, 1.5),
        record("minisat", "", "b.cnf", Category::Error, Some("cputime"), 5.0),
        record("cadical", "default", "a.cnf", Category::Correct, None, 0.25),
        record("cadical", "default", "b.cnf", Category::Correct, None, 2.0),
        record("cadical", "no-elim", "a.cnf", Category::Error, Some("memory"), 0.5),
        record("cadical", "no-elim", "b.cnf", Category::Unknown, None, 0.1),
        record("minisat", "", "c.cnf", Category::Wrong, None, 0.3),
        record("minisat", "", "d.cnf", Category::Missing, None, 0.2),
        record("minisat", "", "e.cnf", Category::Error, Some("walltime"), 9.0),
        record("minisat", "", "f.cnf", Category::Error, Some("cputime-soft"), 9.0),
    ]
}

#[test]
fn rows_per_tool_and_config() {
    let table = summary_table(&campaign());
    let keys: Vec<(&str, &str)> = table.rows.iter().map(|row| (row.tool.as_str(), row.config.as_str())).collect();
    assert_eq!(keys, [("cadical", "default"), ("cadical", "no-elim"), ("minisat", "")]);
}

#[test]
fn counts_per_category() {
    let table = summary_table(&campaign());
    let minisat = &table.rows[2];
    assert_eq!(minisat.runs, 6);
    assert_eq!(minisat.correct, 1);
    assert_eq!(minisat.wrong, 1);
    assert_eq!(minisat.unknown, 0);
    assert_eq!(minisat.error, 3);
    assert_eq!(minisat.missing, 1);
}

#[test]
fn timeouts_include_soft_and_walltime() {
    let table = summary_table(&campaign());
    assert_eq!(table.rows[2].timeouts, 3);
    assert_eq!(table.rows[2].out_of_memory, 0);
    assert_eq!(table.rows[1].timeouts, 0);
    assert_eq!(table.rows[1].out_of_memory, 1);
}

#[test]
fn cputime_counts_only_correct_runs() {
    let table = summary_table(&campaign());
    assert_eq!(table.rows[0].cputime_correct_s, 2.25);
    assert_eq!(table.rows[1].cputime_correct_s, 0.0);
    assert_eq!(table.rows[2].cputime_correct_s, 1.5);
}

#[test]
fn total_sums_rows() {
    let total = summary_table(&campaign()).total();
    assert_eq!(total.runs, 10);
    assert_eq!(total.correct, 3);
    assert_eq!(total.error, 4);
    assert_eq!(total.timeouts, 3);
    assert_eq!(total.out_of_memory, 1);
    assert_eq!(total.cputime_correct_s, 3.75);
}

#[test]
fn text_snapshot() {
    let text = render_text(&summary_table(&campaign()));
    let expected = "\
tool     config   runs  correct  wrong  unknown  error  missing  timeout  out of memory  cputime correct (s)
-------  -------  ----  -------  -----  -------  -----  -------  -------  -------------  -------------------
cadical  default     2        2      0        0      0        0        0              0                 2.25
cadical  no-elim     2        0      0        1      1        0        0              1                 0.00
minisat  -           6        1      1        0      3        1        3              0                 1.50
total    -          10        3      1        1      4        1        3              1                 3.75
";
    assert_eq!(text, expected);
}

#[test]
fn markdown_snapshot() {
    let text = render_markdown(&summary_table(&campaign()));
    let expected = "\
| tool | config | runs | correct | wrong | unknown | error | missing | timeout | out of memory | cputime correct (s) |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| cadical | default | 2 | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 2.25 |
| cadical | no-elim | 2 | 0 | 0 | 1 | 1 | 0 | 0 | 1 | 0.00 |
| minisat | - | 6 | 1 | 1 | 0 | 3 | 1 | 3 | 0 | 1.50 |
| total | - | 10 | 3 | 1 | 1 | 4 | 1 | 3 | 1 | 3.75 |
";
    assert_eq!(text, expected);
}

#[test]
fn single_row_has_no_total() {
    let records = vec![record("gzip", "", "a.txt", Category::Correct, None, 0.01)];
    let text = render_text(&summary_table(&records));
    assert_eq!(text.lines().count(), 3);
    assert!(!text.contains("total"));
}

#[test]
fn empty_table_has_header_only() {
    let text = render_markdown(&summary_table(&[]));
    assert_eq!(text.lines().count(), 2);
}

#[test]
fn markdown_escapes_pipes() {
    let records = vec![record("a|b", "", "a.txt", Category::Correct, None, 0.0)];
    let text = render_markdown(&summary_table(&records));
    assert!(text.contains("| a\\|b | - |"), "{text}");
}
