//! Content that is not UTF-8 text as stored, end to end through the binary: UTF-16 and UTF-32
//! files are decoded, and of Jupyter notebooks the cells are scanned, by `scan`, by a real push
//! through the pre-receive hook and by the audit; the lines reported are those the hooks diff.

use serde_json::Value;

use crate::common::{field, run_in, tempdir};
use crate::gitutil::{secretgate, text, Sandbox};

/// Values invented for these tests: random hex, no real keys.
const K_UTF16: &str = "c41f9a07e2b85d3c6f10a9e4b7d2c85e";
const K_UTF16BE: &str = "7e3a0c95f1d84b26a9e05c7f3b18d4a6";
const K_UTF32: &str = "2b9d6f0e4a7c1358e2f9b0a6d4c8e17f";
const K_CELL: &str = "f05b3e8d2a7c9164b0e5d3a8c7f2196e";
const K_CELL2: &str = "93c7a1e50f4d8b62c1a9e3f70b5d2c84";
const ALL: &[&str] = &[K_UTF16, K_UTF16BE, K_UTF32, K_CELL, K_CELL2];

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

fn utf32le_with_bom(s: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE, 0, 0];
    for c in s.chars() {
        out.extend_from_slice(&(c as u32).to_le_bytes());
    }
    out
}

/// A JSON string literal.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A notebook as Jupyter writes it (one source line per file line), from each cell's type and
/// source lines; code cells get an output holding `output`.
fn notebook(cells: &[(&str, &[&str])], output: &str) -> String {
    let mut out = String::from("{\n \"cells\": [\n");
    for (i, (kind, lines)) in cells.iter().enumerate() {
        out.push_str(&format!(
            "  {{\n   \"cell_type\": \"{kind}\",\n   \"metadata\": {{}},\n"
        ));
        if *kind == "code" {
            out.push_str(&format!(
                "   \"execution_count\": {},\n   \"outputs\": [\n    {{\n     \"name\": \"stdout\",\n     \"output_type\": \"stream\",\n     \"text\": [\n      {}\n     ]\n    }}\n   ],\n",
                i + 1,
                lit(output)
            ));
        }
        out.push_str("   \"source\": [\n");
        for (j, l) in lines.iter().enumerate() {
            let l = if j + 1 < lines.len() {
                format!("{l}\n")
            } else {
                (*l).to_owned()
            };
            let comma = if j + 1 < lines.len() { "," } else { "" };
            out.push_str(&format!("    {}{comma}\n", lit(&l)));
        }
        let comma = if i + 1 < cells.len() { "," } else { "" };
        out.push_str(&format!("   ]\n  }}{comma}\n"));
    }
    out.push_str(
        " ],\n \"metadata\": {\"kernelspec\": {\"name\": \"python3\"}},\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n",
    );
    out
}

/// The 1-based line of the notebook file holding `needle`.
fn file_line(file: &str, needle: &str) -> u64 {
    file.lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u64 + 1)
        .unwrap_or_else(|| panic!("{needle:?} is not in the notebook"))
}

/// A notebook whose second cell sets a key and debug mode; an output holds a key-like line.
fn flask_notebook() -> String {
    let setup: &[&str] = &["# Exploring the app", "Nothing secret here."];
    let code: &[&str] = &[
        "from flask import Flask",
        "app = Flask(__name__)",
        &format!("app.config[\"SECRET_KEY\"] = \"{K_CELL}\""),
        "app.run(debug=True)",
    ];
    notebook(
        &[("markdown", setup), ("code", code)],
        &format!("SECRET_KEY = \"{K_CELL2}\"\n"),
    )
}

#[track_caller]
fn assert_no_value(what: &str, out: &str) {
    for v in ALL {
        assert!(!out.contains(v), "{what} holds the full value {v}:\n{out}");
        assert!(
            !out.contains(&v[..12]),
            "{what} holds a piece of {v}:\n{out}"
        );
    }
}

/// (rule, line, message) of each finding at `path`.
fn at<'a>(findings: &'a [Value], path: &str) -> Vec<(&'a str, u64, &'a str)> {
    findings
        .iter()
        .filter(|f| field(f, "path").trim_start_matches("./") == path)
        .map(|f| {
            (
                field(f, "rule_id"),
                f["line"].as_u64().unwrap_or(0),
                field(f, "message"),
            )
        })
        .collect()
}

#[test]
fn scan_decodes_utf16_utf32_and_notebook_cells() {
    let dir = tempdir();
    let d = dir.path();
    let write = |rel: &str, data: &[u8]| {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    write(
        "app/config.py",
        &utf16(
            &format!("import os\r\n\r\nSECRET_KEY = \"{K_UTF16}\"\r\n"),
            true,
            true,
        ),
    );
    write(
        "deploy/app.ini",
        &utf16(
            &format!("[app]\nname = Grüße\nSECRET_KEY = {K_UTF16BE}\n"),
            false,
            false,
        ),
    );
    write(
        "tools/run.py",
        &utf32le_with_bom(&format!(
            "import os\n\nJWT_SECRET_KEY = \"{K_UTF32}\"\n\nif __name__ == \"__main__\":\n    app.run(debug=True)\n"
        )),
    );
    let nb = flask_notebook();
    write("notebooks/explore.ipynb", nb.as_bytes());
    // Binary content stays binary.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(format!("SECRET_KEY = \"{K_UTF16}\"\n").as_bytes());
    write("static/logo.png", &png);

    let r = run_in(Some(d), &["scan", "--format", "json", "."]);
    r.expect_code(1);
    let findings = r.json();
    assert_no_value("scan --format json", &r.all_output());

    assert_eq!(
        at(&findings, "app/config.py"),
        vec![(
            "flask-secret-key",
            3,
            "Hard-coded Flask secret key (SECRET_KEY)"
        )]
    );
    assert_eq!(
        at(&findings, "deploy/app.ini"),
        vec![(
            "flask-secret-key",
            3,
            "Hard-coded Flask secret key (SECRET_KEY)"
        )]
    );
    let run: Vec<(&str, u64)> = at(&findings, "tools/run.py")
        .iter()
        .map(|f| (f.0, f.1))
        .collect();
    assert_eq!(run, vec![("flask-secret-key", 3), ("flask-debug", 6)]);

    let cells = at(&findings, "notebooks/explore.ipynb");
    assert_eq!(cells.len(), 2, "{findings:#?}");
    assert_eq!(cells[0].0, "flask-secret-key");
    assert_eq!(cells[0].1, file_line(&nb, K_CELL));
    assert!(
        cells[0].2.ends_with(" (notebook cell 2, line 3)"),
        "{}",
        cells[0].2
    );
    assert_eq!(cells[1].0, "flask-debug");
    assert_eq!(cells[1].1, file_line(&nb, "app.run(debug=True)"));
    assert!(
        cells[1].2.ends_with(" (notebook cell 2, line 4)"),
        "{}",
        cells[1].2
    );
    assert!(at(&findings, "static/logo.png").is_empty());

    // Redacted to its first four characters and its length, as for UTF-8 files.
    let secret = |path: &str| {
        findings
            .iter()
            .find(|f| field(f, "path").ends_with(path))
            .map(|f| field(f, "secret").to_owned())
            .unwrap()
    };
    assert_eq!(
        secret("app/config.py"),
        format!("{}…(32 chars)", &K_UTF16[..4])
    );
    assert_eq!(
        secret("explore.ipynb"),
        format!("{}…(32 chars)", &K_CELL[..4])
    );

    // The same value in UTF-8 has the same fingerprint: the value is the decoded one.
    let fp = |findings: &[Value]| {
        findings
            .iter()
            .find(|f| field(f, "path").ends_with("app/config.py"))
            .map(|f| field(f, "fingerprint").to_owned())
            .unwrap()
    };
    let wide = fp(&findings);
    write(
        "app/config.py",
        format!("import os\n\nSECRET_KEY = \"{K_UTF16}\"\n").as_bytes(),
    );
    let r = run_in(Some(d), &["scan", "--format", "json", "."]);
    r.expect_code(1);
    assert_eq!(fp(&r.json()), wide);
}

#[test]
fn scan_counts_binary_files_but_not_utf16_text() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(
        d.join("settings.ps1"),
        utf16("$Name = 'report'\r\nWrite-Host $Name\r\n", true, false),
    )
    .unwrap();
    std::fs::write(d.join("logo.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0").unwrap();
    let r = run_in(Some(d), &["scan", "."]);
    r.expect_code(0);
    let all = r.all_output();
    assert!(all.contains("1 binary"), "{all}");
}

#[test]
fn push_of_a_utf16_file_and_a_notebook_with_secrets_is_rejected() {
    let sb = Sandbox::new();
    let server = sb.server("server.git", None);
    let repo = sb.work("work");
    repo.commit_file("README.md", "# app\n", "initial");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);

    repo.write(
        "win/config.py",
        utf16(
            &format!("import os\r\nSECRET_KEY = \"{K_UTF16}\"\r\n"),
            true,
            true,
        ),
    );
    let nb = flask_notebook();
    repo.write("explore.ipynb", &nb);
    repo.commit_all("Add config and notebook");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(!p.ok, "the push must be rejected:\n{}", p.stderr);
    let e = &p.stderr;
    assert!(e.contains("win/config.py:2"), "{e}");
    let key_line = file_line(&nb, K_CELL);
    assert!(e.contains(&format!("explore.ipynb:{key_line}")), "{e}");
    assert!(e.contains("(notebook cell 2, line 3)"), "{e}");
    assert!(e.contains("(notebook cell 2, line 4)"), "{e}");
    assert!(!e.contains(K_CELL2) && !e.contains(&K_CELL2[..4]), "{e}");
    assert_no_value("the rejection", e);
}

#[test]
fn push_reports_only_the_new_cell_and_the_new_utf16_line() {
    let sb = Sandbox::new();
    let server = sb.server("server.git", None);
    let repo = sb.work("work");
    let old_cell: &[&str] = &[&format!("SECRET_KEY = \"{K_CELL2}\"")];
    let first = notebook(&[("code", old_cell)], "");
    repo.write("analysis.ipynb", &first);
    let wide_old = format!("[app]\r\nSECRET_KEY = {K_UTF16BE}\r\n");
    repo.write("deploy/app.ini", utf16(&wide_old, true, false));
    repo.commit_all("first");
    // Findings already on the server are known: the first state goes in without the hook.
    server.set_hook("#!/bin/sh\nexit 0\n");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    server.set_hook(&format!(
        "#!/bin/sh\nexec '{}' pre-receive\n",
        crate::gitutil::secretgate_bin().display()
    ));
    assert!(server.rev("refs/heads/main").is_some());

    let new_cell: &[&str] = &[
        "import os",
        &format!("app.config[\"SECRET_KEY\"] = \"{K_CELL}\""),
    ];
    let second = notebook(
        &[
            ("markdown", &["# Notes"][..]),
            ("code", old_cell),
            ("code", new_cell),
        ],
        "",
    );
    repo.write("analysis.ipynb", &second);
    // `Ċ` is U+010A: its UTF-16 form holds the byte of a newline, so a diff of the raw bytes
    // would see one line more than the text has.
    repo.write(
        "deploy/app.ini",
        utf16(
            &format!("[app]\r\n; Ċ\r\nSECRET_KEY = {K_UTF16BE}\r\nJWT_SECRET_KEY = {K_UTF32}\r\n"),
            true,
            false,
        ),
    );
    repo.commit_all("second");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(!p.ok, "the push must be rejected:\n{}", p.stderr);
    let e = &p.stderr;
    let new_line = file_line(&second, K_CELL);
    assert!(e.contains(&format!("analysis.ipynb:{new_line}")), "{e}");
    assert!(e.contains("(notebook cell 3, line 2)"), "{e}");
    assert!(
        !e.contains("(notebook cell 2"),
        "the old cell is reported:\n{e}"
    );
    assert!(e.contains("deploy/app.ini:4"), "{e}");
    assert!(
        !e.contains("deploy/app.ini:3"),
        "the old line is reported:\n{e}"
    );
    assert_no_value("the rejection", e);
}

#[test]
fn audit_finds_decoded_values_with_their_cells() {
    let sb = Sandbox::new();
    let repo = sb.work("work");
    repo.write(
        "config.py",
        utf16(&format!("SECRET_KEY = \"{K_UTF16}\"\n"), false, true),
    );
    let nb = flask_notebook();
    repo.write("explore.ipynb", &nb);
    repo.commit_all("history");
    let out = secretgate(&repo.dir, &["audit", ".", "--format", "json"]);
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out)));
    assert_no_value("the audit", &text(&out));
    assert_eq!(
        at(&findings, "config.py"),
        vec![(
            "flask-secret-key",
            1,
            "Hard-coded Flask secret key (SECRET_KEY)"
        )]
    );
    let cells: Vec<(&str, u64, bool)> = at(&findings, "explore.ipynb")
        .iter()
        .map(|f| (f.0, f.1, f.2.ends_with("(notebook cell 2, line 3)")))
        .collect();
    assert!(
        cells.contains(&("flask-secret-key", file_line(&nb, K_CELL), true)),
        "{}",
        text(&out)
    );
}
