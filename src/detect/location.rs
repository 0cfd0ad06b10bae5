//! Lines: where a byte offset is, what line holds it, and which blocks enclose it.
//!
//! Everything here is bounded so that a file of one 50 MB line or a hundred thousand lines costs
//! no more than the bytes around each candidate match.

use memchr::{memchr, memrchr};

/// How far back from a keyword the start of its line is looked for.
pub const MAX_BACK: usize = 1024;
/// How far past a keyword the end of its line is looked for.
pub const MAX_FWD: usize = 2048;
/// How many lines up the enclosing-block check looks.
const MAX_LINES_UP: usize = 4000;

/// The start of the line holding `pos`, looking back at most `limit` bytes.
pub fn line_start(data: &[u8], pos: usize, limit: usize) -> usize {
    let from = pos.saturating_sub(limit);
    match memrchr(b'\n', &data[from..pos]) {
        Some(i) => from + i + 1,
        None => from,
    }
}

/// The end (exclusive, before the newline) of the line holding `pos`, looking at most `limit`
/// bytes ahead.
pub fn line_end(data: &[u8], pos: usize, limit: usize) -> usize {
    let to = pos.saturating_add(limit).min(data.len());
    match memchr(b'\n', &data[pos.min(to)..to]) {
        Some(i) => pos + i,
        None => to,
    }
}

/// The whole line holding `pos` (unbounded; used only for matches already found).
pub fn line_at(data: &[u8], pos: usize) -> &[u8] {
    let s = match memrchr(b'\n', &data[..pos]) {
        Some(i) => i + 1,
        None => 0,
    };
    let e = match memchr(b'\n', &data[pos..]) {
        Some(i) => pos + i,
        None => data.len(),
    };
    &data[s..e]
}

/// Counts lines incrementally for offsets visited in increasing order.
#[derive(Debug, Default)]
pub struct LineCounter {
    offset: usize,
    line: usize,
    line_start: usize,
}

impl LineCounter {
    /// A counter at the start of the data.
    pub fn new() -> Self {
        LineCounter {
            offset: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// The 1-based line and 1-based byte column of `pos`; `pos` must not decrease between calls.
    pub fn locate(&mut self, data: &[u8], pos: usize) -> (usize, usize) {
        if pos < self.offset {
            *self = LineCounter::new();
        }
        for i in memchr::memchr_iter(b'\n', &data[self.offset..pos]) {
            self.line += 1;
            self.line_start = self.offset + i + 1;
        }
        self.offset = pos;
        (self.line, pos - self.line_start + 1)
    }
}

fn indent_of(line: &[u8]) -> Option<usize> {
    let n = line
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    match line.get(n) {
        None | Some(b'#') | Some(b'\r') => None,
        Some(_) => Some(n),
    }
}

/// The headers of the indented blocks enclosing the line that starts at `start`, innermost
/// first: the `class DevelopmentConfig:` or `if os.environ.get(...)` above a Python line, the
/// `dev:` service above a compose entry.
pub fn enclosing_headers(data: &[u8], start: usize) -> Vec<&[u8]> {
    let mut headers = Vec::new();
    let first = &data[start..line_end(data, start, usize::MAX)];
    let Some(mut indent) = indent_of(first) else {
        return headers;
    };
    let mut end = start;
    let mut lines = 0;
    while indent > 0 && end > 0 && lines < MAX_LINES_UP {
        let s = line_start(data, end - 1, usize::MAX);
        let line = &data[s..end - 1];
        end = s;
        lines += 1;
        if let Some(i) = indent_of(line) {
            if i < indent {
                headers.push(line);
                indent = i;
            }
        }
    }
    headers
}

/// The indentation stack of a text, built top-down, so that the enclosing headers of lines
/// visited in increasing order cost one pass over the text in all (instead of a walk up to
/// `MAX_LINES_UP` lines for each match: quadratic on a file with a match on every line).
/// It gives exactly what [`enclosing_headers`] gives.
#[derive(Debug, Default)]
pub struct BlockStack {
    /// Start of the next line to take in.
    next: usize,
    /// How many lines were taken in.
    lines: usize,
    /// Lines with an indentation, each indented deeper than the one below it:
    /// (indentation, start, end, line index).
    stack: Vec<(usize, usize, usize, usize)>,
}

impl BlockStack {
    /// A stack at the start of the text.
    pub fn new() -> Self {
        Self::default()
    }

    /// The headers of the blocks enclosing the line that starts at `start`, innermost first;
    /// the same as [`enclosing_headers`]. Cheapest when `start` does not decrease between calls.
    pub fn headers<'a>(&mut self, data: &'a [u8], start: usize) -> Vec<&'a [u8]> {
        if start < self.next {
            *self = BlockStack::new();
        }
        while self.next < start {
            let s = self.next;
            let e = line_end(data, s, usize::MAX);
            if let Some(i) = indent_of(&data[s..e]) {
                while self.stack.last().is_some_and(|t| t.0 >= i) {
                    self.stack.pop();
                }
                self.stack.push((i, s, e, self.lines));
            }
            self.lines += 1;
            self.next = e + 1;
        }
        let mut headers = Vec::new();
        let first = &data[start..line_end(data, start, usize::MAX)];
        let Some(mut indent) = indent_of(first) else {
            return headers;
        };
        for &(i, s, e, n) in self.stack.iter().rev() {
            if indent == 0 || self.lines - n > MAX_LINES_UP {
                break;
            }
            if i < indent {
                headers.push(&data[s..e]);
                indent = i;
            }
        }
        headers
    }
}

/// Whether `path` names a Dockerfile (`Dockerfile`, `Dockerfile.dev`, `api.dockerfile`,
/// `Containerfile`): its build stages are its blocks ([`dockerfile_stage`]).
pub fn is_dockerfile(path: &[u8]) -> bool {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    lower.starts_with(b"dockerfile")
        || lower.starts_with(b"containerfile")
        || lower.ends_with(b".dockerfile")
}

/// The `FROM` line of the Dockerfile build stage holding the line that starts at `start`
/// (`FROM python:3.12 AS development`): a multi-stage Dockerfile's stages are not indented,
/// but a development stage is a development place as much as an indented development block.
/// `None` before the first `FROM`.
pub fn dockerfile_stage(data: &[u8], start: usize) -> Option<&[u8]> {
    let mut end = start.min(data.len());
    while end > 0 {
        let s = line_start(data, end - 1, usize::MAX);
        let line = &data[s..end - 1];
        let t = line.trim_ascii_start();
        if t.len() > 5 && t[..4].eq_ignore_ascii_case(b"FROM") && t[4].is_ascii_whitespace() {
            return Some(line);
        }
        end = s;
    }
    None
}

/// Whether `path` names a Compose file (`docker-compose.yml`, `docker-compose.dev.yaml`,
/// `compose.yml`): a service's build target says which Dockerfile stage it runs
/// ([`compose_build_target`]).
pub fn is_compose_file(path: &[u8]) -> bool {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    (lower.starts_with(b"docker-compose") || lower.starts_with(b"compose"))
        && (lower.ends_with(b".yml") || lower.ends_with(b".yaml"))
}

/// The `target:` line of the build of the Compose service enclosing a line, given that line's
/// enclosing `headers` (innermost first, as [`BlockStack::headers`] gives them): a service
/// built from a Dockerfile's development stage (`target: development`) runs only in
/// development, whatever the service is called. `None` when the line is not inside a service
/// or its service names no target.
pub fn compose_build_target<'a>(data: &'a [u8], headers: &[&'a [u8]]) -> Option<&'a [u8]> {
    let i = headers
        .windows(2)
        .position(|w| w[1].trim_ascii() == b"services:")?;
    let service = headers[i];
    let indent = indent_of(service)?;
    let mut pos = service.as_ptr() as usize - data.as_ptr() as usize + service.len();
    while pos < data.len() {
        let s = pos + 1;
        let e = line_end(data, s.min(data.len()), usize::MAX);
        let line = &data[s.min(e)..e];
        pos = e;
        match indent_of(line) {
            None => continue,
            Some(n) if n <= indent => return None,
            Some(_) => {}
        }
        let t = line.trim_ascii();
        if let Some(rest) = t.strip_prefix(b"target:") {
            if !rest.trim_ascii().is_empty() {
                return Some(line);
            }
        }
    }
    None
}

/// How far around a line the enclosing function is looked for.
const MAX_BLOCK: usize = 64 << 10;

/// The Python function (with its decorators) enclosing the line that starts at `start`: from
/// the first decorator above the innermost enclosing `def` to the end of its body. `None` when
/// the line is not inside a function.
pub fn enclosing_function(data: &[u8], start: usize) -> Option<&[u8]> {
    let header = enclosing_def(data, &enclosing_headers(data, start))?;
    Some(function_at(data, header))
}

/// Where the innermost `def` among `headers` (as [`enclosing_headers`] gives them) starts.
pub fn enclosing_def(data: &[u8], headers: &[&[u8]]) -> Option<usize> {
    let is_def = |l: &[u8]| {
        let t = l.trim_ascii_start();
        t.starts_with(b"def ") || t.starts_with(b"async def ")
    };
    let header = headers.iter().find(|h| is_def(h))?;
    Some(header.as_ptr() as usize - data.as_ptr() as usize)
}

/// The function whose `def` line starts at `header_start`, with its decorators and its body.
pub fn function_at(data: &[u8], header_start: usize) -> &[u8] {
    let header = &data[header_start..line_end(data, header_start, usize::MAX)];
    let indent = indent_of(header).unwrap_or(0);
    // Decorators directly above, at the same indentation.
    let mut begin = header_start;
    let floor = header_start.saturating_sub(MAX_BLOCK);
    while begin > floor {
        let s = line_start(data, begin - 1, usize::MAX);
        let line = &data[s..begin - 1];
        let t = line.trim_ascii_start();
        if indent_of(line) == Some(indent) && t.starts_with(b"@") {
            begin = s;
        } else {
            break;
        }
    }
    // The body: every following line indented deeper, blank lines and comments included.
    let mut end = line_end(data, header_start, usize::MAX);
    let ceiling = (header_start + MAX_BLOCK).min(data.len());
    while end < ceiling {
        let s = end + 1;
        let e = line_end(data, s, usize::MAX);
        match indent_of(&data[s..e]) {
            Some(i) if i <= indent => break,
            _ => end = e,
        }
        if e >= data.len() {
            break;
        }
    }
    &data[begin..end.min(data.len())]
}

/// Beyond this offset the docstring check gives up (and says "not in a string").
const MAX_TOKENIZE: usize = 4 << 20;

/// The triple-quoted strings of a Python text, in order, as the ranges
/// [`python_triple_strings`] returns, found by the rules Python's own tokenizer uses to find
/// where a string ends:
///
/// - outside strings, `#` starts a comment that runs to the end of the line, and a quote always
///   starts a string (a prefix such as `r`, `b`, `f` or `rb`, in any case, changes what the
///   string means, never where it ends);
/// - inside a string, a backslash takes the character after it (two, for `\r\n`) out of the
///   search for the end, even in a raw string (`r"\""` is one string);
/// - a one-line string ends at its unescaped quote or, unterminated, at an unescaped newline; a
///   triple-quoted one at the first unescaped run of its three quotes, or never.
///
/// Each byte is looked at a bounded number of times, so a pass costs time linear in the text.
/// What the scan decides at a place depends only on the text before it and the three bytes after
/// it, so a scan of a prefix of the text says the same as a scan of the whole text about every
/// position up to the prefix's end (which [`in_python_triple_string`] relies on).
struct TripleStrings<'a> {
    data: &'a [u8],
    /// Where the scan resumes, outside any string or comment.
    next: usize,
}

impl<'a> TripleStrings<'a> {
    fn new(data: &'a [u8]) -> Self {
        TripleStrings { data, next: 0 }
    }
}

/// Where the string whose text starts at `from`, quoted by `q` (three times when `triple`),
/// ends: just after its closing quotes, or, for an unterminated one-line string, at the newline
/// that ends it. `None` when the text ends first.
fn string_end(data: &[u8], from: usize, q: u8, triple: bool) -> Option<usize> {
    let mut j = from;
    loop {
        let rest = data.get(j..)?;
        let n = if triple {
            memchr::memchr2(b'\\', q, rest)
        } else {
            memchr::memchr3(b'\\', q, b'\n', rest)
        }?;
        let k = j + n;
        match data[k] {
            b'\\' => {
                j = k + if data[k + 1..].starts_with(b"\r\n") {
                    3
                } else {
                    2
                }
            }
            b'\n' => return Some(k),
            _ if !triple => return Some(k + 1),
            _ if data[k..].starts_with(&[q, q, q]) => return Some(k + 3),
            _ => j = k + 1,
        }
    }
}

/// Whether the first token after `p` (past blanks, newlines and comments, within a few lines)
/// looks like the start of a string literal: a cheap test before the bracket depth is asked.
fn literal_follows(data: &[u8], mut p: usize) -> bool {
    let limit = p.saturating_add(4096).min(data.len());
    while p < limit {
        match data[p] {
            b' ' | b'\t' | b'\x0c' | b'\r' | b'\n' => p += 1,
            b'#' => match memchr(b'\n', &data[p..limit]) {
                Some(n) => p += n + 1,
                None => return false,
            },
            _ => {
                let letters = data[p..limit]
                    .iter()
                    .take(3)
                    .take_while(|b| b.is_ascii_alphabetic())
                    .count();
                return is_string_prefix(&data[p..p + letters])
                    && matches!(data.get(p + letters), Some(b'"' | b'\''));
            }
        }
    }
    false
}

/// Whether Python takes these letters before a quote as a string prefix (in any case): `r`,
/// `u`, `b`, `f`, `br`, `rb`, `fr`, `rf`, or none. Other letters are a name.
fn is_string_prefix(p: &[u8]) -> bool {
    let lower = p.to_ascii_lowercase();
    matches!(
        &lower[..],
        b"" | b"r" | b"u" | b"b" | b"f" | b"br" | b"rb" | b"fr" | b"rf"
    )
}

/// The closing quote of the one-line string whose text starts at `from`, quoted by `q`; `None`
/// when it is unterminated (a newline or the end of the text comes first).
fn closing_quote(data: &[u8], from: usize, q: u8) -> Option<usize> {
    let mut j = from;
    loop {
        let k = j + memchr::memchr3(b'\\', q, b'\n', data.get(j..)?)?;
        match data[k] {
            b'\\' => {
                j = k + if data[k + 1..].starts_with(b"\r\n") {
                    3
                } else {
                    2
                }
            }
            b'\n' => return None,
            _ => return Some(k),
        }
    }
}

impl Iterator for TripleStrings<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let d = self.data;
        loop {
            let i = self.next + memchr::memchr3(b'#', b'"', b'\'', d.get(self.next..)?)?;
            match d[i] {
                b'#' => match memchr(b'\n', &d[i..]) {
                    Some(n) => self.next = i + n + 1,
                    None => {
                        self.next = d.len();
                        return None;
                    }
                },
                q if d[i..].starts_with(&[q, q, q]) => {
                    let start = i + 3;
                    return Some(match string_end(d, start, q, true) {
                        Some(end) => {
                            self.next = end;
                            (start, end)
                        }
                        None => {
                            self.next = d.len();
                            (start, usize::MAX)
                        }
                    });
                }
                q => self.next = string_end(d, i + 1, q, false).unwrap_or(d.len()),
            }
        }
    }
}

/// Whether `pos` lies inside a Python triple-quoted string (a docstring, usually prose or an
/// example): exactly what [`in_triple_strings`] says of [`python_triple_strings`], found by
/// scanning only the text before `pos`, for a caller with one position to ask about.
pub fn in_python_triple_string(data: &[u8], pos: usize) -> bool {
    if pos > MAX_TOKENIZE {
        return false;
    }
    // A string that closes in the text before `pos` closes before `pos`: only one still open
    // at the end of that text can hold `pos`.
    TripleStrings::new(&data[..pos.min(data.len())])
        .last()
        .is_some_and(|(_, end)| end == usize::MAX)
}

/// Every triple-quoted Python string, as the byte ranges where [`in_python_triple_string`]
/// says "inside": from just after the opening quotes to just after the closing ones (to the end
/// of time when it is never closed, or not closed within the first `MAX_TOKENIZE` bytes).
/// One pass over the text, for all the matches in it; the strings are found by the rules of
/// Python's own tokenizer (see `TripleStrings`), so that code after a string with escaped
/// quotes in it is still seen as code.
pub fn python_triple_strings(data: &[u8]) -> Vec<(usize, usize)> {
    TripleStrings::new(&data[..data.len().min(MAX_TOKENIZE)]).collect()
}

/// Python's bracket depth, tracked top-down over a text (strings and comments skipped by the
/// rules `TripleStrings` follows), so that the depths asked for at increasing positions cost
/// one pass in all. Inside brackets a newline does not end a statement: string literals on the
/// following lines still join the one before ([`python_concatenation`]).
#[derive(Debug, Default)]
pub struct Brackets {
    /// Where the scan resumes, outside any string or comment.
    next: usize,
    /// The depth at `next`: below zero after a closing bracket that nothing opened, as
    /// Python's tokenizer counts (such text is not valid Python; the count goes on).
    depth: isize,
    /// The last position asked about: a position before it starts the scan over.
    asked: usize,
}

impl Brackets {
    /// A tracker at the start of the text.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of brackets (`(`, `[`, `{`) open at `pos`, which should be outside strings
    /// and comments. A position inside a string or comment (a place where no literal starts)
    /// gets the depth before that string. Beyond `MAX_TOKENIZE` the answer is 0.
    pub fn depth_at(&mut self, data: &[u8], pos: usize) -> isize {
        if pos > MAX_TOKENIZE || pos > data.len() {
            return 0;
        }
        if pos < self.asked {
            *self = Brackets::new();
        }
        self.asked = pos;
        while self.next < pos {
            let Some(n) = data[self.next..pos].iter().position(|b| {
                matches!(
                    b,
                    b'#' | b'"' | b'\'' | b'(' | b'[' | b'{' | b')' | b']' | b'}'
                )
            }) else {
                self.next = pos;
                break;
            };
            let i = self.next + n;
            match data[i] {
                b'#' => {
                    self.next = match memchr(b'\n', &data[i..]) {
                        Some(n) => i + n + 1,
                        None => data.len(),
                    }
                }
                b'(' | b'[' | b'{' => {
                    self.depth += 1;
                    self.next = i + 1;
                }
                b')' | b']' | b'}' => {
                    self.depth -= 1;
                    self.next = i + 1;
                }
                q if data[i..].starts_with(&[q, q, q]) => {
                    self.next = string_end(data, i + 3, q, true).unwrap_or(data.len());
                }
                q => self.next = string_end(data, i + 1, q, false).unwrap_or(data.len()),
            }
        }
        self.depth
    }
}

/// At most this many literals are joined into one value.
const MAX_PARTS: usize = 64;

/// The string literals that Python joins to the one-line literal whose text is `first` (from
/// just after its opening quote to its closing quote) by implicit concatenation: the literals
/// that follow it separated only by blanks, by `\` line continuations, or, when the first one
/// is inside brackets (`brackets` gives the depth), by newlines and comments too:
///
/// ```text
/// SECRET_KEY = ("8f42a73054b1"    # the first part
///               "749f8f58848b")
/// ```
///
/// Each literal is given as the range of its text, without prefix and quotes. A literal may
/// carry its own prefix (`f"..."`, `rb'...'`); a triple-quoted one, or an unterminated one,
/// ends the chain (as does anything else: an operator, a name, a closing bracket).
pub fn python_concatenation(
    data: &[u8],
    first: (usize, usize),
    brackets: &mut Brackets,
) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let (start, end) = first;
    let Some(&q) = data.get(end) else {
        return parts;
    };
    if start == 0 || data.get(start - 1) != Some(&q) || !matches!(q, b'"' | b'\'') {
        return parts;
    }
    let mut inside: Option<bool> = None;
    let mut p = end + 1;
    while parts.len() < MAX_PARTS {
        while matches!(data.get(p), Some(b' ' | b'\t' | b'\x0c')) {
            p += 1;
        }
        match data.get(p) {
            Some(b'\\') => {
                let rest = &data[p + 1..];
                if rest.starts_with(b"\n") {
                    p += 2;
                } else if rest.starts_with(b"\r\n") {
                    p += 3;
                } else {
                    break;
                }
            }
            Some(b'#' | b'\r' | b'\n') => {
                // The depth is asked only when a literal does follow (most values end a
                // statement: nothing to join, and no need to know the brackets).
                if inside.is_none() && !literal_follows(data, p) {
                    break;
                }
                if !*inside.get_or_insert_with(|| brackets.depth_at(data, start - 1) > 0) {
                    break;
                }
                if data[p] == b'#' {
                    match memchr(b'\n', &data[p..]) {
                        Some(n) => p += n,
                        None => break,
                    }
                }
                p += 1;
            }
            Some(_) => {
                let prefix = data[p..]
                    .iter()
                    .take(3)
                    .take_while(|b| b.is_ascii_alphabetic())
                    .count();
                let o = p + prefix;
                let Some(&q) = data.get(o) else { break };
                if !is_string_prefix(&data[p..o])
                    || !matches!(q, b'"' | b'\'')
                    || data[o..].starts_with(&[q, q, q])
                {
                    break;
                }
                match closing_quote(data, o + 1, q) {
                    Some(c) => {
                        parts.push((o + 1, c));
                        p = c + 1;
                    }
                    None => break,
                }
            }
            None => break,
        }
    }
    parts
}

/// Whether `pos` is inside one of the ranges [`python_triple_strings`] returned.
pub fn in_triple_strings(ranges: &[(usize, usize)], pos: usize) -> bool {
    if pos > MAX_TOKENIZE {
        return false;
    }
    let i = ranges.partition_point(|&(s, _)| s <= pos);
    i > 0 && pos < ranges[i - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_columns() {
        let d = b"ab\ncd\n\nxyz";
        let mut c = LineCounter::new();
        assert_eq!(c.locate(d, 0), (1, 1));
        assert_eq!(c.locate(d, 4), (2, 2));
        assert_eq!(c.locate(d, 8), (4, 2));
        assert_eq!(line_at(d, 4), b"cd");
        assert_eq!(line_at(d, 6), b"");
    }

    #[test]
    fn finds_the_enclosing_function() {
        let d = b"x = 1\n\n@app.route('/a', methods=['DELETE'])\ndef a():\n    uid = request.args['user_id']\n\n    db.session.delete(x)\ny = 2\n";
        let pos = d.windows(8).position(|w| w == b"    uid ").unwrap();
        let f = enclosing_function(d, pos).unwrap();
        assert!(f.starts_with(b"@app.route"));
        assert!(f.ends_with(b"db.session.delete(x)"));
        assert!(enclosing_function(d, 0).is_none());
    }

    #[test]
    fn knows_docstrings() {
        let d = b"x = '\"\"\"'  # '''\ndef f():\n    \"\"\"Doc\n    DEBUG = True\n    \"\"\"\n    DEBUG = True\n";
        let first = d.windows(5).position(|w| w == b"DEBUG").unwrap();
        let second = d.len() - 13;
        assert!(in_python_triple_string(d, first));
        assert!(!in_python_triple_string(d, second));
    }

    /// The ranges of `text`, after checking that the one-position check agrees with them
    /// everywhere (and past the end).
    #[track_caller]
    fn ranges(text: &str) -> Vec<(usize, usize)> {
        let d = text.as_bytes();
        let r = python_triple_strings(d);
        for pos in 0..=d.len() + 2 {
            assert_eq!(
                in_python_triple_string(d, pos),
                in_triple_strings(&r, pos),
                "{text:?} at {pos}"
            );
        }
        r
    }

    /// Where `needle` starts in `text`.
    fn at(text: &str, needle: &str) -> usize {
        text.find(needle).expect("the needle is in the text")
    }

    #[test]
    fn code_after_an_escaped_quote_in_a_docstring_is_code() {
        let t = "N = \"\"\"a\\\"\"\"\n\"\"\"\nSECRET_KEY = \"8f42c1d9e7b3a5f60c2d4e8a1b9f7c3e\"\napp.run(debug=True)\n";
        // `a\"""` and a newline, closed by the quotes that start line 2.
        assert_eq!(ranges(t), vec![(7, at(t, "\nSECRET"))]);
        assert!(!in_python_triple_string(t.as_bytes(), at(t, "SECRET_KEY")));
        assert!(!in_python_triple_string(t.as_bytes(), at(t, "app.run")));
    }

    #[test]
    fn escapes_before_the_closing_quotes() {
        // `\"` then the closing quotes: the string is `a\"`.
        let t = "x = \"\"\"a\\\"\"\"\"\nDEBUG = True\n";
        assert_eq!(ranges(t), vec![(7, at(t, "\nDEBUG"))]);
        let t = "x = '''a\\''''\nDEBUG = True\n";
        assert_eq!(ranges(t), vec![(7, at(t, "\nDEBUG"))]);
        // `\\` is an escaped backslash: the quotes after it close the string.
        let t = "x = \"\"\"a\\\\\"\"\"\nDEBUG = True\n";
        assert_eq!(ranges(t), vec![(7, at(t, "\nDEBUG"))]);
        // ... and close a one-line string, so the docstring after it is one.
        let t = "x = \"a\\\\\"; y = \"\"\"doc\"\"\"\n";
        assert_eq!(ranges(t), vec![(at(t, "doc"), at(t, "\n"))]);
        // A fourth quote after the closing three starts a one-line string.
        let t = "\"\"\"a\"\"\"\"\nx = '''b'''\n";
        assert_eq!(ranges(t), vec![(3, 7), (at(t, "b'"), t.len() - 1)]);
    }

    #[test]
    fn raw_strings_end_where_other_strings_do() {
        // Python: `r'\''` is one string, so `'''doc'''` is a docstring.
        for prefix in ["r", "R", "b", "rb", "Br", "f", "rF", "u", ""] {
            let t = format!("x = {prefix}'\\'' + '''doc'''\n");
            assert_eq!(ranges(&t), vec![(at(&t, "doc"), t.len() - 1)], "{t:?}");
            let t = format!("x = {prefix}\"\"\"a\\\"\"\"\"\nDEBUG = True\n");
            let s = at(&t, "a\\");
            assert_eq!(ranges(&t), vec![(s, at(&t, "\nDEBUG"))], "{t:?}");
        }
    }

    #[test]
    fn comments_and_strings_hide_each_other() {
        // A `#` in a string is not a comment.
        let t = "x = \"# not a comment\"; y = '''doc'''\n";
        assert_eq!(ranges(t), vec![(at(t, "doc"), t.len() - 1)]);
        let t = "x = '''a # b'''\nDEBUG = True\n";
        assert_eq!(ranges(t), vec![(7, at(t, "\nDEBUG"))]);
        // Quotes in a comment start nothing.
        let t = "# it's \"\"\" here\nDEBUG = True\n# '''\n";
        assert_eq!(ranges(t), vec![]);
        // Not even a backslash at its end.
        let t = "# \\\n'''doc'''\n";
        assert_eq!(ranges(t), vec![(at(t, "doc"), t.len() - 1)]);
    }

    #[test]
    fn unterminated_strings() {
        // A triple-quoted string never closed runs to the end of the text.
        let t = "x = \"\"\"abc\nDEBUG = True\n";
        assert_eq!(ranges(t), vec![(7, usize::MAX)]);
        assert!(in_python_triple_string(t.as_bytes(), t.len()));
        assert_eq!(ranges("\"\"\"\""), vec![(3, usize::MAX)]);
        assert_eq!(ranges("'''a\\'''"), vec![(3, usize::MAX)]);
        // A one-line string ends at the end of its line.
        let t = "x = \"abc\ny = \"\"\"doc\"\"\"\n";
        assert_eq!(ranges(t), vec![(at(t, "doc"), t.len() - 1)]);
        // ... unless the newline is escaped: then it goes on, and here ends at the first quote.
        assert_eq!(ranges("x = \"a\\\n\"\"\"\n"), vec![]);
        assert_eq!(ranges("x = \"a\\\r\n\"\"\"\n"), vec![]);
        // A backslash at the very end.
        assert_eq!(ranges("'''\\"), vec![(3, usize::MAX)]);
        assert_eq!(ranges("'\\"), vec![]);
        assert_eq!(ranges(""), vec![]);
    }

    #[test]
    fn gives_up_past_the_limit() {
        // A string still open at the limit holds everything up to it, closed or not later.
        let mut d = b"x = '''".to_vec();
        d.resize(MAX_TOKENIZE + 10, b'a');
        d.extend_from_slice(b"'''\nDEBUG = True\n");
        let r = python_triple_strings(&d);
        assert_eq!(r, vec![(7, usize::MAX)]);
        for pos in [7, MAX_TOKENIZE, MAX_TOKENIZE + 1, d.len() - 5] {
            let inside = pos <= MAX_TOKENIZE;
            assert_eq!(in_triple_strings(&r, pos), inside, "{pos}");
            assert_eq!(in_python_triple_string(&d, pos), inside, "{pos}");
        }
    }

    /// The texts [`python_concatenation`] joins to the first literal after `needle` (whose
    /// opening quote ends the needle).
    fn joined(text: &str, needle: &str) -> Vec<String> {
        let d = text.as_bytes();
        let open = at(text, needle) + needle.len();
        let close = closing_quote(d, open, d[open - 1]).expect("closed");
        python_concatenation(d, (open, close), &mut Brackets::new())
            .into_iter()
            .map(|(s, e)| text[s..e].to_owned())
            .collect()
    }

    const NONE: [&str; 0] = [];

    #[test]
    fn joins_literals_on_one_line_and_over_continuations() {
        assert_eq!(
            joined("K = 'ab' \"cd\" f'ef' rb\"gh\"\n", "= '"),
            ["cd", "ef", "gh"]
        );
        assert_eq!(joined("K = 'ab'\\\n    'cd'\n", "= '"), ["cd"]);
        assert_eq!(joined("K = 'ab' \\\r\n    'cd'\r\n", "= '"), ["cd"]);
        // An empty literal is a literal.
        assert_eq!(joined("K = '' 'cd'\n", "= '"), ["cd"]);
        // Anything else ends the chain: an operator, a name, a method, a closing bracket.
        for t in [
            "K = 'ab' + 'cd'\n",
            "K = 'ab' if x else 'cd'\n",
            "K = 'ab'.format('cd')\n",
            "K = ('ab') 'cd'\n",
            "K = 'ab', 'cd'\n",
            "K = 'ab' for_ 'cd'\n",
            "K = 'ab' bub'cd'\n",
        ] {
            assert_eq!(joined(t, "'"), NONE, "{t:?}");
        }
    }

    #[test]
    fn joins_over_lines_only_inside_brackets() {
        let t = "K = ('ab'  # first\n     # more\n     \"cd\"\n     'ef')\n";
        assert_eq!(joined(t, "('"), ["cd", "ef"]);
        let t = "app.config.update(\n    SECRET_KEY='ab'\n    'cd',\n)\n";
        assert_eq!(joined(t, "='"), ["cd"]);
        // Outside brackets a newline ends the statement: the next line is another one.
        assert_eq!(joined("K = 'ab'\n'cd'\n", "= '"), NONE);
        assert_eq!(joined("K = 'ab'  # c\n'cd'\n", "= '"), NONE);
        // Brackets in strings and comments do not count; closed brackets do not either.
        let t = "x = '(' # [\ny = f(\"(\")\nK = 'ab'\n'cd'\n";
        assert_eq!(joined(t, "K = '"), NONE);
        let t = "x = \"\"\"(\"\"\"\nK = 'ab'\n'cd'\n";
        assert_eq!(joined(t, "K = '"), NONE);
    }

    #[test]
    fn triple_quoted_and_unterminated_literals_end_the_chain() {
        assert_eq!(joined("K = ('ab' '''cd''')\n", "('"), NONE);
        assert_eq!(joined("K = ('ab' 'cd\n)\n", "('"), NONE);
        assert_eq!(joined("K = ('ab' 'cd\\' ' 'ef')\n", "('"), ["cd\\' ", "ef"]);
        assert_eq!(joined("K = 'ab' 'c", "= '"), NONE);
        assert_eq!(joined("K = 'ab' ", "= '"), NONE);
        // A value that is not a whole literal (a token inside one) is not joined.
        let t = "K = 'tok ab' 'cd'\n";
        let open = at(t, "ab");
        let parts = python_concatenation(t.as_bytes(), (open, open + 2), &mut Brackets::new());
        assert!(parts.is_empty());
    }

    #[test]
    fn bracket_depth_is_tracked_top_down_and_starts_over_when_asked_earlier() {
        let t = b"a = f(1, [2, {3: '}'}],\n  # )\n  x)\n";
        let mut b = Brackets::new();
        let depth = |b: &mut Brackets, n: &[u8]| {
            let i = t.windows(n.len()).position(|w| w == n).unwrap();
            b.depth_at(t, i)
        };
        assert_eq!(depth(&mut b, b"1,"), 1);
        assert_eq!(depth(&mut b, b"3:"), 3);
        assert_eq!(depth(&mut b, b"x)"), 1);
        assert_eq!(depth(&mut b, b"[2"), 1);
        assert_eq!(depth(&mut b, b"2,"), 2);
        assert_eq!(b.depth_at(t, t.len()), 0);
        // A closing bracket nothing opened counts, as Python's tokenizer counts it.
        let t = b") (";
        assert_eq!(Brackets::new().depth_at(t, t.len()), 0);
    }

    #[test]
    fn finds_enclosing_blocks() {
        let d = b"class Dev(Config):\n    # note\n\n    X = 1\n    if a:\n        DEBUG = True\n";
        let pos = d.windows(13).position(|w| w == b"        DEBUG").unwrap();
        let h = enclosing_headers(d, pos);
        assert_eq!(h, vec![&b"    if a:"[..], &b"class Dev(Config):"[..]]);
        assert!(enclosing_headers(d, 0).is_empty());
    }
}
