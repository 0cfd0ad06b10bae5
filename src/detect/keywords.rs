//! The keywords' occurrences in a text, and how to get those of a git delta's result from its
//! base's without searching the whole result again.
//!
//! Searching every byte for the keywords is most of what the detector costs on a history
//! (the regexes run only around the occurrences). A blob stored as a delta is mostly copied
//! from its base, and the occurrences of a keyword are a function of the text alone: one that
//! lies wholly inside a copied run is the base's occurrence, moved. Only the inserted bytes and
//! the seams between runs, widened by the longest keyword less one byte on each side, can hold
//! others; those are searched. The result is exactly what a search of the whole text finds.

use super::Ruleset;

/// One occurrence of a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordHit {
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset after its last byte.
    pub end: usize,
    /// The keyword's index in the prefilter.
    pub keyword: u32,
}

/// Every occurrence of every keyword in one text, ordered by end, then by start (the order
/// the overlapping search reports them in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeywordHits {
    pub(super) all: Vec<KeywordHit>,
}

/// A run of a delta's result: `len` bytes at `start`, copied from the base at `base`, or
/// inserted by the delta (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Offset in the result.
    pub start: usize,
    /// Length.
    pub len: usize,
    /// Offset in the base, for a copied run.
    pub base: Option<usize>,
}

impl KeywordHits {
    /// The occurrences, in order.
    pub fn as_slice(&self) -> &[KeywordHit] {
        &self.all
    }

    /// The occurrences in `data`, the result of a delta whose runs are `segments` (in order,
    /// covering `data`), given those in its base (`self`): the copied runs' occurrences moved,
    /// and the inserted runs and seams searched.
    pub fn through_delta(&self, rules: &Ruleset, segments: &[Segment], data: &[u8]) -> Self {
        let widen = rules.longest_keyword().saturating_sub(1);
        let mut all = Vec::with_capacity(self.all.len() + 16);
        // Moved: the base's occurrences wholly inside each copied run.
        for seg in segments {
            let Some(b) = seg.base else { continue };
            let first = self.all.partition_point(|h| h.end <= b);
            for h in &self.all[first..] {
                if h.end > b + seg.len {
                    // Ends are increasing: none further on ends inside the run.
                    break;
                }
                if h.start >= b {
                    all.push(KeywordHit {
                        start: h.start - b + seg.start,
                        end: h.end - b + seg.start,
                        keyword: h.keyword,
                    });
                }
            }
        }
        // Searched: every inserted run and every seam, widened, merged where they overlap.
        let mut regions: Vec<(usize, usize)> = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let (from, to) = if seg.base.is_none() {
                (seg.start, seg.start + seg.len)
            } else if i > 0 {
                (seg.start, seg.start)
            } else {
                continue;
            };
            let from = from.saturating_sub(widen);
            let to = (to + widen).min(data.len());
            match regions.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => regions.push((from, to)),
            }
        }
        let mut found = Vec::new();
        for (from, to) in regions {
            if from < to {
                rules.find_keywords(&data[from..to], from, &mut found);
            }
        }
        // A search region may cover a copied occurrence too: keep only those that are not.
        found.retain(|h| !inside_one_copy(segments, h));
        found.sort_unstable_by_key(|h| (h.end, h.start));
        found.dedup();
        all.extend(found);
        all.sort_unstable_by_key(|h| (h.end, h.start));
        KeywordHits { all }
    }
}

/// Whether `h` lies wholly inside one copied run.
fn inside_one_copy(segments: &[Segment], h: &KeywordHit) -> bool {
    let i = segments.partition_point(|s| s.start + s.len <= h.start);
    segments
        .get(i)
        .is_some_and(|s| s.base.is_some() && s.start <= h.start && h.end <= s.start + s.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delta from runs: copies (`Ok((base offset, len))`) and inserts (`Err(bytes)`).
    fn apply(base: &[u8], runs: &[Result<(usize, usize), &[u8]>]) -> (Vec<u8>, Vec<Segment>) {
        let mut out = Vec::new();
        let mut segs = Vec::new();
        for r in runs {
            let start = out.len();
            match r {
                Ok((b, n)) => {
                    out.extend_from_slice(&base[*b..b + n]);
                    segs.push(Segment {
                        start,
                        len: *n,
                        base: Some(*b),
                    });
                }
                Err(bytes) => {
                    out.extend_from_slice(bytes);
                    segs.push(Segment {
                        start,
                        len: bytes.len(),
                        base: None,
                    });
                }
            }
        }
        (out, segs)
    }

    /// A tiny random generator (xorshift), so the test needs no crate and is reproducible.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Text made of keyword fragments and the longest keywords, so occurrences are dense,
    /// overlap and straddle seams at the widest reach.
    fn text(rng: &mut Rng, len: usize, rules: &Ruleset) -> Vec<u8> {
        let mut longest: Vec<&String> = rules.prefilter.keywords().iter().collect();
        longest.sort_by_key(|k| std::cmp::Reverse(k.len()));
        let mut parts: Vec<&[u8]> = longest[..3].iter().map(|k| k.as_bytes()).collect();
        parts.extend_from_slice(&[
            b"password",
            b"PASS",
            b"secret_key",
            b"SECRET",
            b"token",
            b"ghp_",
            b"api_key",
            b"AKIA",
            b"key",
            b" = '",
            b"\n",
            b"xoxb-",
        ]);
        let mut t = Vec::new();
        while t.len() < len {
            t.extend_from_slice(parts[rng.below(parts.len())]);
            if rng.below(3) == 0 {
                t.push(b"abcXYZ_-0"[rng.below(9)]);
            }
        }
        t
    }

    #[test]
    fn hits_through_a_delta_equal_a_search_of_the_whole_result() {
        let rules = crate::rules::builtin().unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..400 {
            let len = 50 + rng.below(400);
            let base = text(&mut rng, len, &rules);
            let mut runs: Vec<Result<(usize, usize), &[u8]>> = Vec::new();
            let len = 1 + rng.below(30);
            let inserts = [text(&mut rng, len, &rules), text(&mut rng, 1, &rules)];
            for _ in 0..1 + rng.below(8) {
                if rng.below(3) == 0 {
                    runs.push(Err(&inserts[rng.below(2)]));
                } else {
                    let b = rng.below(base.len() - 1);
                    let n = 1 + rng.below(base.len() - b - 1);
                    runs.push(Ok((b, n)));
                }
            }
            let (out, segs) = apply(&base, &runs);
            let whole = rules.keyword_hits(&out);
            let derived = rules.keyword_hits(&base).through_delta(&rules, &segs, &out);
            assert_eq!(
                derived,
                whole,
                "round {round}: {:?}",
                String::from_utf8_lossy(&out)
            );
        }
    }

    /// Skipping occurrences right after a word character for forms that start with a word
    /// boundary and the keyword changes no result: texts full of provider prefixes, each after
    /// a letter, `_`, a space or a quote, scanned with and without the skip.
    #[test]
    fn occurrences_inside_words_skip_only_forms_that_cannot_start_there() {
        let rules = crate::rules::builtin().unwrap();
        let mut reference = crate::rules::builtin().unwrap();
        let flagged: usize = reference
            .prefilter
            .at_word_start
            .iter()
            .flatten()
            .filter(|&&b| b)
            .count();
        assert!(
            flagged > 20,
            "only {flagged} forms start with a boundary and their keyword"
        );
        for v in &mut reference.prefilter.at_word_start {
            v.iter_mut().for_each(|b| *b = false);
        }
        let mut rng = Rng(777);
        let mut found = 0;
        let prefixes = [
            "ghp_", "sk_live_", "xoxb-", "glpat-", "npm_", "AKIA", "hf_", "pk_",
        ];
        for _ in 0..300 {
            let mut t = String::new();
            for _ in 0..20 {
                t.push_str(["x", "_", " ", "\"", "=", "\n", "9"][rng.below(7)]);
                t.push_str(prefixes[rng.below(prefixes.len())]);
                for _ in 0..16 + rng.below(30) {
                    t.push(
                        b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.below(55)]
                            as char,
                    );
                }
            }
            for path in ["config.py", "deploy/.env"] {
                let a = rules.scan(path.as_bytes(), t.as_bytes());
                let b = reference.scan(path.as_bytes(), t.as_bytes());
                found += b.len();
                let key = |m: &crate::detect::Match| (m.rule, m.start, m.end, m.line);
                assert_eq!(
                    a.iter().map(key).collect::<Vec<_>>(),
                    b.iter().map(key).collect::<Vec<_>>(),
                    "{t}"
                );
            }
        }
        assert!(found > 100, "the texts hold tokens: {found}");
    }

    #[test]
    fn the_search_reports_by_end_then_start() {
        let rules = crate::rules::builtin().unwrap();
        let mut rng = Rng(12345);
        for _ in 0..200 {
            let t = text(&mut rng, 300, &rules);
            let hits = rules.keyword_hits(&t);
            let mut sorted = hits.all.clone();
            sorted.sort_unstable_by_key(|h| (h.end, h.start));
            assert_eq!(hits.all, sorted);
        }
    }
}
