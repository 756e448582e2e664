//! The JSON Schema printed by `cellrun schema` accepts every job file in `specs/` and rejects
//! keys the job-file parser rejects.

mod common;

use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let dir = common::job_dir(&[]);
    let output = common::cellrun_in(dir.path(), &["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let schema: Value = serde_json::from_slice(&output.stdout).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema is a valid JSON Schema")
}

fn yaml_to_json(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

#[test]
fn specs_validate_against_schema() {
    let validator = schema();
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&specs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let job = yaml_to_json(&std::fs::read_to_string(&path).unwrap());
            let errors: Vec<String> = validator.iter_errors(&job).map(|error| error.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            checked += 1;
        }
    }
    assert!(checked > 0, "no job files in specs/");
}

#[test]
fn schema_rejects_unknown_keys_and_bare_sizes() {
    let validator = schema();
    assert!(!validator.is_valid(&yaml_to_json("defaults:\n  dirs:\n    readonly: [/]\n")));
    assert!(!validator.is_valid(&yaml_to_json("defaults:\n  limits: {memory: '1000'}\n")));
    assert!(!validator.is_valid(&yaml_to_json("tools:\n  a b: {command: [x]}\n")));
    assert!(validator.is_valid(&yaml_to_json("defaults:\n  limits: {memory: 1 GiB, cputime: 1m30s}\n")));
}
