//! Forms of leaks that need more than one line or more than a name beside a value: published
//! documentation passwords, Terraform variable defaults, passwords on PsExec and `net use`
//! command lines, PEM keys built from string literals. Real files, the real binary.

use crate::common::{field, run_in, tempdir, write};
use serde_json::Value;

/// `(path, line, rule, severity)` of every finding of a scan of `dir`, sorted.
fn scan(dir: &std::path::Path) -> (Vec<(String, u64, String, String)>, crate::common::Run) {
    let r = run_in(Some(dir), &["scan", "--format", "json", "."]);
    assert!(r.code == 0 || r.code == 1, "the scan failed\n{r}");
    let mut got: Vec<_> = r
        .json()
        .iter()
        .map(|f: &Value| {
            (
                field(f, "path").to_owned(),
                f["line"].as_u64().unwrap_or(0),
                field(f, "rule_id").to_owned(),
                field(f, "severity").to_owned(),
            )
        })
        .collect();
    got.sort();
    (got, r)
}

fn at(path: &str, line: u64, rule: &str) -> (String, u64, String, String) {
    (path.to_owned(), line, rule.to_owned(), "high".to_owned())
}

#[test]
fn published_documentation_passwords_do_not_block_but_a_real_one_does() {
    let dir = tempdir();
    // The sample values of Microsoft's nuget.config reference, and one of the team's own.
    write(
        dir.path(),
        "NuGet.config",
        "<configuration>\n  <packageSourceCredentials>\n    <Contoso>\n      \
         <add key=\"Username\" value=\"user@contoso.com\" />\n      \
         <add key=\"ClearTextPassword\" value=\"33f!!lloppa\" />\n    </Contoso>\n    \
         <Test_x0020_Source>\n      <add key=\"Username\" value=\"user\" />\n      \
         <add key=\"ClearTextPassword\" value=\"hal+9ooo_da!sY\" />\n    </Test_x0020_Source>\n    \
         <Internal>\n      <add key=\"Username\" value=\"ci\" />\n      \
         <add key=\"ClearTextPassword\" value=\"Zq8#pLm2!vTr9w\" />\n    </Internal>\n  \
         </packageSourceCredentials>\n</configuration>\n",
    );
    // In a URL too (the URL rules read the same list).
    write(
        dir.path(),
        "feeds.py",
        "FEED = \"https://user:hal+9ooo_da!sY@nuget.acme.io/v3/index.json\"\n",
    );
    let (got, r) = scan(dir.path());
    assert_eq!(got, vec![at("NuGet.config", 13, "generic-secret")], "{r}");
}

#[test]
fn a_terraform_variables_default_is_judged_by_the_variables_name() {
    let dir = tempdir();
    write(
        dir.path(),
        "infra/variables.tf",
        "variable \"db_password\" {\n  type      = string\n  default   = \"Xk9#mQ2vLp7!wRt4\"\n  \
         sensitive = true\n}\n\n\
         variable \"region\" {\n  default = \"Xk9#mQ2vLp7!wRt4\"\n}\n\n\
         variable \"api_token\" {\n  description = \"Token of the registry\"\n\n  \
         validation {\n    condition     = length(var.api_token) > 20\n    \
         error_message = \"Too short.\"\n  }\n  default = \"Zq8xL2mP9vK4nB7cR3tY6wQ1\"\n}\n\n\
         variable \"admin_secret\" {\n  default = \"\"\n}\n\n\
         variable \"client_secret\" {\n  default = null\n}\n\n\
         variable \"deploy_password\" {\n  default = \"changeme\"\n}\n\n\
         variable \"password_length\" {\n  default = \"Xk9#mQ2vLp7!wRt4\"\n}\n",
    );
    // A .tfvars file names the variable on the value's line: the usual form.
    write(
        dir.path(),
        "infra/prod.tfvars",
        "region      = \"eu-west-1\"\ndb_password = \"Xk9#mQ2vLp7!wRt4\"\n",
    );
    let (got, r) = scan(dir.path());
    // A form over several lines is reported where it starts: the variable's header.
    assert_eq!(
        got,
        vec![
            at("infra/prod.tfvars", 2, "generic-secret"),
            at("infra/variables.tf", 1, "generic-secret"),
            at("infra/variables.tf", 11, "generic-secret"),
        ],
        "{r}"
    );
    let messages: Vec<String> = r
        .json()
        .iter()
        .filter(|f| field(f, "path").ends_with(".tf"))
        .map(|f| field(f, "message").to_owned())
        .collect();
    assert!(messages[0].contains("(db_password)"), "{r}");
    assert!(messages[1].contains("(api_token)"), "{r}");
}

#[test]
fn passwords_on_psexec_and_net_use_command_lines_block() {
    let dir = tempdir();
    write(
        dir.path(),
        "deploy.bat",
        "@echo off\n\
         psexec \\\\web01 -u admin -p Xk9#mQ2vLp7!wR cmd /c iisreset\n\
         psexec \\\\web01 -u admin -p %DEPLOY_PASSWORD% cmd /c iisreset\n\
         psexec \\\\web01 -u admin -p password cmd\n\
         psexec \\\\web01 -u admin -p <password> cmd\n\
         net use \\\\fs01\\drop /user:CORP\\bob Xk9mQ2vLp7wR\n\
         net use \\\\fs01\\drop /user:CORP\\bob *\n",
    );
    write(
        dir.path(),
        "deploy.ps1",
        "psexec \\\\web01 -u admin -p $env:PW cmd\n\
         net use Z: \\\\fs01\\drop Qm7vLx2Rt9Wp /user:CORP\\bob /persistent:no\n",
    );
    write(
        dir.path(),
        "tools/remote.sh",
        "psexec.exe \"\\\\\\\\$HOST\" -u \"$USER\" -p \"$PASSWORD\" cmd\n\
         psexec.exe \"\\\\\\\\$HOST\" -u builder -p 'Tq8Lm2Rk7Xv4' cmd\n",
    );
    // Documentation shows the command: not read.
    write(
        dir.path(),
        "docs/deploy.md",
        "    psexec \\\\web01 -u admin -p Xk9#mQ2vLp7!wR cmd\n",
    );
    let (got, r) = scan(dir.path());
    let rule = "windows-command-line-password";
    assert_eq!(
        got,
        vec![
            at("deploy.bat", 2, rule),
            at("deploy.bat", 6, rule),
            at("deploy.ps1", 2, rule),
            at("tools/remote.sh", 2, rule),
        ],
        "{r}"
    );
}

/// A random-looking PEM body of `lines` lines of 64 base64 characters (a deterministic
/// generator: the same text every run), starting as an RSA key's DER does.
fn pem_body(lines: usize, seed: u64) -> Vec<String> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = seed;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        B64[(x % 64) as usize] as char
    };
    let mut out: Vec<String> = (0..lines)
        .map(|_| (0..64).map(|_| next()).collect())
        .collect();
    out[0].replace_range(..16, "MIIEowIBAAKCAQEA");
    let last = out.last_mut().expect("at least one line");
    last.truncate(40);
    last.push_str("==");
    out
}

#[test]
fn a_private_key_built_from_string_literals_blocks() {
    let dir = tempdir();
    let body = pem_body(25, 0x9E37_79B9_7F4A_7C15);
    // Java: one literal a line, `+` at the ends of lines.
    let mut java = String::from(
        "class Keys {\n    static final String KEY = \"-----BEGIN RSA PRIVATE KEY-----\\n\" +\n",
    );
    for l in &body {
        java.push_str(&format!("        \"{l}\\n\" +\n"));
    }
    java.push_str("        \"-----END RSA PRIVATE KEY-----\";\n}\n");
    write(dir.path(), "src/main/java/Keys.java", &java);
    // Kotlin: the header's literal holds the first line; `+` at the starts of lines.
    let mut kotlin = format!(
        "val key = \"-----BEGIN PRIVATE KEY-----\\n{}\\n\"\n",
        body[0]
    );
    for l in &body[1..] {
        kotlin.push_str(&format!("    + \"{l}\\n\"\n"));
    }
    kotlin.push_str("    + \"-----END PRIVATE KEY-----\"\n");
    write(dir.path(), "src/main/kotlin/Keys.kt", &kotlin);
    // Python: bytes literals over `\` line continuations.
    let mut python = String::from("KEY = b\"-----BEGIN RSA PRIVATE KEY-----\\n\" \\\n");
    for l in &body {
        python.push_str(&format!("    b\"{l}\\n\" \\\n"));
    }
    python.push_str("    b\"-----END RSA PRIVATE KEY-----\\n\"\n");
    write(dir.path(), "app/keys.py", &python);
    // Not keys: the header alone as a constant for parsing, and a public key built the same way.
    write(
        dir.path(),
        "src/main/java/Pem.java",
        "class Pem {\n    static final String BEGIN = \"-----BEGIN RSA PRIVATE KEY-----\";\n    \
         static final String END = \"-----END RSA PRIVATE KEY-----\";\n    \
         static String strip(String pem) {\n        \
         return pem.replace(\"-----BEGIN RSA PRIVATE KEY-----\\n\", \"\")\n            \
         .replace(\"-----END RSA PRIVATE KEY-----\", \"\");\n    }\n}\n",
    );
    let mut public = String::from("const PUB = '-----BEGIN PUBLIC KEY-----\\n' +\n");
    for l in &pem_body(7, 42) {
        public.push_str(&format!("  '{l}\\n' +\n"));
    }
    public.push_str("  '-----END PUBLIC KEY-----';\n");
    write(dir.path(), "web/pub.js", &public);
    let (got, r) = scan(dir.path());
    assert_eq!(
        got,
        vec![
            at("app/keys.py", 1, "private-key"),
            at("src/main/java/Keys.java", 2, "private-key"),
            at("src/main/kotlin/Keys.kt", 1, "private-key"),
        ],
        "{r}"
    );
}
