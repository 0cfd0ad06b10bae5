#!/usr/bin/env bash
# Measures the built-in rules on other projects' own test material: the true- and false-positive
# samples of gitleaks' rule generators (cmd/generate/config/rules/*.go) and the examples of
# Kingfisher's rules (data/rules/*.yml). Nothing of theirs is kept in this repository: the
# samples are extracted from their git directories at run time, written as files of a
# plausible type under a temporary folder, and scanned with `secretgate scan --format json`.
#
# Usage: scripts/bench-rule-samples.sh GITLEAKS_GIT_DIR KINGFISHER_GIT_DIR [SECRETGATE_BIN]
#   GITLEAKS_GIT_DIR / KINGFISHER_GIT_DIR: a clone (or bare git directory) of
#   github.com/gitleaks/gitleaks and github.com/mongodb/kingfisher.
# Needs: git, python3 with PyYAML, and Go (>= 1.19). gitleaks' samples are random strings that
# its rule generators draw from regexes: the script runs those generators with stand-ins for
# gitleaks' config package and for its regex-to-string generator, so no module is downloaded and
# the random samples differ from run to run (the counts move by a few samples).
set -euo pipefail

GL=${1:?gitleaks git directory}
KF=${2:?kingfisher git directory}
BIN=${3:-}
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "$BIN" ]]; then
  (cd "$HERE" && cargo build --release -q)
  BIN="${CARGO_TARGET_DIR:-$HERE/target}/release/secretgate"
fi
WORK=$(mktemp -d)
[[ -n "${BENCH_KEEP:-}" ]] || trap 'rm -rf "$WORK"' EXIT
gitd() { if [[ -d "$1/.git" ]]; then echo "$1/.git"; else echo "$1"; fi; }
GLD=$(gitd "$GL")
KFD=$(gitd "$KF")

# --- gitleaks: run its sample generators -------------------------------------------------
MOD="$WORK/glgen"
mkdir -p "$MOD/rules" "$MOD/utils" "$MOD/secrets" "$MOD/config" "$MOD/regexp" "$MOD/cmd"
for f in $(git --git-dir="$GLD" ls-tree --name-only HEAD cmd/generate/config/rules/); do
  case "$f" in *_test.go|*.tmpl) continue ;; esac
  git --git-dir="$GLD" show "HEAD:$f" >"$MOD/rules/$(basename "$f")"
done
git --git-dir="$GLD" show HEAD:cmd/generate/config/utils/generate.go >"$MOD/utils/generate.go"
git --git-dir="$GLD" show HEAD:cmd/generate/config/utils/patterns.go >"$MOD/utils/patterns.go"
cat >"$MOD/secrets/regen.go" <<'GO'
// Package secrets draws a random string that a regex matches (a stand-in for the generator
// gitleaks uses, so that no module has to be downloaded).
package secrets

import (
	"math/rand"
	"regexp/syntax"
	"strings"
)

// NewSecret returns a random string matched by regex.
func NewSecret(regex string) string {
	re, err := syntax.Parse(regex, syntax.Perl)
	if err != nil {
		panic(err)
	}
	var sb strings.Builder
	gen(&sb, re.Simplify())
	return sb.String()
}

func gen(sb *strings.Builder, re *syntax.Regexp) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && rand.Intn(2) == 0 {
				r = []rune(strings.ToUpper(string(r)))[0]
			}
			sb.WriteRune(r)
		}
	case syntax.OpCharClass:
		var total int
		for i := 0; i+1 < len(re.Rune); i += 2 {
			hi := re.Rune[i+1]
			if hi > 126 {
				hi = 126
			}
			if hi >= re.Rune[i] {
				total += int(hi-re.Rune[i]) + 1
			}
		}
		if total == 0 {
			return
		}
		n := rand.Intn(total)
		for i := 0; i+1 < len(re.Rune); i += 2 {
			hi := re.Rune[i+1]
			if hi > 126 {
				hi = 126
			}
			if hi < re.Rune[i] {
				continue
			}
			w := int(hi-re.Rune[i]) + 1
			if n < w {
				sb.WriteRune(re.Rune[i] + rune(n))
				return
			}
			n -= w
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		sb.WriteByte(byte('a' + rand.Intn(26)))
	case syntax.OpCapture:
		gen(sb, re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			gen(sb, s)
		}
	case syntax.OpAlternate:
		gen(sb, re.Sub[rand.Intn(len(re.Sub))])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, 10
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
			if hi < 0 {
				hi = lo + 10
			}
		}
		n := lo + rand.Intn(hi-lo+1)
		for i := 0; i < n; i++ {
			gen(sb, re.Sub[0])
		}
	}
}
GO
git --git-dir="$GLD" show HEAD:cmd/generate/config/main.go >"$WORK/main.go"
# Every generated sample remembers which template of GenerateSampleSecrets made it.
python3 - "$MOD/utils/generate.go" <<'PY'
import sys, re
p = sys.argv[1]
s = open(p).read()
s = s.replace("""	for _, v := range samples {
		cases = append(cases, replacer.Replace(v))
	}""", """	for k, v := range samples {
		c := replacer.Replace(v)
		SampleKind[c] = k
		cases = append(cases, c)
	}""")
s += "\n// SampleKind maps a generated sample to its template's name.\nvar SampleKind = map[string]string{}\n"
open(p, "w").write(s)
PY
cat >"$MOD/utils/validate.go" <<'GO'
package utils

import (
	"encoding/json"
	"os"

	"glgen/config"
)

// Sample is one string of a rule's test material.
type Sample struct {
	Rule string `json:"rule"`
	TP   bool   `json:"tp"`
	Text string `json:"text"`
	Kind string `json:"kind"`
	Path string `json:"path"`
}

var enc = json.NewEncoder(os.Stdout)

func emit(rule string, tp bool, text, path string) {
	_ = enc.Encode(Sample{rule, tp, text, SampleKind[text], path})
}

func Validate(rule config.Rule, tps []string, fps []string) *config.Rule {
	for _, t := range tps {
		emit(rule.RuleID, true, t, "")
	}
	for _, t := range fps {
		emit(rule.RuleID, false, t, "")
	}
	return &rule
}

func ValidateWithPaths(rule config.Rule, tps map[string]string, fps map[string]string) *config.Rule {
	for p, t := range tps {
		emit(rule.RuleID, true, t, p)
	}
	for p, t := range fps {
		emit(rule.RuleID, false, t, p)
	}
	return &rule
}

func GetEnvOrDefault(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}
GO
cat >"$MOD/config/config.go" <<'GO'
package config

import (
	"strings"

	"glgen/regexp"
)

type AllowlistMatchCondition int

const (
	AllowlistMatchOr AllowlistMatchCondition = iota
	AllowlistMatchAnd
)

type Allowlist struct {
	Description    string
	MatchCondition AllowlistMatchCondition
	Paths          []*regexp.Regexp
	RegexTarget    string
	Regexes        []*regexp.Regexp
	StopWords      []string
	Commits        []string
}

// ContainsStopWord says whether s holds one of the stop words.
func (a *Allowlist) ContainsStopWord(s string) (bool, string) {
	l := strings.ToLower(s)
	for _, w := range a.StopWords {
		if strings.Contains(l, strings.ToLower(w)) {
			return true, w
		}
	}
	return false, ""
}

type Rule struct {
	RuleID      string
	Description string
	Entropy     float64
	SecretGroup int
	Regex       *regexp.Regexp
	Path        *regexp.Regexp
	Paths       []*regexp.Regexp
	Tags        []string
	Keywords    []string
	Allowlists  []*Allowlist
	SkipReport  bool
}
GO
cat >"$MOD/regexp/regexp.go" <<'GO'
package regexp

import re "regexp"

type Regexp = re.Regexp

func MustCompile(s string) *Regexp { return re.MustCompile(s) }
GO
python3 - "$WORK/main.go" "$MOD/cmd/main.go" <<'PY'
import sys, re
src = open(sys.argv[1]).read()
calls = re.findall(r"\brules\.([A-Za-z0-9_]+)\(\)", src)
out = ['package main', '', 'import "glgen/rules"', '', 'func main() {']
out += [f"\trules.{c}()" for c in dict.fromkeys(calls)]
out += ['}', '']
open(sys.argv[2], "w").write("\n".join(out))
PY
# Imports of gitleaks' packages point at the stand-ins.
sed -i 's#github.com/zricethezav/gitleaks/v8/cmd/generate/config/utils#glgen/utils#; s#github.com/zricethezav/gitleaks/v8/cmd/generate/secrets#glgen/secrets#; s#github.com/zricethezav/gitleaks/v8/config#glgen/config#; s#github.com/zricethezav/gitleaks/v8/regexp#glgen/regexp#' "$MOD"/rules/*.go "$MOD"/utils/*.go
(cd "$MOD" && printf 'module glgen\n\ngo 1.19\n' >go.mod && GOFLAGS=-mod=mod go run ./cmd >"$WORK/gitleaks.jsonl")

# --- Kingfisher: every rule's examples ------------------------------------------------------
mkdir -p "$WORK/kf"
for f in $(git --git-dir="$KFD" ls-tree --name-only HEAD data/rules/); do
  case "$f" in *.yml|*.yaml) git --git-dir="$KFD" show "HEAD:$f" >"$WORK/kf/$(basename "$f")" ;; esac
done

python3 "$HERE/scripts/bench_rule_samples.py" "$WORK" "$BIN"
