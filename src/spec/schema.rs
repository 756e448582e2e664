//! The JSON Schema of job files, written by hand next to the raw structs it describes.
//!
//! A derived schema would need a derive crate and would describe the serde structs, not the
//! rules users care about, such as units and name characters. A test keeps the two in step
//! by checking every job file in `specs/` against this schema.

use serde_json::{Value, json};

const NAME_PATTERN: &str = r"^[\p{L}\p{N}_.-]+$";
const SIZE_PATTERN: &str = r"^\s*[0-9.]+\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$";
const DURATION_PATTERN: &str = r"^\s*([0-9.]+\s*(ms|s|m|min|h|d)\s*)+$";

fn string_list() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// Command-line arguments: YAML reads `-1` or `10` as numbers, and the job file accepts them
/// as the arguments they spell.
fn argument_list() -> Value {
    json!({"type": "array", "items": {"type": ["string", "number"]}})
}

fn limits() -> Value {
    let size = |description: &str| json!({"type": "string", "pattern": SIZE_PATTERN, "description": description});
    let duration = |description: &str| json!({"type": "string", "pattern": DURATION_PATTERN, "description": description});
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "memory": size("memory limit with a unit, e.g. `1 GiB`; default: none"),
            "cputime": duration("hard CPU-time limit, e.g. `60s`, `1m30s`; default: none"),
            "soft_cputime": duration("soft CPU-time limit (SIGTERM first); default: none"),
            "walltime": duration("wall-time limit; default: cputime + 30s"),
            "cores": {"type": "integer", "minimum": 1, "description": "CPU cores; default: all"},
            "processes": {"type": "integer", "minimum": 1, "description": "processes and threads at once; default: none"},
            "output": size("cap on the stored tool output; default: none"),
        }
    })
}

/// Builds the schema properties of the settings keys allowed at every level.
fn settings_properties() -> serde_json::Map<String, Value> {
    let dirs = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "hidden": string_list(), "read_only": string_list(),
            "overlay": string_list(), "full_access": string_list(),
        }
    });
    let env = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "set": {"type": "object", "additionalProperties": {"type": "string"}},
            "inherit": string_list(),
        }
    });
    let settings = json!({
        "limits": limits(),
        "dirs": dirs,
        "network": {"type": "boolean", "description": "host network; default: false (loopback only)"},
        "env": env,
        "workdir": {"type": "string", "description": "working directory relative to the job file; default: `.`"},
        "result_files": string_list(),
    });
    match settings {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn object_with(extra: Value, required: &[&str]) -> Value {
    let mut properties = settings_properties();
    if let Value::Object(extra) = extra {
        properties.extend(extra);
    }
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
}

fn verdict() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "exit_codes": {"type": "object", "propertyNames": {"pattern": "^-?[0-9]+$"}, "additionalProperties": {"type": "string"}},
            "output": {"type": "object", "additionalProperties": {"type": "string"}},
            "columns": {"type": "object", "additionalProperties": {"type": "string"}},
        }
    })
}

fn named_map(value: Value) -> Value {
    json!({"type": "object", "propertyNames": {"pattern": NAME_PATTERN}, "additionalProperties": value})
}

/// Returns the JSON Schema (draft 2020-12) of job files.
pub fn job_schema() -> Value {
    let command = json!({"type": "array", "minItems": 1, "items": {"type": ["string", "number"]}});
    let config = json!({"oneOf": [argument_list(), {"type": "null"}, object_with(json!({"options": argument_list()}), &[])]});
    let tool = object_with(
        json!({"command": command, "version": string_list(), "verdict": verdict(), "configs": named_map(config)}),
        &["command"],
    );
    let task_set = object_with(
        json!({
            "files": string_list(), "exclude": string_list(), "taskdefs": string_list(),
            "files_from": {"type": "string"}, "property": {"type": "string"}, "expected": {"type": "string"},
            "expected_from_name": {
                "type": "object", "additionalProperties": false, "required": ["regex"],
                "properties": {"regex": {"type": "string"}, "answers": {"type": "object", "additionalProperties": {"type": "string"}}}
            },
        }),
        &[],
    );
    let group = object_with(json!({"tools": string_list(), "configs": string_list(), "tasks": string_list()}), &[]);
    let plain = object_with(json!({"command": command, "verdict": verdict(), "expected": {"type": "string"}}), &["command"]);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cellrun job file",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "parallel": {"type": "integer", "minimum": 1},
            "fail_on": {"type": "array", "items": {"enum": ["correct", "wrong", "unknown", "error", "missing"]}},
            "unenforced_limits": {"enum": ["accept", "reject"], "description": "accept: run without the limits only a cgroup enforces when cellrun runs rootless without a delegated cgroup; default: reject"},
            "defaults": object_with(json!({}), &[]),
            "tools": named_map(tool),
            "tasks": named_map(task_set),
            "runs": {"type": "array", "items": group},
            "commands": named_map(plain),
        }
    })
}
