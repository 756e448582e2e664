//! `cellrun schema`: print the JSON Schema of job files for editors and YAML language servers.

/// Prints the schema and returns exit status 0.
pub fn run() -> i32 {
    println!("{}", serde_json::to_string_pretty(&crate::spec::schema::job_schema()).unwrap_or_default());
    0
}
