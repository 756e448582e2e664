//! The one rule for turning bytes of unknown encoding into UTF-8 text.
//!
//! Tool output and version strings are bytes. The result files are UTF-8 whatever the locale
//! is set to, so every byte sequence that is not valid UTF-8 is written as `\xNN` (two
//! lowercase hex digits per byte) and valid UTF-8 is kept as it is. Nothing is dropped, and
//! the escape is visible in every viewer.

use std::fmt::Write;

/// Decodes `bytes` as UTF-8, writing each byte of an invalid sequence as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            write!(text, "\\x{byte:02x}").expect("writing to a String cannot fail");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_utf8_kept() {
        assert_eq!(escape_bytes("café 日本".as_bytes()), "café 日本");
    }

    #[test]
    fn invalid_bytes_escaped() {
        assert_eq!(escape_bytes(b"caf\xc3\xa9 \xff\xfe;"), "café \\xff\\xfe;");
    }

    #[test]
    fn truncated_sequence_escaped() {
        assert_eq!(escape_bytes(b"a\xe6\x97"), "a\\xe6\\x97");
    }

    #[test]
    fn control_characters_kept() {
        assert_eq!(escape_bytes(b"\x1b[31mred\x01"), "\u{1b}[31mred\u{1}");
    }
}
