//! Paths as text for JSON and CSV output.
//!
//! Linux paths are bytes; JSON and CSV need UTF-8. Valid UTF-8 stays as it is, and every byte
//! that is not part of valid UTF-8 is written as `\xNN` (two uppercase hex digits), so no path
//! is dropped or silently altered beyond recognition.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `bytes` as UTF-8 text with each undecodable byte as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    text
}

/// Writes a path as text by the rule of [`escape_bytes`].
pub fn escape_path(path: &Path) -> String {
    escape_bytes(path.as_os_str().as_bytes())
}

/// Serde adapter: one path as escaped text.
pub fn serialize_path<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&escape_path(path))
}

/// Serde adapter: a list of paths as escaped text.
pub fn serialize_paths<S: Serializer>(paths: &[PathBuf], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(paths.iter().map(|path| escape_path(path)))
}

/// Serde adapter: reads paths written by [`serialize_paths`]; escapes are kept as text.
pub fn deserialize_paths<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<PathBuf>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    Ok(texts.into_iter().map(PathBuf::from).collect())
}

/// Serde adapter: a path as the list of its bytes, exact for any path.
pub mod as_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(path.as_os_str().as_bytes())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
        let bytes = Vec::<u8>::deserialize(deserializer)?;
        Ok(PathBuf::from(OsStr::from_bytes(&bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_escaped_valid_kept() {
        assert_eq!(escape_bytes(b"caf\xc3\xa9 \xff\xfe;"), "café \\xFF\\xFE;");
        assert_eq!(escape_path(Path::new("plain/name.txt")), "plain/name.txt");
    }
}
