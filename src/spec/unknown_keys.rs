//! Every unknown key of a job file, found in one pass.
//!
//! serde stops at the first unknown key, so a file with several typos would need one
//! `cellrun check` per typo. When that happens, this module reads the file again into a plain
//! tree with positions and walks it along the job file's JSON Schema, which lists the known
//! keys at every level, so all unknown keys are reported together.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::suggest::closest;
use super::{Located, SpecError, pos_of};

/// Returns an error for every unknown key in `text`, in document order; empty when the text
/// cannot be read as YAML at all.
pub fn find(text: &str, source_name: &Path) -> Vec<Located> {
    let options = serde_saphyr::options! { strict_booleans: true };
    let Ok(root) = serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(&root, &super::schema::job_schema(), source_name, &mut found);
    found
}

/// A YAML value reduced to what the walk needs.
enum Node {
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

/// A mapping key as text, whatever scalar type YAML gave it.
struct Key(String);

fn walk(node: &Spanned<Node>, schema: &Value, file: &Path, found: &mut Vec<Located>) {
    match &node.value {
        Node::Map(entries) => {
            let Some(object) = alternative(schema, "object") else { return };
            let properties = object.get("properties").and_then(Value::as_object);
            let additional = object.get("additionalProperties");
            for (key, value) in entries {
                match (properties.and_then(|known| known.get(&key.value.0)), additional) {
                    (Some(sub), _) => walk(value, sub, file, found),
                    (None, Some(Value::Bool(false))) => found.push(unknown(key, properties, file)),
                    (None, Some(sub @ Value::Object(_))) => walk(value, sub, file, found),
                    (None, _) => {}
                }
            }
        }
        Node::Seq(items) => {
            let Some(items_schema) = alternative(schema, "array").and_then(|array| array.get("items")) else { return };
            for item in items {
                walk(item, items_schema, file, found);
            }
        }
        Node::Scalar => {}
    }
}

/// Returns the schema itself when its type is `kind`, or its `oneOf` alternative of that type.
fn alternative<'a>(schema: &'a Value, kind: &str) -> Option<&'a Value> {
    if schema.get("type").and_then(Value::as_str) == Some(kind) {
        return Some(schema);
    }
    schema.get("oneOf")?.as_array()?.iter().find(|option| option.get("type").and_then(Value::as_str) == Some(kind))
}

fn unknown(key: &Spanned<Key>, properties: Option<&serde_json::Map<String, Value>>, file: &Path) -> Located {
    let names: Vec<&str> = properties.map(|known| known.keys().map(String::as_str).collect()).unwrap_or_default();
    let error = SpecError::UnknownKey {
        key: key.value.0.clone(),
        suggestion: closest(&key.value.0, names.iter().copied()),
        known: names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", "),
    };
    Located::new(file, pos_of(key), error)
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<Key>, Spanned<Node>>()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Key, E> {
        Ok(Key(text.to_string()))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Key, E> {
        Ok(Key(number.to_string()))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Key, E> {
        Ok(Key(number.to_string()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Key, E> {
        Ok(Key(number.to_string()))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Key, E> {
        Ok(Key(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_found(text: &str) -> Vec<(String, u32)> {
        find(text, Path::new("job.yaml"))
            .into_iter()
            .map(|located| match located.error {
                SpecError::UnknownKey { key, .. } => (key, located.pos.line),
                other => panic!("unexpected error {other}"),
            })
            .collect()
    }

    #[test]
    fn every_typo_found_at_every_level() {
        let text = "nme: x\ndefaults:\n  limit: {memory: 1 GiB}\n  dirs: {readonly: [/]}\ntools:\n  t:\n    comand: [true]\n    configs:\n      a: {options: [-1], limts: {}}\ntasks:\n  s:\n    file: [a]\n";
        assert_eq!(
            keys_found(text),
            [
                ("nme".to_string(), 1),
                ("limit".to_string(), 3),
                ("readonly".to_string(), 4),
                ("comand".to_string(), 7),
                ("limts".to_string(), 9),
                ("file".to_string(), 12),
            ]
        );
    }

    #[test]
    fn free_form_maps_accept_any_key() {
        let text = "tools:\n  t:\n    command: [true]\n    verdict:\n      exit_codes: {10: sat}\n      output: {'^s SAT': sat}\ndefaults:\n  env: {set: {ANY_NAME: x}}\n";
        assert_eq!(keys_found(text), Vec::<(String, u32)>::new());
    }
}
