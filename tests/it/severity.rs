//! The severity model end to end: a key's value class (development marker, publicly known,
//! guessable, random) and its place (development classes and folders, samples, another
//! framework) decide what blocks, and the message says why.

use crate::gitutil::{secretgate, Sandbox};
use serde_json::Value;

fn scan_json(dir: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["scan", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(".");
    let o = secretgate(dir, &args);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", crate::gitutil::text(&o)))
}

fn at<'a>(found: &'a [Value], path: &str, line: u64) -> &'a Value {
    found
        .iter()
        .find(|f| f["path"] == path && f["line"] == line)
        .unwrap_or_else(|| panic!("no finding at {path}:{line} in {found:#?}"))
}

#[test]
fn guessable_and_published_keys_block_and_say_why() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "app.py",
        "SECRET_KEY = 'correct horse battery'\n\
         JWT_SECRET_KEY = 'hard to guess string'\n\
         WTF_CSRF_SECRET_KEY = '0f5e9a3c7b1d8e2f4a6c9b0d3e7f1a5c'\n\
         SECURITY_PASSWORD_SALT = 'local-dev-key'\n",
    );
    let found = scan_json(&repo.dir, &[]);
    let guessable = at(&found, "app.py", 1);
    assert_eq!(guessable["severity"], "high");
    assert!(
        guessable["message"].as_str().unwrap().contains("guessable"),
        "{guessable}"
    );
    let public = at(&found, "app.py", 2);
    assert_eq!(public["severity"], "high");
    assert!(
        public["message"]
            .as_str()
            .unwrap()
            .contains("publicly known"),
        "{public}"
    );
    let random = at(&found, "app.py", 3);
    assert_eq!(random["severity"], "high");
    assert!(
        !random["message"].as_str().unwrap().contains(':'),
        "{random}"
    );
    let dev = at(&found, "app.py", 4);
    assert_eq!(dev["severity"], "low");
    assert!(
        dev["message"]
            .as_str()
            .unwrap()
            .contains("development value"),
        "{dev}"
    );
}

#[test]
fn an_admin_adds_published_keys_by_config() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write("app.py", "SECRET_KEY = 'q8Zr4Wm1Xt7Kv3Lp9Bn2'\n");
    let found = scan_json(&repo.dir, &[]);
    assert!(!at(&found, "app.py", 1)["message"]
        .as_str()
        .unwrap()
        .contains("publicly known"));
    let cfg = sb.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[extend]\ndefault = true\n[public_values]\nvalues = ['q8Zr4Wm1Xt7Kv3Lp9Bn2']\n",
    )
    .unwrap();
    let found = scan_json(&repo.dir, &["--config", cfg.to_str().unwrap()]);
    let f = at(&found, "app.py", 1);
    assert!(
        f["message"].as_str().unwrap().contains("publicly known"),
        "{f}"
    );
    // The built-in list is still there.
    repo.write("b.py", "SECRET_KEY = 'you-will-never-guess'\n");
    let found = scan_json(&repo.dir, &["--config", cfg.to_str().unwrap()]);
    assert!(at(&found, "b.py", 1)["message"]
        .as_str()
        .unwrap()
        .contains("publicly known"));
}

#[test]
fn the_same_value_in_two_settings_is_two_findings_in_the_audit() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.commit_file(
        "config.py",
        "SECRET_KEY = '3c9e1a7f5b2d8e4a6c0f9b3d7e1a5c8f'\n\
         WTF_CSRF_SECRET_KEY = '3c9e1a7f5b2d8e4a6c0f9b3d7e1a5c8f'\n",
        "config",
    );
    let o = secretgate(&repo.dir, &["audit", "--format", "json", "."]);
    let found: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let lines: Vec<u64> = found
        .iter()
        .filter(|f| f["rule_id"] == "flask-secret-key")
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![1, 2], "{found:#?}");
}

#[test]
fn django_settings_are_judged_as_django() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "site/settings.py",
        "import os\nINSTALLED_APPS = ['django.contrib.auth']\n\
         SECRET_KEY = 'x7#k2@q9!m4v$w8z^r1t&y5u*e3o(p6l'\nDEBUG = True\n",
    );
    let found = scan_json(&repo.dir, &[]);
    let ids: Vec<&str> = found
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["django-secret-key"], "{found:#?}");
    let f = &found[0];
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .contains("DJANGO_SECRET_KEY"),
        "{f}"
    );
}

/// A provider's token in its exact shape whose checksum fails was never issued (a made-up
/// example): it warns, and says why; the same token with a valid checksum blocks.
#[test]
fn a_token_whose_checksum_fails_warns_and_a_valid_one_blocks() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    // The checksum (the last 6 characters) of the first is GitHub's; the second has one
    // character of it changed.
    repo.write(
        "deploy.py",
        "GITHUB_TOKEN = 'ghp_Wn4Rk8Tq2Xv6Zb1Cd5Fg9Hj3Lm7Np00TJ3xu'\n",
    );
    let o = secretgate(&repo.dir, &["scan", "--format", "json", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", crate::gitutil::text(&o));
    let found: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let made_up = at(&found, "deploy.py", 1);
    assert_eq!(made_up["rule_id"], "github-pat-classic", "{made_up}");
    assert_eq!(made_up["severity"], "low", "{made_up}");
    assert!(
        made_up["message"]
            .as_str()
            .unwrap()
            .contains("checksum does not match"),
        "{made_up}"
    );
    assert_eq!(found.len(), 1, "{found:#?}");

    repo.write(
        "deploy.py",
        "GITHUB_TOKEN = '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'\n",
    );
    let o = secretgate(&repo.dir, &["scan", "--format", "json", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", crate::gitutil::text(&o));
    let found: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let valid = at(&found, "deploy.py", 1);
    assert_eq!(valid["rule_id"], "github-pat-classic", "{valid}");
    assert_eq!(valid["severity"], "high", "{valid}");
    assert!(
        !valid["message"].as_str().unwrap().contains("checksum"),
        "{valid}"
    );
}

/// The `flask-debug` findings of a scan, as their lines in `path`.
fn debug_lines(found: &[Value], path: &str) -> Vec<u64> {
    found
        .iter()
        .filter(|f| f["rule_id"] == "flask-debug" && f["path"] == path)
        .map(|f| f["line"].as_u64().unwrap())
        .collect()
}

#[test]
fn debug_mode_on_any_name_bound_to_flask_and_not_on_other_objects() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "portal.py",
        "import os\n\
         import flask\n\
         from flask import Flask\n\
         \n\
         web = Flask(__name__)\n\
         site: Flask = flask.Flask('site')\n\
         \n\
         class Portal:\n\
         \x20   def __init__(self):\n\
         \x20       self.front = Flask(__name__)\n\
         \x20       self.front.debug = True\n\
         \n\
         web.debug = True\n\
         site.debug = 1\n\
         logger.debug = True\n\
         parser.debug = True\n\
         mapper.debug = True\n\
         web.run(debug=os.environ.get('FLASK_DEBUG') == '1')\n\
         if __name__ == '__main__':\n\
         \x20   site.run(host='0.0.0.0', debug=True)\n",
    );
    // The same names, bound to something else: not Flask's debug mode.
    repo.write(
        "worker.py",
        "from rq import Worker\n\nweb = Worker(['default'])\nweb.debug = True\nflask_app.debug = True\n",
    );
    let found = scan_json(&repo.dir, &[]);
    assert_eq!(
        debug_lines(&found, "portal.py"),
        [11, 13, 14, 20],
        "{found:#?}"
    );
    // A name like an application's (`flask_app`) is one wherever it is bound.
    assert_eq!(debug_lines(&found, "worker.py"), [5], "{found:#?}");
    for f in &found {
        assert_eq!(f["severity"], "high", "{f}");
    }
}

#[test]
fn a_key_written_as_several_literals_is_judged_whole_where_it_starts() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "app/config.py",
        "class Config:\n\
         \x20   SECRET_KEY = ('8f42a73054b1749f'  # split for line length\n\
         \x20                 '8f58848be5e6502c')\n\
         \x20   JWT_SECRET_KEY = (\n\
         \x20       \"my little \"\n\
         \x20       \"secret\"\n\
         \x20   )\n\
         \x20   WTF_CSRF_SECRET_KEY = ('change' 'me')\n\
         \x20   SECURITY_PASSWORD_SALT = 'your-' \\\n\
         \x20       'secret-key-here'\n\
         \n\
         app.secret_key = ('q8Zr4Wm1' \"Xt7Kv3Lp9Bn2\")\n",
    );
    let found = scan_json(&repo.dir, &[]);
    let split = at(&found, "app/config.py", 2);
    assert_eq!(split["severity"], "high");
    assert_eq!(split["column"], 20, "{split}");
    // The whole value: its length, and one finding for it, not one per part.
    assert!(
        split["secret"].as_str().unwrap().contains("(32 chars)"),
        "{split}"
    );
    // Judged whole: the two parts are a key from a tutorial, and the message says so.
    let public = at(&found, "app/config.py", 4);
    assert_eq!(public["severity"], "high");
    assert!(
        public["message"]
            .as_str()
            .unwrap()
            .contains("publicly known"),
        "{public}"
    );
    // Placeholders split in two are still placeholders.
    assert!(
        !found
            .iter()
            .any(|f| [8, 9, 10].contains(&f["line"].as_u64().unwrap())),
        "{found:#?}"
    );
    let attr = at(&found, "app/config.py", 12);
    assert!(
        attr["secret"].as_str().unwrap().contains("(20 chars)"),
        "{attr}"
    );
    assert_eq!(found.len(), 3, "{found:#?}");
}

/// The severities of a scan's findings of `rule` in `path`, by line (in line order; reports
/// list blocking findings first).
fn severities(found: &[Value], rule: &str, path: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = found
        .iter()
        .filter(|f| f["rule_id"] == rule && f["path"] == path)
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn debug_in_flaskenv_warns_and_a_key_there_still_blocks() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    // Only `flask run` reads .flaskenv: development settings, not production ones.
    repo.write(
        ".flaskenv",
        "FLASK_APP=app\nFLASK_ENV=development\nFLASK_DEBUG=1\nSECRET_KEY=8f42a73054b1749f8f58848be5e6502c\n",
    );
    repo.write("svc/.flaskenv", "FLASK_DEBUG=1\n");
    // The same lines in .env (python-dotenv, a production server's environment) block.
    repo.write("svc/.env", "FLASK_DEBUG=1\n");
    let found = scan_json(&repo.dir, &[]);
    assert_eq!(
        severities(&found, "flask-debug", ".flaskenv"),
        [(2, "low".to_string()), (3, "low".to_string())],
        "{found:#?}"
    );
    let warn = at(&found, ".flaskenv", 3);
    assert!(
        warn["message"]
            .as_str()
            .unwrap()
            .contains("development-only place"),
        "{warn}"
    );
    assert_eq!(
        severities(&found, "flask-secret-key", ".flaskenv"),
        [(4, "high".to_string())],
        "{found:#?}"
    );
    assert_eq!(
        severities(&found, "flask-debug", "svc/.flaskenv"),
        [(1, "low".to_string())]
    );
    assert_eq!(
        severities(&found, "flask-debug", "svc/.env"),
        [(1, "high".to_string())]
    );
}

#[test]
fn a_development_build_stage_is_a_development_place() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    let dockerfile = "FROM python:3.12-slim AS base\n\
                      RUN pip install -r requirements.txt\n\
                      \n\
                      FROM base AS dev\n\
                      ENV FLASK_DEBUG=1\n\
                      ENV SECRET_KEY=3b7e1f9a5c2d8e4f6a0b9c3d7e1f5a8b\n\
                      \n\
                      FROM base AS release\n\
                      ENV FLASK_DEBUG=1\n\
                      ENV SECRET_KEY=9c4e2a7f1b5d3e8a6c0f2b9d4e7a1c5f\n";
    repo.write("Dockerfile", dockerfile);
    // The same lines in a file that is not a Dockerfile have no build stages.
    repo.write("notes.sh", dockerfile.replace("ENV ", "export "));
    // A Compose service built from the development stage, whatever its name.
    repo.write(
        "docker-compose.yml",
        "services:\n\
         \x20 manage:\n\
         \x20   build:\n\
         \x20     context: .\n\
         \x20     target: development\n\
         \x20   environment:\n\
         \x20     FLASK_DEBUG: 1\n\
         \x20     SECRET_KEY: 3b7e1f9a5c2d8e4f6a0b9c3d7e1f5a8b\n\
         \x20 web:\n\
         \x20   build:\n\
         \x20     context: .\n\
         \x20     target: release\n\
         \x20   environment:\n\
         \x20     FLASK_DEBUG: 1\n\
         \x20     SECRET_KEY: 9c4e2a7f1b5d3e8a6c0f2b9d4e7a1c5f\n",
    );
    let found = scan_json(&repo.dir, &[]);
    assert_eq!(
        severities(&found, "flask-debug", "docker-compose.yml"),
        [(14, "high".to_string())],
        "{found:#?}"
    );
    assert_eq!(
        severities(&found, "flask-secret-key", "docker-compose.yml"),
        [(8, "low".to_string()), (15, "high".to_string())],
        "{found:#?}"
    );
    assert_eq!(
        severities(&found, "flask-debug", "Dockerfile"),
        [(9, "high".to_string())],
        "{found:#?}"
    );
    assert_eq!(
        severities(&found, "flask-secret-key", "Dockerfile"),
        [(6, "low".to_string()), (10, "high".to_string())],
        "{found:#?}"
    );
    assert_eq!(
        severities(&found, "flask-secret-key", "notes.sh"),
        [(6, "high".to_string()), (10, "high".to_string())],
        "{found:#?}"
    );
}

#[test]
fn a_fallback_under_another_name_follows_its_configuration_class() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "config.py",
        "import os\n\
         \n\
         class DevelopmentConfig:\n\
         \x20   SECRET_KEY = os.getenv(\n\
         \x20       \"DEV_SECRET_KEY\", \"Nobody reads the fine print twice\"\n\
         \x20   )\n\
         \n\
         class ProductionConfig:\n\
         \x20   SECRET_KEY = os.getenv(\"PROD_SECRET_KEY\", \"I'm the night shift manager\")\n\
         \x20   JWT_SECRET_KEY = os.environ.get(\"JWT_KEY\") or \"add-your-random-key-here\"\n\
         \x20   WTF_CSRF_SECRET_KEY = os.environ.get(\"CSRF_KEY\", \"dev-key-change-in-production\")\n",
    );
    let found = scan_json(&repo.dir, &[]);
    assert_eq!(
        severities(&found, "flask-secret-key", "config.py"),
        [
            (4, "low".to_string()),
            (9, "high".to_string()),
            (11, "low".to_string())
        ],
        "{found:#?}"
    );
    let guessable = at(&found, "config.py", 9);
    assert!(
        guessable["message"].as_str().unwrap().contains("guessable"),
        "{guessable}"
    );
    assert!(at(&found, "config.py", 11)["message"]
        .as_str()
        .unwrap()
        .contains("development value"));
}

#[test]
fn ci_configuration_holds_test_passwords_and_real_tokens() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    let settings = "env:\n\
                    \x20 POSTGRES_PASSWORD: \"Hq7Wd2Lx9Zk4Vt8Rm3Pn6Bc1\"\n\
                    \x20 APP_COOKIE_SECRET: \"Tz5Kq8Ld3Wx7Rm2Vn9Hb4Pc6\"\n\
                    \x20 PERCY_TOKEN: \"Wn4Rb8Kz2Qx6Lt9Vd3Mh7Pc1\"\n";
    // The services a CI run starts (its database, the application under test) have test
    // passwords; a token for an outside service is a credential wherever it is.
    repo.write(".github/workflows/ci.yml", settings);
    repo.write("deploy/compose.yml", settings);
    let found = scan_json(&repo.dir, &[]);
    assert_eq!(
        severities(&found, "generic-secret", ".github/workflows/ci.yml"),
        [
            (2, "medium".to_string()),
            (3, "medium".to_string()),
            (4, "high".to_string())
        ],
        "{found:#?}"
    );
    assert_eq!(
        severities(&found, "generic-secret", "deploy/compose.yml"),
        [
            (2, "high".to_string()),
            (3, "high".to_string()),
            (4, "high".to_string())
        ],
        "{found:#?}"
    );
}

#[test]
fn a_database_of_the_run_or_the_developer_warns_and_a_real_host_blocks() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    let urls = "DATABASE_URL = \"postgresql://app:Sx9kq2LmP4vT@postgres:5432/app\"\n\
                PROD_URL = \"postgresql://app:Sx9kq2LmP4vT@db.acme-prod.com:5432/app\"\n";
    // CI, and a configuration file named for the developer's machine: the local database
    // warns; the real host's password blocks there as anywhere.
    repo.write(".github/workflows/ci.yml", urls);
    repo.write("config-local.py", urls);
    repo.write("config.py", urls);
    // A documentation example whose password is a misspelled "password".
    repo.write(
        "docs/datasources.rst",
        "mongodb://user:pasword@server1:27017,server2:27017/mydb\n",
    );
    let found = scan_json(&repo.dir, &[]);
    for path in [".github/workflows/ci.yml", "config-local.py"] {
        assert_eq!(
            severities(&found, "database-url-password", path),
            [(1, "medium".to_string()), (2, "high".to_string())],
            "{path}: {found:#?}"
        );
    }
    assert_eq!(
        severities(&found, "database-url-password", "config.py"),
        [(1, "high".to_string()), (2, "high".to_string())],
        "{found:#?}"
    );
    assert!(
        severities(&found, "database-url-password", "docs/datasources.rst").is_empty(),
        "{found:#?}"
    );
}

#[test]
fn a_password_on_a_curl_command_line_blocks_and_a_reference_does_not() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "ops/reindex.sh",
        "curl -k -X POST https://search.acme.io:9200/_reindex \\\n  -H 'Content-Type: application/json' \\\n  --user \"svc.search:Hb7#qZ2v!Lw9pK\"\n\
         curl -u \"$SEARCH_USER:$SEARCH_PASSWORD\" https://search.acme.io:9200/\n\
         curl -u admin:admin http://localhost:9200/\n",
    );
    repo.write(
        "README.md",
        "Try it locally: `curl -u dev:Vb2kQ9xLm3Tz http://localhost:5000/api`\n",
    );
    let found = scan_json(&repo.dir, &[]);
    // A command over several lines is reported where it starts.
    assert_eq!(
        severities(&found, "http-credentials", "ops/reindex.sh"),
        vec![(1, "high".to_owned())],
        "{found:#?}"
    );
    // In documentation a call to a local service is an example: it warns.
    assert_eq!(
        severities(&found, "http-credentials", "README.md"),
        vec![(1, "medium".to_owned())]
    );
}

#[test]
fn a_key_in_a_documented_url_warns_without_a_real_host_and_blocks_with_one() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "docs/usage.rst",
        "Call it with your key: ``/status.json?api_key=fooBarqL8sGJQIs3maPErUxKuw``\n\
         Or locally: http://localhost:5000/api/queries/1/results.json?api_key=Zq3LmX8pT2vW9kR4nB7c\n\
         A working example: https://demo.acme.io/api/queries/63/results.json?api_key=874fcd93ce4b6ef87a9aad41c712bcd5d17cdc8f\n",
    );
    let found = scan_json(&repo.dir, &[]);
    assert_eq!(
        severities(&found, "url-query-secret", "docs/usage.rst"),
        vec![
            (1, "medium".to_owned()),
            (2, "medium".to_owned()),
            (3, "high".to_owned())
        ],
        "{found:#?}"
    );
}

#[test]
fn development_words_among_filler_warn_and_filler_alone_blocks() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "app/config.py",
        "import os\n\
         A = os.environ.get('SECRET_KEY', 'dev-fallback-key-change-in-prod')\n\
         B = os.environ.get('SECRET_KEY', 'a-default-secret-key-for-local-dev')\n\
         SECRET_KEY = os.environ.get('SECRET_KEY', 'default-secret-key')\n",
    );
    repo.write(
        ".env.production",
        "SECRET_KEY=your_secure_production_secret\n",
    );
    let found = scan_json(&repo.dir, &[]);
    assert_eq!(
        severities(&found, "flask-secret-key", "app/config.py"),
        vec![
            (2, "low".to_owned()),
            (3, "low".to_owned()),
            (4, "high".to_owned())
        ],
        "{found:#?}"
    );
    // An instruction in the value's place is no key at all.
    assert!(
        !found.iter().any(|f| f["path"] == ".env.production"),
        "{found:#?}"
    );
}

#[test]
fn instructions_and_samples_in_other_languages_and_scanner_rules_are_not_findings() {
    let sb = Sandbox::new();
    let repo = sb.work("w");
    repo.write(
        "app/__init__.py",
        "import os\n\
         app.config['SECRET_KEY'] = os.environ.get('SECRET_KEY', 'troque-esta-chave')\n\
         app.config['OTHER_KEY'] = os.environ.get('OTHER_KEY', 'cambia-esta-clave')\n",
    );
    repo.write(
        ".env.exemplo",
        "SECRET_KEY=w46eM4Gyy@BgBtUCt3tM#lIljF$pcAn7pPW0BJ%c1bC73Cgw\n",
    );
    repo.write(
        ".config/.semgrep/rules.json",
        "{\"rules\": [{\"pattern\": \"$APP.run(..., debug=True, ...)\"}]}\n",
    );
    repo.write(
        "scripts/start.sh",
        "export SECRET_KEY=\"dev-key-change-this\"\n",
    );
    let found = scan_json(&repo.dir, &[]);
    let paths: Vec<&str> = found
        .iter()
        .filter(|f| f["severity"] != "low")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.is_empty(), "{found:#?}");
    // A development marker still warns.
    assert_eq!(
        severities(&found, "flask-secret-key", "scripts/start.sh"),
        vec![(1, "low".to_owned())]
    );
}
