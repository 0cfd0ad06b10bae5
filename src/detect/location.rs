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
/// [`MAX_LINES_UP`] lines for each match: quadratic on a file with a match on every line).
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

/// Whether `pos` lies inside a Python triple-quoted string (a docstring, usually prose or an
/// example), found by a small tokenizer that knows comments and one-line strings.
pub fn in_python_triple_string(data: &[u8], pos: usize) -> bool {
    if pos > MAX_TOKENIZE {
        return false;
    }
    let d = &data[..pos];
    let mut i = 0;
    while i < d.len() {
        match d[i] {
            b'#' => match memchr(b'\n', &d[i..]) {
                Some(n) => i += n + 1,
                None => return false,
            },
            q @ (b'"' | b'\'') => {
                if d[i..].starts_with(&[q, q, q]) {
                    let close = [q, q, q];
                    match memchr::memmem::find(&d[i + 3..], &close) {
                        Some(n) => i += 3 + n + 3,
                        None => return true,
                    }
                } else {
                    i += 1;
                    while i < d.len() && d[i] != q && d[i] != b'\n' {
                        i += if d[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    false
}

/// Every triple-quoted Python string, as the byte ranges where [`in_python_triple_string`]
/// says "inside": from just after the opening quotes to just after the closing ones (to the end
/// of time when it is never closed). One pass over the text, for all the matches in it.
pub fn python_triple_strings(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let stop = data.len().min(MAX_TOKENIZE);
    let mut i = 0;
    while i < stop {
        match data[i] {
            b'#' => match memchr(b'\n', &data[i..]) {
                Some(n) => i += n + 1,
                None => break,
            },
            q @ (b'"' | b'\'') => {
                if data[i..].starts_with(&[q, q, q]) {
                    let close = [q, q, q];
                    match memchr::memmem::find(&data[i + 3..], &close) {
                        Some(n) => {
                            out.push((i + 3, i + 3 + n + 3));
                            i += 3 + n + 3;
                        }
                        None => {
                            out.push((i + 3, usize::MAX));
                            break;
                        }
                    }
                } else {
                    i += 1;
                    while i < data.len() && data[i] != q && data[i] != b'\n' {
                        i += if data[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
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

    #[test]
    fn finds_enclosing_blocks() {
        let d = b"class Dev(Config):\n    # note\n\n    X = 1\n    if a:\n        DEBUG = True\n";
        let pos = d.windows(13).position(|w| w == b"        DEBUG").unwrap();
        let h = enclosing_headers(d, pos);
        assert_eq!(h, vec![&b"    if a:"[..], &b"class Dev(Config):"[..]]);
        assert!(enclosing_headers(d, 0).is_empty());
    }
}
