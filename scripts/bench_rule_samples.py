#!/usr/bin/env python3
"""Writes gitleaks' samples and Kingfisher's examples as files and counts what secretgate blocks.

Called by scripts/bench-rule-samples.sh with its work folder (holding gitleaks.jsonl and kf/)
and the secretgate binary. A gitleaks sample made from one of its templates is written as a file
of the template's type (settings.ini, config.go, Makefile, ...); a sample without a template and
every Kingfisher example is written as a file of the type its text looks like (JSON, XML, a shell
command, YAML, a .env line, JavaScript, Python, a key = value file, else notes.txt). A sample
counts as blocked when secretgate reports a finding of a blocking severity (high) in it. Prints the three numbers of issue 12 and, with -v in BENCH_VERBOSE,
the rules whose samples are missed most.
"""
import collections
import json
import os
import re
import subprocess
import sys

import yaml

WORK, BIN = sys.argv[1], sys.argv[2]
VERBOSE = os.environ.get("BENCH_VERBOSE")

# gitleaks' sample templates (GenerateSampleSecrets) by name prefix -> file name.
TEMPLATE_FILES = [
    ("ini", "settings.ini"),
    ("json", "config.json"),
    ("xml", "settings.xml"),
    ("yaml", "config.yaml"),
    ("C#", "Settings.cs"),
    ("go", "config.go"),
    ("java", "Config.java"),
    ("kotlin", "Config.kt"),
    ("php", "config.php"),
    ("python", "settings.py"),
    ("misc", "Config.java"),
    ("logstash", "logstash.conf"),
    ("make", "Makefile"),
]


def plausible_name(text):
    """A file name for a sample that comes without one: what such text usually is."""
    stripped = text.strip()
    first = stripped.splitlines()[0] if stripped else ""
    if stripped.startswith(("{", "[")):
        try:
            json.loads(stripped)
            return "config.json"
        except ValueError:
            pass
    if stripped.startswith("<"):
        return "config.xml"
    if "-----BEGIN" in stripped:
        return "key.pem"
    if re.match(r"(?:curl|wget|http|git|docker|kubectl|oc|export|set|\$|#!|sudo)\b", first):
        return "run.sh"
    if re.match(r"(?:apiVersion|kind):", first) or re.match(r"^[\w.-]+:\s*\S", first) and "=" not in first:
        return "config.yaml"
    if re.match(r"^[A-Z][A-Z0-9_]*=\S", first):
        return ".env"
    if re.search(r"\b(?:var|let|const|function)\b", stripped):
        return "app.js"
    if re.search(r"\b(?:def|import|os\.environ|self\.)\b", stripped) or re.match(r"^\w+ = ['\"]", first):
        return "settings.py"
    if re.match(r"^[\w.-]+\s*[=:]\s*\S", first):
        return "settings.conf"
    return "notes.txt"


def file_name(kind, text):
    for prefix, name in TEMPLATE_FILES:
        if kind.startswith(prefix):
            return name
    return plausible_name(text)


def write_samples(root, samples):
    """samples: list of (key, path-or-None, name, text); returns {folder: key}."""
    where = {}
    for n, (key, path, name, text) in enumerate(samples):
        folder = os.path.join(root, f"{n:05d}")
        rel = path if path else name
        full = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        where[f"{n:05d}"] = key
    return where


def blocked_folders(root):
    out = subprocess.run(
        [BIN, "scan", "--format", "json", "-q", "."],
        cwd=root, capture_output=True, check=False,
    )
    if out.returncode not in (0, 1):
        sys.exit(f"secretgate scan failed ({out.returncode}): {out.stderr.decode()[:2000]}")
    findings = json.loads(out.stdout or b"[]")
    hit = collections.defaultdict(set)
    for f in findings:
        if f.get("severity") == "high":
            hit[f["path"].split("/", 1)[0]].add(f["rule_id"])
    return hit


def main():
    # gitleaks
    tps, fps = [], []
    with open(os.path.join(WORK, "gitleaks.jsonl")) as f:
        for line in f:
            s = json.loads(line)
            item = (s["rule"], s["path"] or None, file_name(s["kind"], s["text"]), s["text"])
            (tps if s["tp"] else fps).append(item)
    kf = []
    kfdir = os.path.join(WORK, "kf")
    for name in sorted(os.listdir(kfdir)):
        try:
            doc = yaml.safe_load(open(os.path.join(kfdir, name), encoding="utf-8"))
        except yaml.YAMLError:
            continue
        for rule in (doc or {}).get("rules", []) or []:
            for ex in rule.get("examples", []) or []:
                if isinstance(ex, str):
                    kf.append((rule.get("id", name), None, plausible_name(ex), ex))

    results = {}
    for label, samples in (("gitleaks-tp", tps), ("gitleaks-fp", fps), ("kingfisher", kf)):
        root = os.path.join(WORK, label)
        where = write_samples(root, samples)
        hit = blocked_folders(root)
        missed = collections.Counter()
        for folder, key in where.items():
            if folder not in hit:
                missed[key] += 1
        blocked = sum(1 for folder in where if folder in hit)
        results[label] = (blocked, len(samples))
        if VERBOSE:
            if label == "gitleaks-fp":
                for folder, rules in sorted(hit.items()):
                    print(f"  fp blocked: {where[folder]} by {','.join(sorted(rules))}: "
                          f"{samples[int(folder)][3][:120]!r}")
            else:
                print(f"  {label} missed by rule: {missed.most_common(400)}")
    b, n = results["gitleaks-tp"]
    print(f"gitleaks true positives blocked: {b}/{n} ({100.0 * b / max(n, 1):.1f}%)")
    b, n = results["gitleaks-fp"]
    print(f"gitleaks false positives blocked: {b}/{n}")
    b, n = results["kingfisher"]
    print(f"kingfisher examples blocked: {b}/{n}")


main()
