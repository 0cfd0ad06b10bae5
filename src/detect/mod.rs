//! The detector: bytes and a path in, matches out.
//!
//! Pure on purpose: no I/O, no git, no output. Every mode (a push, the staged change, the
//! history, files on disk) hands the same detector the same kind of input, so the modes cannot
//! disagree about what a secret is. The work is shaped for speed: one Aho-Corasick pass finds
//! every keyword; a rule's regex runs only on the lines around its keywords (a form without
//! keywords, on the whole of a file its paths select, and on no other file); the allow checks
//! run only on the few candidates that survive.

pub mod checksum;
pub mod decode;
pub mod keywords;
pub mod location;

pub use keywords::{KeywordHit, KeywordHits, Segment};

use bstr::ByteSlice;
use memchr::memmem;

use crate::rules::compile::{Pattern, Rule, Ruleset};
use crate::rules::Severity;
use location::{LineCounter, MAX_BACK, MAX_FWD};

/// Content with a NUL byte in its first this many bytes is binary, unless it decodes as UTF-16
/// or UTF-32 text ([`decode::sniff`]).
pub const BINARY_SNIFF: usize = 8192;

/// The marker that suppresses findings on its line.
pub const INLINE_ALLOW: &[u8] = b"secretgate:allow";

/// One thing a rule found, before it is attached to a commit or file.
///
/// Offsets, line and column are those of the text the detector scanned ([`decode::decode`]):
/// the content itself, or its UTF-8 decoding for UTF-16 and UTF-32 content (the column is then a
/// byte column of the decoded line), or for a notebook its cells' sources, where the line is
/// that of the notebook file and `cell` says where in the cells the match is.
#[derive(Debug, Clone)]
pub struct Match {
    /// Index of the rule in the ruleset.
    pub rule: usize,
    /// Index of the pattern (the form) that matched.
    pub pattern: usize,
    /// Byte offset of the value (or of the match when there is no value group) in the scanned
    /// text.
    pub start: usize,
    /// End of the value.
    pub end: usize,
    /// Byte range of the whole regex match.
    pub span: (usize, usize),
    /// 1-based line where the match starts (a `-----BEGIN` line, the `SECRET_KEY = \` line of a
    /// continued assignment), the value's own line when the match starts on it; in a notebook,
    /// the file line where the JSON string holding that source line starts.
    pub line: usize,
    /// 1-based line of the value's start (after `line` when a form spans lines). A hook counts
    /// the match as added when any line from `line` to `value_line` is.
    pub value_line: usize,
    /// 1-based byte column of `start` in its line of the scanned text.
    pub column: usize,
    /// In a notebook: the 1-based cell (among all cells) and the 1-based line in its source,
    /// which the finding's message names since the file line alone does not say it.
    pub cell: Option<(usize, usize)>,
    /// The unredacted value (for settings, the whole matched code); never printed, only
    /// redacted and fingerprinted.
    pub value: Vec<u8>,
    /// The setting's name, when the rule captures one (`JWT_SECRET_KEY`).
    pub name: Option<String>,
    /// Shannon entropy of the value, where the rule uses it.
    pub entropy: Option<f64>,
    /// The rule's severity, or the weak severity for a development value, or low for a token
    /// whose provider checksum fails ([`checksum`]).
    pub severity: Severity,
    /// For rules that do not find secrets (debug, config): the matched code, escaped, with
    /// every value in it redacted, and cut to 80 characters, for messages. Never set for
    /// secrets.
    pub snippet: Option<String>,
    /// What the value's class adds to the message (publicly known, guessable, a failed
    /// checksum), for secrets.
    pub note: Option<ValueNote>,
    /// The line carries `secretgate:allow`. Such matches leave [`Ruleset::scan`] only when the
    /// ruleset keeps them ([`Ruleset::keep_inline_allowed`]); the caller decides.
    pub inline_allowed: bool,
    /// The value is Python string literals joined by implicit concatenation (`("abc"
    /// "def")`): `start..end` runs from the first one's text to the last one's, `value` is
    /// their texts joined, and `value_line` is the last one's line, so that a hook sees a
    /// change to any of them.
    pub joined: bool,
}

/// What a secret's value says about it, beyond its rule: the class of the value in the severity
/// model (see docs/RULES.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueNote {
    /// Published in tutorials, books or documentation: anyone who read them holds it.
    Public,
    /// Words or a short value a person chose: cracking word lists hold such keys.
    Guessable,
    /// A development marker (`dev`, `test`, `local`): a warning, not a block.
    Development,
    /// Any value in a development-only place (`.flaskenv`, read only by `flask run`; a `dev/`
    /// folder; a testing configuration class): a warning, and the message says why it does
    /// not block.
    DevelopmentPlace,
    /// In the provider's token shape, but the provider's checksum does not match: a made-up
    /// token (documentation, tests, hand-typed), which the provider rejects.
    ChecksumMismatch,
}

impl ValueNote {
    /// The words appended to the finding's message.
    pub fn text(self) -> &'static str {
        match self {
            ValueNote::Public => {
                "publicly known: it is published in tutorials or documentation, so anyone can \
                 use it (for a session key: sign cookies as any user)"
            }
            ValueNote::Guessable => {
                "guessable: words or a short value, the kind cookie-cracking word lists hold"
            }
            ValueNote::Development => "a development value",
            ValueNote::DevelopmentPlace => "in a development-only place",
            ValueNote::ChecksumMismatch => {
                "the provider's checksum does not match: not a token the provider issued (an \
                 example or a test value?)"
            }
        }
    }
}

/// Whether content is binary: a NUL byte near the start, and not UTF-16 or UTF-32 text. The
/// sources count and skip what this says is binary, so it agrees with what [`Ruleset::scan`]
/// decodes.
pub fn is_binary(data: &[u8]) -> bool {
    decode::sniff(data) == decode::Sniff::Binary
}

/// Puts matches found in a notebook's cell sources back in the notebook file: the line becomes
/// the file's, and the cell and line in it are noted.
fn relocate(decoded: &decode::Decoded<'_>, out: &mut [Match]) {
    if !decoded.is_notebook() {
        return;
    }
    for m in out {
        if let Some(p) = decoded.place(m.line) {
            m.line = p.file_line;
            m.cell = Some((p.cell, p.line));
        }
        if let Some(p) = decoded.place(m.value_line) {
            m.value_line = p.file_line.max(m.line);
        }
    }
}

/// Shannon entropy in bits per byte.
pub fn shannon(value: &[u8]) -> f64 {
    if value.is_empty() {
        0.0
    } else {
        f64::from(entropy::shannon_entropy(value))
    }
}

/// What the rules decide from a path alone ([`Ruleset::path_facts`]): whether the path is
/// skipped or allowlisted, and which rules and forms run on text there.
#[derive(Debug, Clone)]
pub struct PathFacts {
    skips: bool,
    allowlisted: bool,
    rules: Vec<Option<bool>>,
    patterns: Vec<Option<bool>>,
}

/// Per-scan memo of which rules and patterns apply to the path.
struct Applicable {
    /// The path allowlist covers the path.
    allowlisted: bool,
    /// The content is binary.
    binary: bool,
    /// Only rules whose values are distinctive run (a notebook's raw JSON).
    only_distinctive: bool,
    rules: Vec<Option<bool>>,
    patterns: Vec<Option<bool>>,
}

/// What one scan of one text has already worked out about it, so that a text with a match every
/// few bytes (a minified file, a 50 MB line, a generated table) costs about one pass per check
/// instead of one pass per match: the lines around matches and what their allow checks said,
/// which rules' `file_requires` hold, the docstrings, the enclosing blocks, and which functions
/// satisfy a rule's `block_requires`.
#[derive(Default)]
struct Memo {
    /// The last two lines looked at (a match's value and its start may be on two lines).
    lines: [Option<LineMemo>; 2],
    /// Which slot of `lines` to replace next.
    evict: usize,
    /// Per rule: whether one of its `file_requires` matches the text.
    file_requires: Vec<Option<bool>>,
    /// Per rule: whether one of its `skip_if_file_matches` matches the text.
    file_excludes: Vec<Option<bool>>,
    /// The triple-quoted strings, once a rule asks.
    triple_strings: Option<Vec<(usize, usize)>>,
    /// The indentation stack, for enclosing blocks.
    blocks: location::BlockStack,
    /// Python's bracket depth, for literals joined over several lines.
    brackets: location::Brackets,
    /// (rule, start of the `def` line): whether the function satisfies the rule's
    /// `block_requires`.
    functions: std::collections::HashMap<(usize, usize), bool>,
    /// Per pattern: the names the text binds by the pattern's `receivers_bound_by`, once a
    /// match's receiver is not one of its `receivers`.
    bound: std::collections::HashMap<usize, Vec<Vec<u8>>>,
}

/// One line of the text, with the allow checks already run on it.
struct LineMemo {
    /// First byte of the line.
    start: usize,
    /// Its newline (or the end of the text).
    end: usize,
    /// Whether it holds the inline allow marker.
    inline_allow: bool,
    /// Whether the global allowlist's `lines` match it.
    global_allow: Option<bool>,
    /// (rule, whether one of its `allow_lines` matches it).
    rule_allow: Vec<(usize, bool)>,
}

impl Memo {
    fn new(rules: usize) -> Self {
        Memo {
            file_requires: vec![None; rules],
            file_excludes: vec![None; rules],
            ..Memo::default()
        }
    }

    /// The slot of the line holding `pos` (the line ending at `pos` when `pos` is a newline).
    fn line(&mut self, data: &[u8], pos: usize) -> usize {
        for (i, l) in self.lines.iter().enumerate() {
            if let Some(l) = l {
                if l.start <= pos && pos <= l.end {
                    return i;
                }
            }
        }
        let line = location::line_at(data, pos);
        let start = line.as_ptr() as usize - data.as_ptr() as usize;
        let slot = self.evict;
        self.evict = (self.evict + 1) % self.lines.len();
        self.lines[slot] = Some(LineMemo {
            start,
            end: start + line.len(),
            inline_allow: memmem::find(line, INLINE_ALLOW).is_some(),
            global_allow: None,
            rule_allow: Vec::new(),
        });
        slot
    }

    fn line_memo(&mut self, slot: usize) -> &mut LineMemo {
        self.lines[slot].as_mut().expect("filled by Memo::line")
    }
}

impl Ruleset {
    /// Whether nothing at this path is ever read: the admin's `skip_paths`, or an allowlisted
    /// path when no rule looks past path allowlists (see [`Rule::distinctive`]).
    pub fn skips_path(&self, path: &[u8]) -> bool {
        self.policy.skip_paths.matches(path)
            || self.allowlist.skips_path(path) && !self.rules.iter().any(|r| r.distinctive)
    }

    /// Whether the allowlist's paths (built in, the admin's, a repository's own) cover `path`:
    /// only rules whose values are [`Rule::distinctive`] run there.
    pub fn allowlisted_path(&self, path: &[u8]) -> bool {
        self.allowlist.skips_path(path)
    }

    /// Whether a rule runs line by line on files at `path` (its path globs and the path
    /// allowlist; tree rules never do).
    pub fn rule_runs_on(&self, rule: &Rule, path: &[u8]) -> bool {
        self.rule_runs_on_listed(rule, path, self.allowlisted_path(path))
    }

    /// [`Self::rule_runs_on`] with the allowlist's verdict on the path already known.
    fn rule_runs_on_listed(&self, rule: &Rule, path: &[u8], allowlisted: bool) -> bool {
        rule.scope == crate::rules::syntax::Scope::Line
            && (rule.distinctive || !allowlisted)
            && (rule.paths.is_empty() || rule.paths.matches(path))
            && !rule.skip_paths.matches(path)
    }

    /// Everything [`Self::scan`] looks at in a path, as bits: which forms run there, whether
    /// it is Python (docstrings), which rules lower their severity there. Two paths with the
    /// same signature give the same matches for the same content; empty: never read. The
    /// audit scans a blob once per signature of its paths, and a hook trusts a rename's old
    /// lines only between paths of one signature (a line moved from a path that was never
    /// scanned, or scanned more leniently, is judged again at its new path).
    pub fn path_signature(&self, path: &[u8]) -> Vec<u64> {
        if self.skips_path(path) {
            return Vec::new();
        }
        let allowlisted = self.allowlisted_path(path);
        let n = self.patterns.len() + self.rules.len() + 1;
        let mut bits = vec![0u64; n.div_ceil(64)];
        let mut set = |bit: usize| bits[bit / 64] |= 1 << (bit % 64);
        if path.ends_with(b".py") {
            set(0);
        }
        let mut rule_ok: Vec<Option<bool>> = vec![None; self.rules.len()];
        for (i, pat) in self.patterns.iter().enumerate() {
            let r = &self.rules[pat.rule];
            let ok = *rule_ok[pat.rule]
                .get_or_insert_with(|| self.rule_runs_on_listed(r, path, allowlisted));
            if ok && (pat.paths.is_empty() || pat.paths.matches(path)) {
                set(i + 1);
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            if rule_ok[i] == Some(true) && r.weak.as_ref().is_some_and(|w| w.place_path(path)) {
                set(self.patterns.len() + 1 + i);
            }
        }
        // Notebooks are scanned through their cells: a class of their own.
        bits.push(u64::from(decode::is_notebook_path(path)));
        // Dockerfiles' build stages and Compose services' build targets are read as enclosing
        // blocks there: classes of their own too.
        bits.push(
            u64::from(location::is_dockerfile(path))
                | u64::from(location::is_compose_file(path)) << 1,
        );
        bits
    }

    /// Whether two paths are judged alike (the same [`Self::path_signature`]).
    pub fn same_class(&self, a: &[u8], b: &[u8]) -> bool {
        a == b || self.path_signature(a) == self.path_signature(b)
    }

    /// Finds every match in `data`, read from `path` (`/`-separated, relative to the top).
    /// UTF-16 and UTF-32 text is decoded first, and of a notebook the cells' sources are
    /// scanned ([`decode::decode`]). Matches on lines marked `secretgate:allow` are dropped
    /// unless the ruleset keeps them.
    pub fn scan(&self, path: &[u8], data: &[u8]) -> Vec<Match> {
        let mut out = self.scan_all(path, data);
        if !self.keep_inline_allowed {
            out.retain(|m| !m.inline_allowed);
        }
        out
    }

    /// The matches of [`Rule::distinctive`] rules in a commit or tag message (or a ref name):
    /// only a token whose format says what it is can be told from prose there.
    pub fn scan_message(&self, data: &[u8]) -> Vec<Match> {
        let mut out = self.scan(b"", data);
        out.retain(|m| self.rules[m.rule].distinctive);
        out
    }

    /// Like [`Self::scan`], with the keywords' occurrences in `data` already found
    /// ([`Self::keyword_hits`], or derived from a delta base's by [`KeywordHits::through_delta`]):
    /// the same matches, without searching `data` for keywords again. The hits are used only
    /// where the text scanned is `data` itself (not decoded UTF-16, not a notebook's cells).
    /// `facts` are [`Self::path_facts`] of `path` (or of a path of the same class: they
    /// depend on the path only through [`Self::path_signature`]).
    pub fn scan_with_hits(
        &self,
        path: &[u8],
        data: &[u8],
        hits: &KeywordHits,
        facts: &PathFacts,
    ) -> Vec<Match> {
        let mut out = self.scan_all_with(path, data, Some(hits), Some(facts));
        if !self.keep_inline_allowed {
            out.retain(|m| !m.inline_allowed);
        }
        out
    }

    /// Every occurrence of every keyword in `data`, in the order the search reports them (by
    /// end, then by start): what [`Self::scan_with_hits`] takes.
    pub fn keyword_hits(&self, data: &[u8]) -> KeywordHits {
        let mut hits = KeywordHits::default();
        self.find_keywords(data, 0, &mut hits.all);
        hits
    }

    /// Appends the keywords' occurrences in `data` to `out`, `offset` added to their
    /// positions.
    fn find_keywords(&self, data: &[u8], offset: usize, out: &mut Vec<KeywordHit>) {
        self.each_keyword(data, offset, &mut |hit| out.push(hit));
    }

    /// Hands every keyword occurrence in `data` to `f`, `offset` added to its position, in
    /// the order the search reports them.
    fn each_keyword(&self, data: &[u8], offset: usize, f: &mut dyn FnMut(KeywordHit)) {
        for hit in self
            .prefilter
            .automaton(data.len())
            .find_overlapping_iter(data)
        {
            f(KeywordHit {
                start: hit.start() + offset,
                end: hit.end() + offset,
                keyword: hit.pattern().as_u32(),
            });
        }
    }

    /// The length of the longest keyword, in bytes.
    pub fn longest_keyword(&self) -> usize {
        self.prefilter.longest()
    }

    /// What the rules decide from a path alone, worked out once for the many blobs a history
    /// holds at paths of one class (see [`Self::scan_with_hits`]).
    pub fn path_facts(&self, path: &[u8]) -> PathFacts {
        let allowlisted = self.allowlisted_path(path);
        let mut memo = Applicable {
            allowlisted,
            binary: false,
            only_distinctive: false,
            rules: vec![None; self.rules.len()],
            patterns: vec![None; self.patterns.len()],
        };
        for p in 0..self.patterns.len() {
            self.pattern_applies(p, path, &mut memo);
        }
        PathFacts {
            skips: self.skips_path(path),
            allowlisted,
            rules: memo.rules,
            patterns: memo.patterns,
        }
    }

    fn scan_all(&self, path: &[u8], data: &[u8]) -> Vec<Match> {
        self.scan_all_with(path, data, None, None)
    }

    fn scan_all_with(
        &self,
        path: &[u8],
        data: &[u8],
        hits: Option<&KeywordHits>,
        facts: Option<&PathFacts>,
    ) -> Vec<Match> {
        let skips = facts.map_or_else(|| self.skips_path(path), |f| f.skips);
        if data.is_empty() || skips {
            return Vec::new();
        }
        let decoded = decode::decode(path, data);
        let binary = decoded.is_binary();
        if binary && !self.rules.iter().any(|r| r.binary) {
            return Vec::new();
        }
        let text = decoded.text();
        // The hits were found in `data`: they stand for the text only when it is `data`.
        let hits = hits.filter(|_| !decoded.is_notebook() && std::ptr::eq(text, data));
        let mut out = self.scan_text(path, text, binary, false, hits, facts);
        relocate(&decoded, &mut out);
        if decoded.is_notebook() {
            // Outputs, attachments and metadata are not scanned as cells, but a provider's
            // token there is as leaked as anywhere: the raw JSON is read for those, once.
            for m in self.scan_text(path, data, binary, true, None, None) {
                if !out.iter().any(|o| o.rule == m.rule && o.value == m.value) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// The matches in one text (`only_distinctive`: of the distinctive rules only), with their
    /// lines and columns in that text.
    fn scan_text(
        &self,
        path: &[u8],
        data: &[u8],
        binary: bool,
        only_distinctive: bool,
        hits: Option<&KeywordHits>,
        facts: Option<&PathFacts>,
    ) -> Vec<Match> {
        let mut applicable = match facts.filter(|_| !binary && !only_distinctive) {
            Some(f) => Applicable {
                allowlisted: f.allowlisted,
                binary,
                only_distinctive,
                rules: f.rules.clone(),
                patterns: f.patterns.clone(),
            },
            None => Applicable {
                allowlisted: self.allowlisted_path(path),
                binary,
                only_distinctive,
                rules: vec![None; self.rules.len()],
                patterns: vec![None; self.patterns.len()],
            },
        };
        // Windows per pattern: merged, increasing byte ranges around keyword hits.
        let mut windows: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut active: Vec<usize> = Vec::new();
        // The keywords' occurrences: given (an audit's, from a delta's base), else searched
        // now, each handed over as it is found (no list on the hooks' path).
        let mut on_hit = |hit: KeywordHit| {
            let k = hit.keyword as usize;
            let after_word = hit.start > 0 && {
                let b = data[hit.start - 1];
                b.is_ascii_alphanumeric() || b == b'_'
            };
            for (j, &p) in self.prefilter.triggers[k].iter().enumerate() {
                if after_word && self.prefilter.at_word_start[k][j] {
                    continue;
                }
                if !self.pattern_applies(p, path, &mut applicable) {
                    continue;
                }
                if windows.is_empty() {
                    windows = vec![Vec::new(); self.patterns.len()];
                }
                let list = &mut windows[p];
                if list.last().is_some_and(|&(_, e)| hit.end <= e) {
                    continue;
                }
                let pat = &self.patterns[p];
                let s = location::line_start(data, hit.start, MAX_BACK);
                let mut e = location::line_end(data, hit.end, MAX_FWD);
                if pat.window_after > 0 {
                    let far = e.saturating_add(pat.window_after).min(data.len());
                    e = location::line_end(data, far, MAX_FWD);
                }
                if list.is_empty() {
                    active.push(p);
                }
                match list.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => list.push((s, e)),
                }
            }
        };
        match hits {
            Some(h) => h.all.iter().for_each(|&hit| on_hit(hit)),
            None => self.each_keyword(data, 0, &mut on_hit),
        }
        // Forms without keywords run on the whole text, at the paths they are limited to (a
        // path check each, nothing read elsewhere).
        for &p in &self.prefilter.unkeyed {
            if data.is_empty() || !self.pattern_applies(p, path, &mut applicable) {
                continue;
            }
            if windows.is_empty() {
                windows = vec![Vec::new(); self.patterns.len()];
            }
            windows[p] = vec![(0, data.len())];
            active.push(p);
        }
        if active.is_empty() {
            return Vec::new();
        }
        self.build_regexes(&active);
        let mut out = Vec::new();
        let mut memo = Memo::new(self.rules.len());
        for p in active {
            self.run_pattern(p, path, data, &windows[p], &mut memo, &mut out);
        }
        self.finish(data, out)
    }

    /// Builds the regexes these patterns need and do not have yet, on two threads when there
    /// are several: building a regex costs far more than running it over a file, and a hook's
    /// first files meet most of the regexes it builds (half of a one-commit push's start-up).
    fn build_regexes(&self, active: &[usize]) {
        let unbuilt: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&p| !self.patterns[p].regex.is_built())
            .collect();
        if unbuilt.len() < 2 {
            return;
        }
        let (mine, theirs) = unbuilt.split_at(unbuilt.len() / 2);
        std::thread::scope(|s| {
            let spawned = std::thread::Builder::new()
                .name("regex-build".into())
                .spawn_scoped(s, || {
                    for &p in theirs {
                        let _ = self.patterns[p].regex.get();
                    }
                });
            for &p in mine {
                let _ = self.patterns[p].regex.get();
            }
            // Without a second thread, the rest are built on first use as before.
            if let Ok(h) = spawned {
                let _ = h.join();
            }
        });
    }

    fn pattern_applies(&self, p: usize, path: &[u8], memo: &mut Applicable) -> bool {
        if let Some(a) = memo.patterns[p] {
            return a;
        }
        let pat: &Pattern = &self.patterns[p];
        let rule = &self.rules[pat.rule];
        let rule_ok = *memo.rules[pat.rule].get_or_insert_with(|| {
            (!memo.binary || rule.binary)
                && (!memo.only_distinctive || rule.distinctive)
                && self.rule_runs_on_listed(rule, path, memo.allowlisted)
        });
        let a = rule_ok && (pat.paths.is_empty() || pat.paths.matches(path));
        memo.patterns[p] = Some(a);
        a
    }

    fn run_pattern(
        &self,
        p: usize,
        path: &[u8],
        data: &[u8],
        windows: &[(usize, usize)],
        memo: &mut Memo,
        out: &mut Vec<Match>,
    ) {
        let pat = &self.patterns[p];
        let rule = &self.rules[pat.rule];
        let Ok(compiled) = pat.regex.get() else {
            tracing::warn!(rule = %rule.id, "regex cannot be built; rule skipped");
            return;
        };
        for &(ws, we) in windows {
            let hay = &data[ws..we];
            for caps in compiled.regex.captures_iter(hay) {
                let whole = caps.get(0).expect("group 0 always matches");
                let value = compiled
                    .secret_groups
                    .iter()
                    .find_map(|&i| caps.get(i))
                    .unwrap_or(whole);
                let name = compiled
                    .name_groups
                    .iter()
                    .find_map(|&i| caps.get(i))
                    .map(|m| m.as_bytes().to_str_lossy().into_owned());
                if pat.judges_receivers() {
                    let receiver = compiled.receiver_group.and_then(|i| caps.get(i));
                    if let Some(r) = receiver {
                        if !receiver_accepted(pat, data, r.as_bytes(), p, memo) {
                            continue;
                        }
                    }
                }
                let (vs, ve) = (ws + value.start(), ws + value.end());
                if let Some(m) = self.judge(
                    rule,
                    pat.rule,
                    p,
                    path,
                    data,
                    (vs, ve),
                    (ws + whole.start(), ws + whole.end()),
                    name,
                    memo,
                ) {
                    out.push(m);
                }
            }
        }
    }

    /// Applies the allow patterns, entropy, the inline marker, enclosing blocks, the weak
    /// severity and the form's checksum to one candidate; `None` when it is not a finding.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        rule: &Rule,
        rule_idx: usize,
        pattern: usize,
        path: &[u8],
        data: &[u8],
        (vs, ve): (usize, usize),
        span: (usize, usize),
        name: Option<String>,
        memo: &mut Memo,
    ) -> Option<Match> {
        let secret = rule.kind == crate::rules::Kind::Secret;
        // A Python literal that the literals after it continue (`("abc" "def")`): the value is
        // the whole concatenation, from the first literal to the last.
        let mut ve = ve;
        let joined = (secret && !rule.distinctive && is_python(path))
            .then(|| location::python_concatenation(data, (vs, ve), &mut memo.brackets))
            .filter(|parts| !parts.is_empty())
            .map(|parts| {
                let mut v = data[vs..ve].to_vec();
                for &(s, e) in &parts {
                    v.extend_from_slice(&data[s..e]);
                }
                ve = parts.last().map_or(ve, |p| p.1);
                v
            });
        let value = joined.as_deref().unwrap_or(&data[vs..ve]);
        if value.trim().is_empty() || self.value_allowed(rule, value) {
            return None;
        }
        let entropy = entropy_of(rule, value)?;
        let value_line = memo.line(data, vs);
        let mut inline_allowed = memo.line_memo(value_line).inline_allow;
        let first_line = memo.line(data, span.0);
        if span.0 < vs && memo.line_memo(first_line).inline_allow {
            inline_allowed = true;
        }
        let value_line = memo.line(data, vs);
        let lm = memo.line_memo(value_line);
        let line = &data[lm.start..lm.end];
        if self.line_allowed(rule, rule_idx, line, lm)
            || self.place_excluded(rule, rule_idx, path, data, span.0, memo)
        {
            return None;
        }
        let weak_value = rule
            .weak
            .as_ref()
            .is_some_and(|w| is_weak(w, value, entropy));
        let weak_place = !weak_value
            && rule.weak.as_ref().is_some_and(|w| {
                w.in_place(path, line)
                    || (!w.enclosed_by.is_empty() && {
                        let slot = memo.line(data, span.0);
                        let start = memo.line_memo(slot).start;
                        let headers = memo.blocks.headers(data, start);
                        headers
                            .iter()
                            .chain(&stage_of(path, data, start, &headers))
                            .any(|h| w.enclosed_by.iter().any(|r| r.is_match(h)))
                    })
            });
        let mut severity = match &rule.weak {
            Some(w) if weak_value || weak_place => w.severity,
            _ => rule.severity,
        };
        let secret = rule.kind == crate::rules::Kind::Secret;
        let mut note = if secret { self.note(rule, value) } else { None };
        // A setting in a development-only place says so when its value does not already say
        // why it warns (a documentation example's place lowers it without being one).
        if weak_place && note.is_none() && severity < rule.severity && !secret {
            note = Some(ValueNote::DevelopmentPlace);
        }
        // A token whose checksum fails was not issued by the provider: it warns (low), with
        // the reason, instead of blocking. A valid or unjudged one keeps its severity.
        if let Some(c) = self.patterns[pattern].checksum {
            if checksum::verify(c, value) == Some(checksum::Verdict::Mismatch) {
                severity = severity.min(Severity::Low);
                note = Some(ValueNote::ChecksumMismatch);
            }
        }
        Some(Match {
            snippet: (!secret).then(|| crate::redact::excerpt(&data[span.0..span.1])),
            note,
            inline_allowed,
            joined: joined.is_some(),
            rule: rule_idx,
            pattern,
            start: vs,
            end: ve,
            span,
            line: 0,
            value_line: 0,
            column: 0,
            cell: None,
            // A setting's finding is the whole matched code: `DEBUG = True` and
            // `TESTING = True` in one file are two findings, not one value `True`.
            value: if secret {
                value.to_vec()
            } else {
                data[span.0..span.1].trim().to_vec()
            },
            name,
            entropy,
            severity,
        })
    }

    /// Whether the rule's or the global allowlist's value patterns allow the value.
    fn value_allowed(&self, rule: &Rule, value: &[u8]) -> bool {
        rule.allow.iter().any(|a| a.is_match(value))
            || self.allowlist.values.iter().any(|a| a.is_match(value))
    }

    /// Whether the rule's `allow_lines` or the global allowlist's `lines` allow the value's
    /// line (`lm`, whose memo keeps the answers).
    fn line_allowed(&self, rule: &Rule, rule_idx: usize, line: &[u8], lm: &mut LineMemo) -> bool {
        if !rule.allow_lines.is_empty() {
            let allowed = match lm.rule_allow.iter().find(|(r, _)| *r == rule_idx) {
                Some(&(_, a)) => a,
                None => {
                    let a = rule.allow_lines.iter().any(|a| a.is_match(line));
                    lm.rule_allow.push((rule_idx, a));
                    a
                }
            };
            if allowed {
                return true;
            }
        }
        *lm.global_allow
            .get_or_insert_with(|| self.allowlist.lines.iter().any(|a| a.is_match(line)))
    }

    /// Whether the match's place rules it out: an enclosing block the rule skips or a function
    /// that lacks what the rule requires, a Python docstring, a file without the rule's
    /// `file_requires` or with its `skip_if_file_matches`.
    fn place_excluded(
        &self,
        rule: &Rule,
        rule_idx: usize,
        path: &[u8],
        data: &[u8],
        start: usize,
        memo: &mut Memo,
    ) -> bool {
        if !rule.skip_if_enclosed_by.is_empty() || !rule.block_requires.is_empty() {
            let slot = memo.line(data, start);
            let line_start = memo.line_memo(slot).start;
            let headers = memo.blocks.headers(data, line_start);
            if headers
                .iter()
                .chain(&stage_of(path, data, line_start, &headers))
                .any(|h| rule.skip_if_enclosed_by.iter().any(|r| r.is_match(h)))
            {
                return true;
            }
            if !rule.block_requires.is_empty() {
                let ok = location::enclosing_def(data, &headers).is_some_and(|def| {
                    *memo.functions.entry((rule_idx, def)).or_insert_with(|| {
                        let f = location::function_at(data, def);
                        rule.block_requires.iter().any(|r| r.is_match(f))
                    })
                });
                if !ok {
                    return true;
                }
            }
        }
        if rule.skip_in_docstrings && path.ends_with(b".py") {
            let strings = memo
                .triple_strings
                .get_or_insert_with(|| location::python_triple_strings(data));
            if location::in_triple_strings(strings, start) {
                return true;
            }
        }
        if !rule.file_requires.is_empty()
            && !*memo.file_requires[rule_idx]
                .get_or_insert_with(|| rule.file_requires.iter().any(|r| r.is_match(data)))
        {
            return true;
        }
        !rule.skip_if_file_matches.is_empty()
            && *memo.file_excludes[rule_idx]
                .get_or_insert_with(|| rule.skip_if_file_matches.iter().any(|r| r.is_match(data)))
    }

    /// What a secret's value adds to its message: publicly known, a development value,
    /// guessable.
    fn note(&self, rule: &Rule, value: &[u8]) -> Option<ValueNote> {
        let dev = rule
            .weak
            .as_ref()
            .is_some_and(|w| w.values.iter().any(|r| r.is_match(value)));
        if self.public_values.contains(value.trim()) {
            Some(ValueNote::Public)
        } else if dev {
            Some(ValueNote::Development)
        } else if rule.weak.is_some() && is_guessable(value) {
            Some(ValueNote::Guessable)
        } else {
            None
        }
    }

    /// Removes duplicates and fallback matches covered by a specific rule, orders by position
    /// and fills in lines and columns.
    fn finish(&self, data: &[u8], mut out: Vec<Match>) -> Vec<Match> {
        if out.is_empty() {
            return out;
        }
        out.sort_by_key(|m| (m.start, m.rule, m.end));
        out.dedup_by(|b, a| a.rule == b.rule && a.start == b.start && a.end == b.end);
        if self.rules.iter().any(|r| r.fallback) {
            // Specific matches by start (`out` is sorted), with the furthest end so far: a
            // fallback match overlaps one of them when one starting before its end ends after
            // its start. A binary search each, not a pass over every specific match each.
            let mut starts = Vec::new();
            let mut reach = Vec::new();
            for m in out.iter().filter(|m| !self.rules[m.rule].fallback) {
                starts.push(m.start);
                reach.push(reach.last().map_or(m.end, |&r: &usize| r.max(m.end)));
            }
            out.retain(|m| {
                if !self.rules[m.rule].fallback {
                    return true;
                }
                let n = starts.partition_point(|&s| s < m.end);
                n == 0 || reach[n - 1] <= m.start
            });
        }
        let mut lines = LineCounter::new();
        for m in &mut out {
            let (l, c) = lines.locate(data, m.start);
            m.value_line = l;
            if m.joined {
                // Literals joined over several lines: the last one's line.
                m.value_line += memchr::memchr_iter(b'\n', &data[m.start..m.end]).count();
            }
            let from = m.span.0.min(m.start);
            let back = memchr::memchr_iter(b'\n', &data[from..m.start]).count();
            if back > 0 {
                // A form over several lines is reported where it starts.
                m.line = l - back;
                m.column = from - location::line_start(data, from, usize::MAX) + 1;
            } else {
                m.line = l;
                m.column = c;
            }
        }
        out
    }
}

/// Whether a form that judges its receiver (`app` in `app.debug = True`) accepts this one: it
/// matches the form's `receivers`, or the text binds that name by its `receivers_bound_by`
/// (`web = Flask(__name__)`), which are read once per text and only when needed.
fn receiver_accepted(
    pat: &Pattern,
    data: &[u8],
    receiver: &[u8],
    p: usize,
    memo: &mut Memo,
) -> bool {
    let receiver = receiver.trim();
    if pat.receivers.iter().any(|r| r.is_match(receiver)) {
        return true;
    }
    if pat.receivers_bound_by.is_empty() {
        return false;
    }
    let names = memo
        .bound
        .entry(p)
        .or_insert_with(|| bound_names(pat, data));
    names.iter().any(|n| n.as_slice() == receiver)
}

/// The names a text binds by a form's `receivers_bound_by` (their `bind` groups).
fn bound_names(pat: &Pattern, data: &[u8]) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    for r in &pat.receivers_bound_by {
        let Ok(c) = r.get() else { continue };
        let Some(g) = c.bind_group else { continue };
        for caps in c.regex.captures_iter(data) {
            if let Some(m) = caps.get(g) {
                let name = m.as_bytes().trim();
                if !names.iter().any(|n| n.as_slice() == name) {
                    names.push(name.to_vec());
                }
            }
        }
    }
    names
}

/// The Dockerfile build stage a line belongs to, judged like an enclosing block's header: in a
/// Dockerfile, the `FROM base AS development` line of its stage; in a Compose file, the
/// `target: development` line of its service's build. `headers` are the line's enclosing
/// block headers.
fn stage_of<'a>(
    path: &[u8],
    data: &'a [u8],
    line_start: usize,
    headers: &[&'a [u8]],
) -> Option<&'a [u8]> {
    if location::is_dockerfile(path) {
        location::dockerfile_stage(data, line_start)
    } else if location::is_compose_file(path) {
        location::compose_build_target(data, headers)
    } else {
        None
    }
}

/// Whether the text at `path` is Python source (a notebook's cells are scanned as such).
fn is_python(path: &[u8]) -> bool {
    path.ends_with(b".py") || path.ends_with(b".pyw") || decode::is_notebook_path(path)
}

/// The value's entropy where the rule uses it (`Some(None)` where it does not); `None` when
/// it is below the rule's minimum.
fn entropy_of(rule: &Rule, value: &[u8]) -> Option<Option<f64>> {
    let uses_entropy = rule.entropy.is_some()
        || rule
            .weak
            .as_ref()
            .is_some_and(|w| w.below_entropy.is_some());
    let entropy = uses_entropy.then(|| shannon(value));
    match (rule.entropy, entropy) {
        (Some(min), Some(e)) if e < min => None,
        _ => Some(entropy),
    }
}

/// A value a person chose: words with separators, or short, or little entropy (`my little
/// secret`, `kahvi ja pulla`, `s3cret!`). Such a key blocks like a random one, and says why it
/// is worse.
fn is_guessable(value: &[u8]) -> bool {
    let len = value.chars().count();
    if len < 12 || shannon(value) < 3.0 {
        return true;
    }
    // Mostly letters in words, with few digits: a phrase.
    let letters = value.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let digits = value.iter().filter(|b| b.is_ascii_digit()).count();
    let seps = value
        .iter()
        .filter(|b| matches!(b, b' ' | b'_' | b'-' | b'.'))
        .count();
    letters + seps == value.len() || (letters * 10 >= value.len() * 8 && digits <= 4 && seps >= 1)
}

fn is_weak(w: &crate::rules::compile::Weak, value: &[u8], entropy: Option<f64>) -> bool {
    let len = value.chars().count();
    w.below_len.is_some_and(|n| len < n)
        || w.below_entropy
            .is_some_and(|min| entropy.unwrap_or_else(|| shannon(value)) < min)
        || w.values.iter().any(|r| r.is_match(value))
}

impl Ruleset {
    /// Whether any rule judges whole trees (the audit then reads the tip's tree for them).
    pub fn has_tree_rules(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.scope == crate::rules::syntax::Scope::Tree)
    }

    /// Whether a tree rule reads files at `path`.
    pub fn tree_rule_reads(&self, path: &[u8]) -> bool {
        !self.skips_path(path)
            && !self.allowlisted_path(path)
            && self.rules.iter().any(|r| {
                r.scope == crate::rules::syntax::Scope::Tree
                    && (r.paths.is_empty() || r.paths.matches(path))
                    && !r.skip_paths.matches(path)
            })
    }

    /// Judges the rules of `scope = "tree"` over a whole tree, given as (path, content) pairs:
    /// for each such rule, the first match in each file, unless some file of the tree matches
    /// one of the rule's `unless_in_tree` regexes. Returns the index of the file with each match.
    /// Files are decoded as [`Self::scan`] decodes them.
    pub fn scan_tree(&self, files: &[(Vec<u8>, Vec<u8>)]) -> Vec<(usize, Match)> {
        let mut out = Vec::new();
        let mut decoded: Vec<Option<decode::Decoded<'_>>> = files.iter().map(|_| None).collect();
        for rule in &self.rules {
            if rule.scope != crate::rules::syntax::Scope::Tree {
                continue;
            }
            let selected: Vec<usize> = (0..files.len())
                .filter(|&i| {
                    let p = &files[i].0;
                    !self.skips_path(p)
                        && !self.allowlisted_path(p)
                        && (rule.paths.is_empty() || rule.paths.matches(p))
                        && !rule.skip_paths.matches(p)
                        && !is_binary(&files[i].1)
                })
                .collect();
            for &i in &selected {
                if decoded[i].is_none() {
                    decoded[i] = Some(decode::decode(&files[i].0, &files[i].1));
                }
            }
            let text = |i: usize| decoded[i].as_ref().map_or(&[][..], |d| d.text());
            let cleared = selected
                .iter()
                .any(|&i| rule.unless_in_tree.iter().any(|r| r.is_match(text(i))));
            if cleared {
                continue;
            }
            for &i in &selected {
                let path = &files[i].0;
                let data = text(i);
                let mut found = Vec::new();
                for &p in &rule.patterns {
                    let pat = &self.patterns[p];
                    if !(pat.paths.is_empty() || pat.paths.matches(path)) {
                        continue;
                    }
                    let mut memo = Memo::new(self.rules.len());
                    self.run_pattern(p, path, data, &[(0, data.len())], &mut memo, &mut found);
                }
                let mut found = self.finish(data, found);
                if let Some(d) = &decoded[i] {
                    relocate(d, &mut found);
                }
                if let Some(m) = found.into_iter().next() {
                    out.push((i, m));
                }
            }
        }
        out
    }
}
