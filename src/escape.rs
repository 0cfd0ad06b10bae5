//! Escaping for display: what a repository, a pusher or a file system names (paths, refs,
//! author names, error messages quoting them) is shown only after this module has made it safe.
//!
//! One classification of the characters that must not reach a reader as they are
//! ([`must_escape`]: control characters, bidirectional controls, line and paragraph
//! separators), two forms: [`escape`] for raw bytes taken from a repository (invalid UTF-8 and
//! backslashes escaped too, so the result reads back unambiguously) and [`printable`] for a
//! message that may already hold escaped text (kept as it is). [`is_invisible`] extends the
//! classification to characters that show nothing, for text that must say something (a bypass
//! reason).

/// Whether a character can reorder or split what a reader sees around it: the bidirectional
/// embeddings, overrides, isolates and marks, and the Unicode line and paragraph separators. A
/// path or a value holding one could make a report show something other than what it says.
pub fn is_bidi_or_separator(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Whether a character is written as `\xNN` escapes by both [`escape`] and [`printable`]: a
/// control character could drive a terminal, a bidirectional control or separator
/// ([`is_bidi_or_separator`]) could reorder or split the line.
pub fn must_escape(c: char) -> bool {
    c.is_control() || is_bidi_or_separator(c)
}

/// Whether a character shows nothing by itself: control characters, bidirectional controls and
/// separators, and the zero-width and other default-ignorable characters (U+200B..U+200D,
/// U+2060, U+FEFF, variation selectors, ...). Text made only of these is empty to a reader, so
/// a reason that must be given (a bypass) is judged without them.
pub fn is_invisible(c: char) -> bool {
    must_escape(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Appends a character's UTF-8 bytes as `\xNN` escapes.
fn push_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        push_byte(out, b);
    }
}

/// Appends one byte as a `\xNN` escape.
fn push_byte(out: &mut String, b: u8) {
    out.push_str(&format!("\\x{b:02x}"));
}

/// Escapes a path (or any text from the repository) for output: the characters
/// [`must_escape`] names and bytes that are not UTF-8 become `\xNN`, and a backslash is
/// doubled, so nothing a pusher names a file can drive a terminal or reorder what the reader
/// sees.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if must_escape(c) {
                push_escaped(&mut out, c);
            } else if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            push_byte(&mut out, b);
        }
    }
    out
}

/// An error as one line with no control character: a path or a ref named by a pusher (or a
/// file name on disk) must not drive the terminal or reorder the line (bidirectional controls,
/// line separators), and one error is one line. Text already escaped stays as it is.
pub fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if must_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_and_invalid_bytes() {
        assert_eq!(escape(b"a/b\xff\n.py"), "a/b\\xff\\x0a.py");
        assert_eq!(escape("é.py".as_bytes()), "é.py");
        assert_eq!(
            escape("a\u{202E}b\u{2066}c\u{2028}d\u{200F}".as_bytes()),
            "a\\xe2\\x80\\xaeb\\xe2\\x81\\xa6c\\xe2\\x80\\xa8d\\xe2\\x80\\x8f"
        );
    }

    #[test]
    fn printable_keeps_escaped_text_and_escapes_the_rest() {
        assert_eq!(printable("a\\x0ab"), "a\\x0ab");
        assert_eq!(printable("a\nb\u{202E}c"), "a\\x0ab\\xe2\\x80\\xaec");
    }
}
