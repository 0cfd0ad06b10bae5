//! Decoding: the text the detector reads when the stored bytes are not that text themselves.
//!
//! Two kinds of content would otherwise hide a secret from a byte-level scan:
//!
//! - **UTF-16 and UTF-32 text** (PowerShell scripts, `.reg` exports, some `.ini` and `.config`
//!   files written by Windows tools): every ASCII character carries NUL bytes, so the content
//!   looks binary and no rule's form can match it. It is decoded to UTF-8 first. With a
//!   byte-order mark the encoding is certain; without one it is recognised only when the start
//!   is mostly ASCII characters with their NUL halves in the right places, almost no control
//!   characters, and the whole content decodes without a broken unit, so images, archives and
//!   compiled files stay binary.
//! - **Jupyter notebooks** (`.ipynb`): the code is inside JSON strings, where `\"` and `\n`
//!   break every form a rule knows. The cells' sources are decoded into one text, and each of its
//!   lines remembers the notebook file's line where its JSON string starts (the hooks diff the
//!   file's lines), its cell and its line in the cell.
//!
//! Pure and total: bytes in, decoded bytes and a line map out; every input gives an answer (an
//! invalid sequence becomes U+FFFD), and the work is linear in the input, which the sources have
//! already capped in size.

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use super::BINARY_SNIFF;

/// How many bytes of content without a byte-order mark are looked at to decide that it is
/// UTF-16 or UTF-32 text (a multiple of 4, so the sample holds whole units).
const SAMPLE: usize = 4096;

/// The replacement character, UTF-8 encoded.
const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// The Unicode encodings decoded before the scan (UTF-8 is scanned as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-16, little-endian (what Windows tools write).
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
    /// UTF-32, little-endian.
    Utf32Le,
    /// UTF-32, big-endian.
    Utf32Be,
}

impl Encoding {
    /// Bytes per code unit.
    fn unit(self) -> usize {
        match self {
            Encoding::Utf16Le | Encoding::Utf16Be => 2,
            Encoding::Utf32Le | Encoding::Utf32Be => 4,
        }
    }
}

/// What the first bytes say about content: whether the detector reads it as it is, skips it as
/// binary, or decodes it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// Read as it is: UTF-8 (or any byte text) without a NUL byte near the start.
    Plain,
    /// A NUL byte near the start, and no Unicode encoding explains it.
    Binary,
    /// UTF-16 or UTF-32 text, with the length of its byte-order mark (0 when it has none).
    Unicode(Encoding, usize),
}

/// Decides how content is read. Costs a comparison of the first bytes and a search for a NUL
/// in the first [`BINARY_SNIFF`] bytes for ordinary text; only content with a NUL there is
/// examined further.
pub fn sniff(data: &[u8]) -> Sniff {
    match data {
        // U+0000 right after a UTF-16 mark is not text anyone writes: this is the UTF-32 mark.
        [0xFF, 0xFE, 0, 0, ..] => return Sniff::Unicode(Encoding::Utf32Le, 4),
        [0, 0, 0xFE, 0xFF, ..] => return Sniff::Unicode(Encoding::Utf32Be, 4),
        [0xFF, 0xFE, ..] => return Sniff::Unicode(Encoding::Utf16Le, 2),
        [0xFE, 0xFF, ..] => return Sniff::Unicode(Encoding::Utf16Be, 2),
        _ => {}
    }
    if memchr(0, &data[..data.len().min(BINARY_SNIFF)]).is_none() {
        return Sniff::Plain;
    }
    [
        Encoding::Utf32Le,
        Encoding::Utf32Be,
        Encoding::Utf16Le,
        Encoding::Utf16Be,
    ]
    .into_iter()
    .find(|&e| {
        data.len().is_multiple_of(e.unit())
            && data.len() >= 2 * e.unit()
            && looks_like_text(&data[..data.len().min(SAMPLE)], e)
            && decodes_cleanly(data, e)
    })
    .map_or(Sniff::Binary, |e| Sniff::Unicode(e, 0))
}

/// The code units of `body` (a trailing partial unit is left out).
fn units16(body: &[u8], le: bool) -> impl Iterator<Item = u16> + '_ {
    body.chunks_exact(2).map(move |c| {
        let b = [c[0], c[1]];
        if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    })
}

/// The code units of `body` (a trailing partial unit is left out).
fn units32(body: &[u8], le: bool) -> impl Iterator<Item = u32> + '_ {
    body.chunks_exact(4).map(move |c| {
        let b = [c[0], c[1], c[2], c[3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    })
}

/// The characters of `body` in `enc`, `None` for each unit that is not one.
fn chars(body: &[u8], enc: Encoding) -> Box<dyn Iterator<Item = Option<char>> + '_> {
    match enc {
        Encoding::Utf16Le | Encoding::Utf16Be => {
            Box::new(char::decode_utf16(units16(body, enc == Encoding::Utf16Le)).map(Result::ok))
        }
        Encoding::Utf32Le | Encoding::Utf32Be => {
            Box::new(units32(body, enc == Encoding::Utf32Le).map(char::from_u32))
        }
    }
}

/// Whether a sample reads as text in `enc`: at least half its characters printable ASCII or
/// line breaks and tabs (the NUL halves of the units in the right places), and at most one in
/// fifty a NUL, another control character or not a character at all.
fn looks_like_text(sample: &[u8], enc: Encoding) -> bool {
    let (mut n, mut ascii, mut bad) = (0usize, 0usize, 0usize);
    for c in chars(sample, enc) {
        n += 1;
        match c {
            Some('\t' | '\n' | '\r' | ' '..='~') => ascii += 1,
            Some('\x0b' | '\x0c' | '\x1b') => {}
            Some(c) if c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c) => bad += 1,
            Some('\u{fffe}' | '\u{ffff}') | None => bad += 1,
            Some(_) => {}
        }
    }
    n >= 2 && ascii * 2 >= n && bad * 50 <= n
}

/// Whether all of `data` decodes in `enc` without a broken unit (an unpaired surrogate, a
/// value past U+10FFFF): random bytes almost never do over more than a few units.
fn decodes_cleanly(data: &[u8], enc: Encoding) -> bool {
    chars(data, enc).all(|c| c.is_some())
}

/// `body` (without its byte-order mark) decoded from `enc` to UTF-8; each broken unit and a
/// trailing partial unit become U+FFFD.
pub fn transcode(body: &[u8], enc: Encoding) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / enc.unit() + 8);
    let mut buf = [0u8; 4];
    for c in chars(body, enc) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    if !body.len().is_multiple_of(enc.unit()) {
        out.extend_from_slice(REPLACEMENT);
    }
    out
}

/// The text whose lines the hooks diff for content: UTF-16 and UTF-32 text decoded the way
/// [`decode`] decodes it for the scan (so added lines and findings' lines agree), anything else
/// as it is (a notebook's lines are those of the file).
pub fn for_diff(data: &[u8]) -> Cow<'_, [u8]> {
    match sniff(data) {
        Sniff::Unicode(enc, bom) => Cow::Owned(transcode(data.get(bom..).unwrap_or_default(), enc)),
        Sniff::Plain | Sniff::Binary => Cow::Borrowed(data),
    }
}

/// Whether a path is a Jupyter notebook, whose cells are scanned instead of its JSON.
pub fn is_notebook_path(path: &[u8]) -> bool {
    path.len() >= 6 && path[path.len() - 6..].eq_ignore_ascii_case(b".ipynb")
}

/// Where one line of a notebook's decoded cell sources is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// 1-based line of the notebook file where the JSON string holding the line's start is.
    pub file_line: usize,
    /// 1-based index of the cell among all cells.
    pub cell: usize,
    /// 1-based line in the cell's source.
    pub line: usize,
}

/// The text the detector scans for one file's content, and how to find its lines in the file.
#[derive(Debug)]
pub struct Decoded<'a> {
    text: Cow<'a, [u8]>,
    sniff: Sniff,
    /// For a notebook: the place of each line of `text` (index 0 is line 1).
    notebook: Option<Vec<Place>>,
}

impl Decoded<'_> {
    /// The text to scan: the content itself, its UTF-8 decoding, or a notebook's cell sources
    /// (each cell's source ends with a newline, so each cell starts on a line of its own).
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// Whether the content is binary (then `text` is the content as it is).
    pub fn is_binary(&self) -> bool {
        self.sniff == Sniff::Binary
    }

    /// The Unicode encoding the content was decoded from, if any.
    pub fn encoding(&self) -> Option<Encoding> {
        match self.sniff {
            Sniff::Unicode(e, _) => Some(e),
            Sniff::Plain | Sniff::Binary => None,
        }
    }

    /// Whether `text` is a notebook's cell sources rather than the file's text.
    pub fn is_notebook(&self) -> bool {
        self.notebook.is_some()
    }

    /// Where the 1-based `line` of `text` is in the notebook; `None` when the text's lines are
    /// the file's own (not a notebook) or past the end.
    pub fn place(&self, line: usize) -> Option<Place> {
        self.notebook.as_ref()?.get(line.checked_sub(1)?).copied()
    }
}

/// Decodes content read from `path` for the scan: UTF-16 and UTF-32 text to UTF-8, then a
/// notebook (`*.ipynb` that is a JSON object with a non-empty `cells` array) to its cells'
/// sources. Everything else is borrowed as it is, at the cost of [`sniff`] and a look at the
/// path.
pub fn decode<'a>(path: &[u8], data: &'a [u8]) -> Decoded<'a> {
    let sniff = sniff(data);
    let text = match sniff {
        Sniff::Unicode(enc, bom) => Cow::Owned(transcode(data.get(bom..).unwrap_or_default(), enc)),
        Sniff::Plain | Sniff::Binary => Cow::Borrowed(data),
    };
    if sniff != Sniff::Binary && is_notebook_path(path) {
        if let Some(nb) = notebook(&text) {
            return Decoded {
                text: Cow::Owned(nb.text),
                sniff,
                notebook: Some(nb.lines),
            };
        }
    }
    Decoded {
        text,
        sniff,
        notebook: None,
    }
}

/// A notebook's cell sources as one text, with the place of each of its lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notebook {
    /// Every cell's source, in order, each ending with a newline.
    pub text: Vec<u8>,
    /// The place of each line of `text` (index 0 is line 1).
    pub lines: Vec<Place>,
}

/// How deep the notebook walker follows containers (serde_json's own limit is lower).
const MAX_DEPTH: usize = 1024;

/// What a JSON container is to the notebook walker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The top-level object.
    Root,
    /// The top-level `cells` array.
    Cells,
    /// Cell n (1-based): an element of `cells`.
    Cell(usize),
    /// The `source` array of cell n.
    Source(usize),
    /// Anything else (outputs, metadata, ...).
    Other,
}

/// What the current key of an object means to the walker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Cells,
    Source,
    Other,
}

/// One open container.
#[derive(Debug)]
struct Frame {
    ctx: Ctx,
    object: bool,
    /// In an object: whether the next string is a key.
    expect_key: bool,
    key: Key,
}

/// The role of the value about to be read, given the open containers; counts `cells` elements.
enum Role {
    Root,
    Cells,
    Cell(usize),
    /// A `source` value (a string or an array of strings) of cell n.
    Source(usize),
    /// A string in cell n's `source` array.
    Piece(usize),
    Other,
}

fn role(stack: &[Frame], cells: &mut usize) -> Role {
    let Some(top) = stack.last() else {
        return Role::Root;
    };
    match (top.ctx, top.object, top.key) {
        (Ctx::Root, true, Key::Cells) => Role::Cells,
        (Ctx::Cells, false, _) => {
            *cells += 1;
            Role::Cell(*cells)
        }
        (Ctx::Cell(n), true, Key::Source) => Role::Source(n),
        (Ctx::Source(n), false, _) => Role::Piece(n),
        _ => Role::Other,
    }
}

/// The index of the quote that closes the JSON string opening at `open`.
fn string_end(data: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        let j = i + memchr2(b'"', b'\\', data.get(i..)?)?;
        if data[j] == b'"' {
            return Some(j);
        }
        i = j + 2;
    }
}

/// A key's meaning; keys are short, so decoding the rare escaped one costs nothing.
fn key_of(literal: &[u8]) -> Key {
    let mut name = Vec::new();
    unescape(literal, &mut name);
    match name.as_slice() {
        b"cells" => Key::Cells,
        b"source" => Key::Source,
        _ => Key::Other,
    }
}

/// Four hex digits.
fn hex4(b: Option<&[u8]>) -> Option<u32> {
    let b = b?;
    let s = std::str::from_utf8(b).ok()?;
    if s.len() != 4 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Appends the contents of a JSON string literal (without its quotes) to `out`, escapes
/// decoded as JSON defines them; a broken escape or an unpaired surrogate becomes U+FFFD, and
/// other bytes are copied as they are.
pub fn unescape(literal: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    let mut buf = [0u8; 4];
    while let Some(j) = memchr(b'\\', literal.get(i..).unwrap_or_default()) {
        out.extend_from_slice(&literal[i..i + j]);
        i += j + 2;
        let c = match literal.get(i - 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\x08',
            Some(b'f') => '\x0c',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => match hex4(literal.get(i..i + 4)) {
                Some(hi @ 0xD800..=0xDBFF) => {
                    i += 4;
                    let lo = if literal.get(i..i + 2) == Some(b"\\u") {
                        hex4(literal.get(i + 2..i + 6))
                    } else {
                        None
                    };
                    match lo {
                        Some(lo @ 0xDC00..=0xDFFF) => {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                .unwrap_or(char::REPLACEMENT_CHARACTER)
                        }
                        _ => char::REPLACEMENT_CHARACTER,
                    }
                }
                Some(u) => {
                    i += 4;
                    char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
                None => char::REPLACEMENT_CHARACTER,
            },
            _ => char::REPLACEMENT_CHARACTER,
        };
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    out.extend_from_slice(literal.get(i..).unwrap_or_default());
}

/// Builds the text of the cell sources as the walker finds their strings.
#[derive(Default)]
struct Builder {
    nb: Notebook,
    /// The cell being added to, and how many of its lines are started.
    cell: usize,
    lines_in_cell: usize,
    /// Whether the next byte added starts a line.
    at_line_start: bool,
}

impl Builder {
    /// Ends the current cell's source with a newline.
    fn end_cell(&mut self) {
        if self.cell != 0 && !self.at_line_start {
            self.nb.text.push(b'\n');
            self.at_line_start = true;
        }
    }

    /// Adds a decoded piece of cell `cell`'s source, from a JSON string at `file_line`.
    fn add(&mut self, cell: usize, file_line: usize, piece: &[u8]) {
        if cell != self.cell {
            self.end_cell();
            self.cell = cell;
            self.lines_in_cell = 0;
            self.at_line_start = true;
        }
        let mut rest = piece;
        while !rest.is_empty() {
            if self.at_line_start {
                self.lines_in_cell += 1;
                self.nb.lines.push(Place {
                    file_line,
                    cell,
                    line: self.lines_in_cell,
                });
                self.at_line_start = false;
            }
            match memchr(b'\n', rest) {
                Some(i) => {
                    self.nb.text.extend_from_slice(&rest[..=i]);
                    self.at_line_start = true;
                    rest = &rest[i + 1..];
                }
                None => {
                    self.nb.text.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
    }
}

/// A notebook's cell sources (`cells[i].source`, a string or an array of strings, of code,
/// markdown and raw cells alike) with the place of each line; `None` when `data` is not valid
/// JSON or has no top-level `cells` array with at least one element. Outputs and metadata are
/// not part of the text.
///
/// serde_json checks that the document is valid (it gives no positions); a small walker then
/// follows the containers, counting lines, to find the source strings and the line each one
/// starts on.
pub fn notebook(data: &[u8]) -> Option<Notebook> {
    serde_json::from_slice::<serde::de::IgnoredAny>(data).ok()?;
    let mut stack: Vec<Frame> = Vec::new();
    let mut cells = 0usize;
    let mut out = Builder::default();
    let mut piece = Vec::new();
    // Lines are counted lazily up to the strings that need them (valid JSON has newlines only
    // between tokens, never inside a string).
    let (mut line, mut counted) = (1usize, 0usize);
    let mut pos = 0;
    while pos < data.len() {
        let b = data[pos];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' | b':' => pos += 1,
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.expect_key = top.object;
                }
                pos += 1;
            }
            b'{' | b'[' => {
                let object = b == b'{';
                let ctx = match (role(&stack, &mut cells), object) {
                    (Role::Root, true) => Ctx::Root,
                    (Role::Cells, false) => Ctx::Cells,
                    (Role::Cell(n), true) => Ctx::Cell(n),
                    (Role::Source(n), false) => Ctx::Source(n),
                    _ => Ctx::Other,
                };
                if stack.len() >= MAX_DEPTH {
                    return None;
                }
                stack.push(Frame {
                    ctx,
                    object,
                    expect_key: object,
                    key: Key::Other,
                });
                pos += 1;
            }
            b'}' | b']' => {
                stack.pop();
                pos += 1;
            }
            b'"' => {
                let end = string_end(data, pos)?;
                let literal = &data[pos + 1..end];
                match stack.last_mut() {
                    Some(top) if top.object && top.expect_key => {
                        top.key = key_of(literal);
                        top.expect_key = false;
                    }
                    _ => {
                        if let Role::Source(n) | Role::Piece(n) = role(&stack, &mut cells) {
                            line += memchr::memchr_iter(b'\n', &data[counted..pos]).count();
                            counted = pos;
                            piece.clear();
                            unescape(literal, &mut piece);
                            out.add(n, line, &piece);
                        }
                    }
                }
                pos = end + 1;
            }
            _ => {
                // A number, `true`, `false` or `null`: counts as a cell if it is one.
                role(&stack, &mut cells);
                pos += data[pos..]
                    .iter()
                    .position(|c| matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n'))
                    .unwrap_or(data.len() - pos);
            }
        }
    }
    if cells == 0 {
        return None;
    }
    out.end_cell();
    Some(out.nb)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5d0c9e27a4b1f38c6e2d7a90b4c1e8f3";

    fn utf16(s: &str, le: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if le { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
        }
        for u in s.encode_utf16() {
            out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    }

    fn utf32(s: &str, le: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if le {
                &[0xFF, 0xFE, 0, 0]
            } else {
                &[0, 0, 0xFE, 0xFF]
            });
        }
        for c in s.chars() {
            let u = c as u32;
            out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    }

    fn config() -> String {
        format!("import os\r\n\r\nSECRET_KEY = \"{KEY}\"\r\nNAME = \"Zürich 東京 🎉\"\r\n")
    }

    #[test]
    fn every_encoding_with_and_without_mark_decodes() {
        let text = config();
        let cases = [
            (utf16(&text, true, true), Encoding::Utf16Le, 2),
            (utf16(&text, true, false), Encoding::Utf16Le, 0),
            (utf16(&text, false, true), Encoding::Utf16Be, 2),
            (utf16(&text, false, false), Encoding::Utf16Be, 0),
            (utf32(&text, true, true), Encoding::Utf32Le, 4),
            (utf32(&text, true, false), Encoding::Utf32Le, 0),
            (utf32(&text, false, true), Encoding::Utf32Be, 4),
            (utf32(&text, false, false), Encoding::Utf32Be, 0),
        ];
        for (data, enc, bom) in cases {
            assert_eq!(sniff(&data), Sniff::Unicode(enc, bom), "{enc:?} {bom}");
            assert!(!crate::detect::is_binary(&data), "{enc:?} {bom}");
            let d = decode(b"config.py", &data);
            assert_eq!(d.text(), text.as_bytes(), "{enc:?} {bom}");
            assert_eq!(d.encoding(), Some(enc));
            assert_eq!(for_diff(&data).as_ref(), text.as_bytes());
        }
    }

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        let text = config();
        assert_eq!(sniff(text.as_bytes()), Sniff::Plain);
        let d = decode(b"config.py", text.as_bytes());
        assert!(matches!(d.text, Cow::Borrowed(_)));
        assert!(matches!(for_diff(text.as_bytes()), Cow::Borrowed(_)));
        assert_eq!(d.encoding(), None);
        assert!(!d.is_notebook() && !d.is_binary());
        assert_eq!(d.place(1), None);
    }

    #[test]
    fn odd_lengths_and_broken_units_become_replacement_characters() {
        let mut d = utf16("ab", true, true);
        d.push(b'c');
        assert_eq!(decode(b"x", &d).text(), "ab\u{fffd}".as_bytes());
        let mut d = utf32("ab", false, true);
        d.extend_from_slice(&[0, 0]);
        assert_eq!(decode(b"x", &d).text(), "ab\u{fffd}".as_bytes());
        // A lone high surrogate, a lone low surrogate, a pair.
        let mut d = vec![0xFF, 0xFE];
        for u in [0x61u16, 0xD800, 0x62, 0xDC00, 0xD83C, 0xDF89] {
            d.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode(b"x", &d).text(), "a\u{fffd}b\u{fffd}🎉".as_bytes());
        // Past U+10FFFF and a surrogate in UTF-32.
        let mut d = vec![0, 0, 0xFE, 0xFF];
        for u in [0x61u32, 0x11_0000, 0xD800, 0x62] {
            d.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(decode(b"x", &d).text(), "a\u{fffd}\u{fffd}b".as_bytes());
        // Only a mark: empty text.
        assert_eq!(decode(b"x", &[0xFF, 0xFE]).text(), b"");
    }

    #[test]
    fn without_a_mark_broken_units_or_odd_lengths_are_binary() {
        let mut d = utf16(&config(), true, false);
        d.extend_from_slice(&0xD800u16.to_le_bytes());
        d.extend_from_slice(&0x61u16.to_le_bytes());
        assert_eq!(sniff(&d), Sniff::Binary);
        let mut d = utf16(&config(), true, false);
        d.push(b'\n');
        assert_eq!(sniff(&d), Sniff::Binary);
        // One unit is too little to tell.
        assert_eq!(sniff(b"a\0"), Sniff::Binary);
        assert_eq!(sniff(b"a\0b\0"), Sniff::Unicode(Encoding::Utf16Le, 0));
    }

    #[test]
    fn images_archives_and_compiled_files_stay_binary() {
        let mut noise = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.push(x as u8);
        }
        let with = |head: &[u8]| {
            let mut v = head.to_vec();
            v.extend_from_slice(&noise);
            v
        };
        let samples: Vec<(&str, Vec<u8>)> = vec![
            (
                "png",
                with(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0\0\0\x01\0\x08\x06\0\0\0"),
            ),
            ("zip", with(b"PK\x03\x04\x14\0\0\0\x08\0\x8e\x5a\x3b\x58")),
            (
                "pyc",
                with(b"\xcb\r\r\n\0\0\0\0\x12\x34\x56\x78\0\0\0\0\xe3\0\0\0"),
            ),
            (
                "exe",
                with(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0"),
            ),
            (
                "sqlite",
                with(b"SQLite format 3\0\x10\0\x01\x01\0\x40\x20\x20"),
            ),
            (
                "elf",
                with(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0"),
            ),
            ("gzip", with(b"\x1f\x8b\x08\0\0\0\0\0\0\x03")),
            // Text-like bytes in a binary container: still not UTF-16 text.
            (
                "blob",
                b"\x00\x01\x02PNG import os\nSECRET_KEY = \"x\"\n".to_vec(),
            ),
            ("nul-text", b"abc\0def\0ghi\n\0\0\0\0".to_vec()),
        ];
        for (name, data) in &samples {
            assert_eq!(sniff(data), Sniff::Binary, "{name}");
            assert!(crate::detect::is_binary(data), "{name}");
            let d = decode(b"x.bin", data);
            assert!(d.is_binary() && d.text() == data.as_slice(), "{name}");
            assert!(matches!(for_diff(data), Cow::Borrowed(_)), "{name}");
        }
        // Windows-style UTF-16 text without a mark: a .reg export, a PowerShell script.
        let reg = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Software\\Acme]\r\n\"Token\"=\"3f9a\"\r\n";
        assert_eq!(
            sniff(&utf16(reg, true, false)),
            Sniff::Unicode(Encoding::Utf16Le, 0)
        );
        let ps = "$env:SECRET_KEY = 'a1b2'\r\nWrite-Host \"Grüße\"\r\n";
        assert_eq!(
            sniff(&utf16(ps, true, false)),
            Sniff::Unicode(Encoding::Utf16Le, 0)
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet: &[u8] = b"\0\xff\xfe\xd8\xdc\"\\{}[]:,u0aD\n ";
        for round in 0..3000 {
            let len = (next() % 64) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        alphabet[(r % alphabet.len() as u64) as usize]
                    } else {
                        r as u8
                    }
                })
                .collect();
            let d = decode(b"n.ipynb", &data);
            let _ = (d.text(), d.place(1), for_diff(&data));
            let mut out = Vec::new();
            unescape(&data, &mut out);
            let _ = notebook(&data);
        }
    }

    #[test]
    fn unescape_agrees_with_serde_json() {
        for s in [
            r#""plain""#,
            r#""app.config[\"SECRET_KEY\"] = \"x\"\n""#,
            r#""tab\tslash\/back\\ \b\f\r""#,
            r#""\u00e9\u6771\ud83c\udf89 \u0041""#,
            "\"raw ü and 東\"",
        ] {
            let want: String = serde_json::from_str(s).unwrap();
            let mut got = Vec::new();
            unescape(&s.as_bytes()[1..s.len() - 1], &mut got);
            assert_eq!(got, want.as_bytes(), "{s}");
        }
        let mut got = Vec::new();
        unescape(br"a\ud800b\udc00c\u12\q\", &mut got);
        assert_eq!(
            got,
            "a\u{fffd}b\u{fffd}c\u{fffd}12\u{fffd}\u{fffd}".as_bytes()
        );
    }

    /// A notebook as Jupyter writes it: one JSON string per source line, one per file line.
    fn sample_notebook() -> String {
        format!(
            r##"{{
 "cells": [
  {{
   "cell_type": "markdown",
   "metadata": {{}},
   "source": [
    "# Setup\n",
    "Keys come from \"the vault\"."
   ]
  }},
  {{
   "cell_type": "code",
   "execution_count": 1,
   "metadata": {{}},
   "outputs": [
    {{
     "name": "stdout",
     "output_type": "stream",
     "text": [
      "SECRET_KEY = \"0f1e2d3c4b5a69788796a5b4c3d2e1f0\"\n"
     ]
    }}
   ],
   "source": [
    "from flask import Flask\n",
    "app = Flask(__name__)\n",
    "app.config[\"SECRET_KEY\"] = \"{KEY}\"\n",
    "app.run(debug=True)"
   ]
  }},
  {{
   "cell_type": "raw",
   "metadata": {{"source": ["not a cell source\n"]}},
   "source": "one string\nSECRET_KEY = 'Qm4-vT9_zR2pL7wX'"
  }}
 ],
 "metadata": {{"source": "not a cell"}},
 "nbformat": 4,
 "nbformat_minor": 5
}}
"##
        )
    }

    #[test]
    fn notebook_cells_become_one_text_with_their_places() {
        let nb = notebook(sample_notebook().as_bytes()).expect("a notebook");
        let want = format!(
            "# Setup\nKeys come from \"the vault\".\n\
             from flask import Flask\napp = Flask(__name__)\n\
             app.config[\"SECRET_KEY\"] = \"{KEY}\"\napp.run(debug=True)\n\
             one string\nSECRET_KEY = 'Qm4-vT9_zR2pL7wX'\n"
        );
        assert_eq!(String::from_utf8_lossy(&nb.text), want);
        let p = |file_line, cell, line| Place {
            file_line,
            cell,
            line,
        };
        assert_eq!(
            nb.lines,
            vec![
                p(7, 1, 1),
                p(8, 1, 2),
                p(25, 2, 1),
                p(26, 2, 2),
                p(27, 2, 3),
                p(28, 2, 4),
                p(34, 3, 1),
                p(34, 3, 2),
            ]
        );
        // The file lines really hold those strings.
        let file = sample_notebook();
        let lines: Vec<&str> = file.lines().collect();
        assert!(lines[26].contains(r#"app.config[\"SECRET_KEY\"]"#));
        assert!(lines[33].contains(r#""source": "one string"#));
        // Outputs are not in the text.
        assert!(!want.contains("0f1e2d3c"));
    }

    #[test]
    fn a_source_line_split_over_strings_starts_where_its_first_piece_is() {
        let nb = notebook(b"{\"cells\": [\n{\"source\": [\"a = \",\n \"1\\nb = 2\\n\",\n \"c\"]},\n 7,\n {\"source\": []},\n {\"source\": \"\\u0064\"}]}")
            .unwrap();
        assert_eq!(nb.text, b"a = 1\nb = 2\nc\nd\n");
        let places: Vec<(usize, usize, usize)> = nb
            .lines
            .iter()
            .map(|p| (p.file_line, p.cell, p.line))
            .collect();
        assert_eq!(places, vec![(2, 1, 1), (3, 1, 2), (4, 1, 3), (7, 4, 1)]);
    }

    #[test]
    fn invalid_or_cell_less_notebooks_are_scanned_raw() {
        for raw in [
            &b""[..],
            b"{",
            b"{\"cells\": []}",
            b"{\"cells\": {\"source\": \"x\"}}",
            b"[{\"cells\": [{\"source\": \"x\"}]}]",
            b"{\"nbformat\": 4}",
            b"{\"cells\": [{\"source\": \"x\"}]} trailing",
            b"{\"cells\": [{\"source\": \"x\n\"}]}",
        ] {
            assert_eq!(notebook(raw), None, "{}", String::from_utf8_lossy(raw));
            let d = decode(b"a.ipynb", raw);
            assert!(!d.is_notebook());
            assert_eq!(d.text(), raw);
        }
        let deep = format!("{{\"cells\": [{}{}]}}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(notebook(deep.as_bytes()), None);
    }

    #[test]
    fn notebooks_are_decoded_only_at_notebook_paths_and_in_any_encoding() {
        let file = sample_notebook();
        assert!(!decode(b"cells.json", file.as_bytes()).is_notebook());
        for path in [&b"a.ipynb"[..], b"dir/Analysis.IPYNB"] {
            let d = decode(path, file.as_bytes());
            assert!(d.is_notebook());
            assert_eq!(d.place(5).map(|p| (p.file_line, p.cell)), Some((27, 2)));
            assert_eq!(d.place(9), None);
            assert_eq!(d.place(0), None);
        }
        let wide = utf16(&file, true, true);
        let d = decode(b"a.ipynb", &wide);
        assert!(d.is_notebook());
        assert_eq!(d.place(5).map(|p| p.file_line), Some(27));
    }

    #[test]
    fn the_detector_reports_decoded_lines_and_values() {
        let rules = crate::rules::builtin().unwrap();
        let text = config();
        let plain = rules.scan(b"config.py", text.as_bytes());
        assert_eq!(plain.len(), 1);
        for data in [
            utf16(&text, true, true),
            utf16(&text, false, false),
            utf32(&text, true, false),
        ] {
            let found = rules.scan(b"config.py", &data);
            assert_eq!(found.len(), 1);
            let (m, p) = (&found[0], &plain[0]);
            assert_eq!((m.line, m.column, &m.value), (3, 15, &p.value));
            assert_eq!(m.value, KEY.as_bytes());
            assert_eq!(m.cell, None);
        }
        let found = rules.scan(b"nb/analysis.ipynb", sample_notebook().as_bytes());
        let got: Vec<_> = found
            .iter()
            .map(|m| (rules.rules[m.rule].id.as_str(), m.line, m.cell))
            .collect();
        assert_eq!(
            got,
            vec![
                ("flask-secret-key", 27, Some((2, 3))),
                ("flask-debug", 28, Some((2, 4))),
                ("flask-secret-key", 34, Some((3, 2))),
            ]
        );
        assert_eq!(found[0].value, KEY.as_bytes());
        // As raw JSON (not at a notebook path) the escaped forms match nothing.
        assert!(rules
            .scan(b"nb/analysis.json", sample_notebook().as_bytes())
            .iter()
            .all(|m| rules.rules[m.rule].id != "flask-secret-key"));
    }
}
