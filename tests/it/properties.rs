//! The fuzz targets' invariants as property tests, with a small fixed number of cases and a fixed
//! seed, so that every `cargo test` (and CI, which has no cargo-fuzz) checks them on inputs
//! shaped to reach the interesting paths: hook input that is nearly right, rules whose regexes
//! are arbitrary, and source text made of the pieces secret rules look for.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// A deterministic runner of `cases` cases that writes no files.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5ec7_e6a7),
        ..Config::default()
    })
}

#[track_caller]
fn check<S: Strategy>(cases: u32, strategy: S, f: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let result = runner(cases).run(&strategy, |v| {
        f(v);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Concatenations of pieces (and a few arbitrary bytes).
fn pieces(list: &'static [&'static str], max: usize) -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(list).prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..4),
        ],
        0..max,
    )
    .prop_map(|v| v.concat())
    .boxed()
}

const HEX: &str = "8f42a73054b1749f8f58848be5e6502c8f42a730";
const ZERO: &str = "0000000000000000000000000000000000000000";

#[test]
fn hook_input_is_parsed_or_rejected_with_its_line() {
    check(200, prop::collection::vec(any::<u8>(), 0..200), |v| {
        crate::checks::hook_input(&v)
    });
    const LINE_PIECES: &[&str] = &[
        HEX,
        ZERO,
        "8F42A73054B1749F8F58848BE5E6502C8F42A730",
        "8f42a730",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\r",
        "\t",
        "\0",
        "\x1b[31m",
        "refs/heads/main",
        "refs/tags/v1",
        "HEAD",
        "main",
        "refs/heads/caf\u{e9}",
        "zz",
    ];
    check(400, pieces(LINE_PIECES, 12), |v| {
        crate::checks::hook_input(&v)
    });
}

/// Well-formed input is accepted, update for update: a parser that rejected everything would
/// pass the check above (every rejection names a line), not this one.
#[test]
fn well_formed_hook_input_is_accepted_line_for_line() {
    let ids = [HEX, ZERO, "8F42A73054B1749F8F58848BE5E6502C8F42A730"];
    let refs = [
        "refs/heads/main",
        "refs/tags/v1",
        "refs/heads/caf\u{e9}",
        "HEAD",
    ];
    let mut accepted = 0;
    for n in 1..=4usize {
        for k in 0..(ids.len() * refs.len()) {
            let mut input = String::new();
            for i in 0..n {
                let old = ids[(k + i) % ids.len()];
                let new = ids[(k + 2 * i + 1) % ids.len()];
                let name = refs[(k / ids.len() + i) % refs.len()];
                let end = if (k + i) % 2 == 0 { "\n" } else { "\r\n" };
                input.push_str(&format!("{old} {new} {name}{end}"));
            }
            let updates =
                secretgate::source::push::parse_updates(input.as_bytes(), gix::hash::Kind::Sha1)
                    .unwrap_or_else(|e| panic!("{input:?} was refused: {e}"));
            assert_eq!(updates.len(), n, "{input:?}");
            crate::checks::hook_input(input.as_bytes());
            accepted += 1;
        }
    }
    assert_eq!(accepted, 4 * ids.len() * refs.len());
}

#[test]
fn rules_with_arbitrary_regexes_load_or_fail_cleanly() {
    let regex = prop::collection::vec(
        prop::sample::select(
            &[
                "a",
                "tok_",
                "(",
                ")",
                "(?P<secret>",
                "(?P<name>",
                "[",
                "]",
                "a-z",
                "0-9",
                "^",
                "$",
                "*",
                "+",
                "?",
                "{2}",
                "{1,3}",
                "{",
                "}",
                "|",
                ".",
                "\\",
                "\\b",
                "\\w",
                "\\s",
                "\\d",
                "\\x1b",
                "(?i)",
                "(?u)",
                "(?m)",
                "\"",
                "'",
                "\n",
                " ",
                "=",
                "\\p{L}",
                "\u{e9}",
            ][..],
        ),
        0..10,
    )
    .prop_map(|v| v.concat());
    let text = pieces(
        &[
            "tok_",
            "a",
            "0123456789abcdef",
            " = ",
            "\"",
            "\n",
            "secretgate:allow",
            "\x1b",
            "A",
            "=",
        ],
        10,
    );
    let strategy = (
        regex.clone(),
        prop::sample::select(&["tok_", "a", "", "\u{e9}", "TOK_"][..]),
        regex,
        text.clone(),
        0u32..200,
        text,
    );
    check(150, strategy, |(re, kw, allow, example, window, scan)| {
        let mut data = Vec::new();
        for (i, part) in [
            re.as_bytes(),
            kw.as_bytes(),
            &example,
            allow.as_bytes(),
            window.to_string().as_bytes(),
            &scan,
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                data.push(0xff);
            }
            data.extend_from_slice(part);
        }
        crate::checks::rules_regex(&data);
    });
}

#[test]
fn rules_files_load_or_fail_with_one_configuration_error() {
    const TOML_PIECES: &[&str] = &[
        "[[rules]]\n",
        "id = \"t\"\n",
        "id = \"t\"\n",
        "description = \"d\"\n",
        "kind = \"secret\"\n",
        "kind = \"debug\"\n",
        "severity = \"high\"\n",
        "keywords = [\"tok_\"]\n",
        "keywords = [\"\"]\n",
        "regex = 'tok_(?P<secret>\\w+)'\n",
        "regex = '('\n",
        "remediation = \"r {name}\"\n",
        "examples = [\"tok_abc\"]\n",
        "negative_examples = [\"x\"]\n",
        "paths = [\"*.py\"]\n",
        "paths = [\"[\"]\n",
        "example_path = \"a.py\"\n",
        "entropy = 3.5\n",
        "entropy = 9\n",
        "scope = \"tree\"\n",
        "unless_in_tree = [\"x\"]\n",
        "[[rules.patterns]]\n",
        "window_after = 10\n",
        "[rules.weak]\n",
        "severity = \"low\"\n",
        "below_len = 3\n",
        "[allowlist]\n",
        "values = [\"^x$\"]\n",
        "[policy]\n",
        "time_budget_secs = 0\n",
        "time_budget_secs = 1e300\n",
        "max_blob_bytes = 18446744073709551615\n",
        "block = [\"medium\"]\n",
        "[extend]\n",
        "default = true\n",
        "disabled_rules = [\"flask-debug\"]\n",
        "unknown = 1\n",
        "= \n",
        "\"",
        "\n",
    ];
    check(120, pieces(TOML_PIECES, 16), |v| {
        crate::checks::rules_toml(&v)
    });
}

#[test]
fn detector_matches_agree_with_the_text() {
    const SOURCE_PIECES: &[&str] = &[
        "SECRET_KEY",
        "app.secret_key",
        "app.config[\"SECRET_KEY\"]",
        "JWT_SECRET_KEY",
        "password",
        "api_key",
        " = ",
        "=",
        ": ",
        "\"",
        "'",
        "\"\"\"",
        "'''",
        "\n",
        "\r\n",
        "    ",
        "\t",
        "#",
        "8f42a73054b1749f8f58848be5e6502c",
        "k8#Jd93!xLq0-vV2_pRt7Zy",
        "AKIAIOSFODNN7EXAMPLE",
        "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",
        "os.environ[\"SECRET_KEY\"]",
        "app.run(debug=True)",
        "DEBUG = True",
        "FLASK_DEBUG=1",
        "class DevelopmentConfig(Config):",
        "def view():",
        "@app.route('/x', methods=['POST'])",
        "from flask import Flask",
        "secretgate:allow",
        "export ",
        "ENV ",
        "\x1b[31m",
        "\u{e9}",
        "\u{a0}",
        "\0",
    ];
    let strategy = (any::<u8>(), pieces(SOURCE_PIECES, 40));
    check(250, strategy, |(path, text)| {
        let mut data = vec![path];
        data.extend_from_slice(&text);
        crate::checks::detector(&data);
    });
}

#[test]
fn one_pass_location_helpers_agree_with_the_plain_ones() {
    const LAYOUT: &[&str] = &[
        "\n", "    ", "  ", "\t", "\r", "#", "\"", "'", "\"\"\"", "'''", "\\", "a", "b:",
        "class C:", "def f():", "@d",
    ];
    check(400, pieces(LAYOUT, 60), |v| {
        crate::checks::check_location(&v)
    });
}

/// The inline script [`docstrings_are_where_pythons_tokenizer_puts_them`] gives `python3`: reads a
/// JSON list of texts, prints for each the byte ranges of its triple-quoted strings (from just
/// after the opening quotes to just after the closing ones), or `null` when Python does not
/// tokenize it cleanly.
const PYTHON_TRIPLE_STRINGS: &str = r#"
import io, json, sys, tokenize

# Python 3.12 and later split f-strings into several tokens (and allow quotes inside their
# braces); the scanner under test follows the rules up to 3.11, so such cases are skipped.
FSTRING_START = getattr(tokenize, "FSTRING_START", None)

def ranges(text):
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)

    def offset(row, col):
        # (row, col): 1-based line, 0-based character column; bytes before it in UTF-8.
        return len(text[: starts[row - 1] + col].encode("utf-8", "surrogatepass"))

    out = []
    try:
        # StringIO splits lines at "\n" only, as `starts` does.
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.ERRORTOKEN or tok.type == FSTRING_START:
                return None
            if tok.type != tokenize.STRING:
                continue
            body = tok.string.lstrip("rRbBuUfF")
            if body[:3] in ('"""', "'''"):
                prefix = len(tok.string) - len(body)
                out.append([offset(*tok.start) + prefix + 3, offset(*tok.end)])
    except (tokenize.TokenError, SyntaxError):
        return None
    return out

json.dump([ranges(t) for t in json.load(sys.stdin)], sys.stdout)
"#;

/// Runs [`PYTHON_TRIPLE_STRINGS`] on `cases` in one `python3` process.
fn python_triple_strings(cases: &[String]) -> Vec<Option<Vec<(usize, usize)>>> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new("python3")
        .args(["-c", PYTHON_TRIPLE_STRINGS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "this test compares the docstring scanner with Python's own tokenizer and needs \
                 `python3` (3.11 or later) on PATH: cannot start it: {e}"
            )
        });
    let input = serde_json::to_vec(cases).expect("the cases serialize");
    let mut stdin = child.stdin.take().expect("python3's standard input");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("python3 runs");
    writer
        .join()
        .expect("the writer thread")
        .expect("write the cases to python3");
    assert!(
        out.status.success(),
        "python3 failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Option<Vec<(usize, usize)>>> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "python3 printed no list of ranges ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
    assert_eq!(got.len(), cases.len(), "one answer per case from python3");
    got
}

/// The triple-quoted strings the docstring check skips are exactly those Python's tokenizer
/// finds, on texts made of the pieces that trip tokenizers up: quotes of both kinds, one and
/// three at a time, backslashes, newlines, comments and string prefixes. Texts Python rejects
/// are not compared (the unit tests in `detect::location` cover the unterminated ones).
#[test]
fn docstrings_are_where_pythons_tokenizer_puts_them() {
    use proptest::strategy::ValueTree as _;
    use secretgate::detect::location;

    const PIECES: &[&str] = &[
        "\"", "'", "\"\"\"", "'''", "\\", "\\\\", "\n", "#", "r", "b", "f", "R", "B", "u", "F",
        "a", "x", " ", "=", "(", ")",
    ];
    const QUOTES: &[&str] = &["\"", "'", "\"\"\"", "'''"];
    const CASES: usize = 4000;
    // Loose pieces, and strings made of them between two quotes (which Python mostly takes,
    // so that enough texts are valid Python): a prefix, an opening quote, pieces, a closing one.
    let piece = || prop::sample::select(PIECES).prop_map(str::to_owned);
    let string = (
        prop::sample::select(&["", "r", "b", "f", "u", "rb", "Br", "fR", "RF"][..]),
        prop::sample::select(QUOTES),
        prop::collection::vec(piece(), 0..6),
    )
        .prop_map(|(prefix, q, inner)| format!("{prefix}{q}{}{q}", inner.concat()));
    let strategy = prop::collection::vec(prop_oneof![3 => piece(), 2 => string], 0..10)
        .prop_map(|v| v.concat());
    let mut runner = runner(1);
    let cases: Vec<String> = (0..CASES)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("a case is generated")
                .current()
        })
        .collect();
    let python = python_triple_strings(&cases);
    let mut compared = 0;
    let mut strings = 0;
    let mut wrong = Vec::new();
    for (text, expected) in cases.iter().zip(&python) {
        // Every text is scanned (without panicking); those Python takes are compared.
        let got = location::python_triple_strings(text.as_bytes());
        let Some(expected) = expected else { continue };
        compared += 1;
        strings += expected.len();
        if &got != expected {
            wrong.push(format!("{text:?}: Python {expected:?}, secretgate {got:?}"));
        }
    }
    eprintln!("{compared} of {CASES} texts are valid Python, with {strings} docstrings");
    wrong.sort_by_key(String::len);
    assert!(
        wrong.is_empty(),
        "{} of {compared} texts tokenized differently, e.g.:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(8)].join("\n")
    );
    // Enough texts were valid Python, with enough docstrings in them, for the check to mean
    // something.
    assert!(
        compared >= CASES / 5,
        "only {compared} of {CASES} texts were valid Python"
    );
    assert!(
        strings >= CASES / 10,
        "only {strings} triple-quoted strings in all"
    );
}

/// The inline script [`literals_join_where_pythons_tokenizer_joins_them`] gives `python3`: reads
/// a JSON list of texts, prints for each, for every one-line string literal, the byte range of
/// its text and the ranges of the one-line literals joined to it (those that follow it with only
/// comments and non-statement-ending newlines between, up to the first other token or a
/// triple-quoted literal), or `null` when Python does not tokenize the text cleanly.
const PYTHON_CONCATENATIONS: &str = r#"
import io, json, sys, tokenize

def literals(text):
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)

    def offset(row, col):
        return len(text[: starts[row - 1] + col].encode("utf-8", "surrogatepass"))

    def one_line(tok):
        if tok.type != tokenize.STRING:
            return None
        body = tok.string.lstrip("rRbBuUfF")
        if body[:3] in ('"""', "'''"):
            return None
        prefix = len(tok.string) - len(body)
        return [offset(*tok.start) + prefix + 1, offset(*tok.end) - 1]

    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    if any(t.type == tokenize.ERRORTOKEN for t in toks):
        return None
    out = []
    for i, tok in enumerate(toks):
        first = one_line(tok)
        if first is None:
            continue
        parts = []
        for nxt in toks[i + 1:]:
            if nxt.type in (tokenize.NL, tokenize.COMMENT):
                continue
            r = one_line(nxt)
            if r is None:
                break
            parts.append(r)
        out.append([first, parts])
    return out

json.dump([literals(t) for t in json.load(sys.stdin)], sys.stdout)
"#;

/// The literals the detector joins into one value (`SECRET_KEY = ("abc"` and `"def")` on the next
/// line) are exactly those Python's tokenizer puts next to each other in one statement, on texts
/// made of quotes, prefixes, brackets, comments, newlines and continuations. The bracket depth is
/// asked top-down through one tracker, as the detector asks it.
#[test]
fn literals_join_where_pythons_tokenizer_joins_them() {
    use proptest::strategy::ValueTree as _;
    use secretgate::detect::location;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    const PIECES: &[&str] = &[
        "\"", "'", "\"\"\"", "'''", "\\", "\\\n", "\n", "  ", "#", "# c\n", "(", ")", "[", "]",
        "{", "}", "x", "=", "+", ",", "r", "b", "f", "u", "bu", "rb",
    ];
    const CASES: usize = 3000;
    let piece = || prop::sample::select(PIECES).prop_map(str::to_owned);
    let string = (
        prop::sample::select(&["", "r", "b", "f", "u", "rb", "Br", "fR", "ub"][..]),
        prop::sample::select(&["\"", "'"][..]),
        prop::collection::vec(
            prop::sample::select(&["a", " ", "\\'", "\\\"", "#", "("][..]),
            0..4,
        ),
    )
        .prop_map(|(prefix, q, inner)| format!("{prefix}{q}{}{q}", inner.concat()));
    let strategy = prop::collection::vec(prop_oneof![2 => piece(), 3 => string], 0..12)
        .prop_map(|v| v.concat());
    let mut runner = runner(1);
    let cases: Vec<String> = (0..CASES)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("a case is generated")
                .current()
        })
        .collect();
    let mut child = Command::new("python3")
        .args(["-c", PYTHON_CONCATENATIONS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("this test needs `python3` (3.11) on PATH: {e}"));
    let input = serde_json::to_vec(&cases).expect("the cases serialize");
    let mut stdin = child.stdin.take().expect("python3's standard input");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("python3 runs");
    writer
        .join()
        .expect("the writer thread")
        .expect("write the cases");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    type Literals = Vec<((usize, usize), Vec<(usize, usize)>)>;
    let python: Vec<Option<Literals>> =
        serde_json::from_slice(&out.stdout).expect("python3 printed the literals");
    assert_eq!(python.len(), cases.len());
    let (mut compared, mut joins, mut wrong) = (0, 0, Vec::new());
    for (text, expected) in cases.iter().zip(&python) {
        let Some(expected) = expected else { continue };
        compared += 1;
        let mut brackets = location::Brackets::new();
        for (first, parts) in expected {
            joins += usize::from(!parts.is_empty());
            let got = location::python_concatenation(text.as_bytes(), *first, &mut brackets);
            if &got != parts {
                wrong.push(format!(
                    "{text:?} at {first:?}: Python {parts:?}, secretgate {got:?}"
                ));
            }
        }
    }
    eprintln!("{compared} of {CASES} texts are valid Python, {joins} literals with others joined");
    wrong.sort_by_key(String::len);
    assert!(
        wrong.is_empty(),
        "{} literals joined differently, e.g.:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(8)].join("\n")
    );
    assert!(
        compared > CASES / 10 && joins > 100,
        "{compared} texts, {joins} joins"
    );
}
