//! Providers' token checksums, recomputed from the value a rule found.
//!
//! Some providers build a checksum into every token they issue, so that a scanner can tell a
//! token they issued from a string in the same shape without asking them. A value whose
//! checksum fails was never issued (a hand-typed example, a test fixture, a placeholder typed
//! to look real), and the provider rejects it before any lookup; the detector then lowers the
//! finding's severity ([`super::ValueNote::ChecksumMismatch`]). A value whose checksum passes is
//! a token the provider could have issued and keeps its rule's severity.
//!
//! Only formats whose check is public are here:
//!
//! - [`Checksum::Github`]: GitHub's tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`), described
//!   in GitHub's "Behind GitHub's new authentication token formats" (2021): after the prefix and
//!   `_`, 30 random base62 characters and the CRC32 of those 30 characters as 6 base62 digits
//!   (alphabet `0-9A-Za-z`, left-padded with `0`). npm's `npm_` tokens use the same format
//!   ("Announcing npm's new access token format", 2021).
//! - [`Checksum::Grafana`]: Grafana's service-account tokens, as generated and decoded by
//!   Grafana's own `satokengen` package: `gl` + service id + `_` + 32 random characters, then
//!   `_` and the CRC32 (IEEE) of everything before that `_`, its 4 bytes little-endian in
//!   lowercase hex.
//!
//! A value that is not in the format's exact shape (a GitHub refresh token longer than 40
//! characters, a legacy npm UUID, a Grafana Cloud `glc_` token) gets no verdict: the rule's
//! severity stands.

use crate::rules::syntax::Checksum;

/// What the checksum says about a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// In the format's shape, and the checksum matches: a token the provider could have issued.
    Valid,
    /// In the format's shape, and the checksum does not match: not a token the provider issued.
    Mismatch,
}

/// The verdict of `checksum` on `value`; `None` when the value is not in the format's shape,
/// so the checksum cannot say anything about it.
pub fn verify(checksum: Checksum, value: &[u8]) -> Option<Verdict> {
    let ok = match checksum {
        Checksum::Github => github(value)?,
        Checksum::Grafana => grafana(value)?,
    };
    Some(if ok {
        Verdict::Valid
    } else {
        Verdict::Mismatch
    })
}

/// The base62 alphabet of GitHub's checksums: digits, then upper case, then lower case.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random characters of a GitHub-format token, before its checksum.
const GITHUB_RANDOM: usize = 30;

/// Base62 digits of a GitHub-format checksum.
const GITHUB_CHECK: usize = 6;

/// `prefix_` + 30 random base62 characters + their CRC32 in 6 base62 digits.
fn github(value: &[u8]) -> Option<bool> {
    let sep = value.iter().position(|&b| b == b'_')?;
    let (prefix, body) = (&value[..sep], &value[sep + 1..]);
    if prefix.is_empty()
        || !prefix.iter().all(u8::is_ascii_alphabetic)
        || body.len() != GITHUB_RANDOM + GITHUB_CHECK
        || !body.iter().all(u8::is_ascii_alphanumeric)
    {
        return None;
    }
    let (random, check) = body.split_at(GITHUB_RANDOM);
    // Six base62 digits reach past u32::MAX: such a checksum cannot be a CRC32, it fails.
    let written = check.iter().try_fold(0u64, |n, &b| {
        let digit = BASE62.iter().position(|&c| c == b)?;
        Some(n * 62 + digit as u64)
    })?;
    Some(written == u64::from(crc32(random)))
}

/// Grafana's prefix of every checksummed token (`glsa_` for service accounts).
const GRAFANA_PREFIX: &[u8] = b"gl";

/// Hex digits of a Grafana checksum.
const GRAFANA_CHECK: usize = 8;

/// `gl<service>_<secret>_<crc32 of "gl<service>_<secret>", little-endian, lowercase hex>`.
fn grafana(value: &[u8]) -> Option<bool> {
    if !value.starts_with(GRAFANA_PREFIX) || value.iter().filter(|&&b| b == b'_').count() != 2 {
        return None;
    }
    let last = value.iter().rposition(|&b| b == b'_')?;
    let (key, check) = (&value[..last], &value[last + 1..]);
    if check.len() != GRAFANA_CHECK || !check.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut expected = [0u8; GRAFANA_CHECK];
    for (i, byte) in crc32(key).to_le_bytes().iter().enumerate() {
        expected[2 * i] = HEX[usize::from(byte >> 4)];
        expected[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    // Grafana compares the strings: an upper-case checksum is not one it wrote.
    Some(check == expected)
}

/// Lowercase hex digits.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The CRC32 table of the IEEE polynomial (reflected), computed at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC32 (IEEE 802.3, as zlib, Go's `crc32.ChecksumIEEE` and Ruby's `Zlib.crc32` compute it).
fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[usize::from((c as u8) ^ b)] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a GitHub-format token with a correct checksum (how the examples in `rules.toml`
    /// were made).
    fn github_token(prefix: &str, random: &str) -> String {
        assert_eq!(random.len(), GITHUB_RANDOM);
        let mut n = crc32(random.as_bytes());
        let mut check = [b'0'; GITHUB_CHECK];
        for slot in check.iter_mut().rev() {
            *slot = BASE62[(n % 62) as usize];
            n /= 62;
        }
        format!("{prefix}_{random}{}", String::from_utf8_lossy(&check))
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_published_expired_github_token_passes() {
        // A personal access token its owner published, expired and revoked, to show the
        // format: it fixes the alphabet's order (upper case before lower case).
        let token = concat!("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ", "0mLq17");
        assert_eq!(
            verify(Checksum::Github, token.as_bytes()),
            Some(Verdict::Valid)
        );
        let swapped = concat!("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ", "0MlQ17");
        assert_eq!(
            verify(Checksum::Github, swapped.as_bytes()),
            Some(Verdict::Mismatch)
        );
    }

    #[test]
    fn github_format_tokens_pass_and_one_changed_character_fails() {
        for prefix in ["ghp", "gho", "ghu", "ghs", "ghr", "npm"] {
            let token = github_token(prefix, "Q7f3kLm9XpR2sT8vW1yZ4bC6dE0gH5");
            assert_eq!(
                verify(Checksum::Github, token.as_bytes()),
                Some(Verdict::Valid)
            );
            for i in prefix.len() + 1..token.len() {
                let mut bad = token.clone().into_bytes();
                bad[i] = if bad[i] == b'a' { b'b' } else { b'a' };
                assert_eq!(
                    verify(Checksum::Github, &bad),
                    Some(Verdict::Mismatch),
                    "{}",
                    String::from_utf8_lossy(&bad)
                );
            }
        }
        // The checksum is over the random part only: the prefix does not enter it.
        let a = github_token("ghp", "000000000000000000000000000000");
        assert_eq!(
            verify(Checksum::Github, a.replacen("ghp", "gho", 1).as_bytes()),
            Some(Verdict::Valid)
        );
    }

    #[test]
    fn checksums_past_u32_fail_and_other_shapes_get_no_verdict() {
        let over = format!("ghp_{}zzzzzz", "a".repeat(GITHUB_RANDOM));
        assert_eq!(
            verify(Checksum::Github, over.as_bytes()),
            Some(Verdict::Mismatch)
        );
        for other in [
            "ghp_short",
            "ghr_F8MJvT1FvLTFW6u793qeiYYgZUu8bixoCoQC9OgtAkd1ODYOFgpvbMOwNaKTV1AG07aTUXnMPdL1",
            "0173caf3-6fd6-43e7-8632-31aa69a7ee72",
            "_Q7f3kLm9XpR2sT8vW1yZ4bC6dE0gH5abcdef",
            "ghp_Q7f3kLm9XpR2sT8vW1yZ4bC6dE0gH5abcd-f",
            "",
        ] {
            assert_eq!(verify(Checksum::Github, other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn grafana_tokens_pass_and_edited_ones_fail() {
        let key = "glsa_wPNZvT4MBGEJrsDOUcWz9KahmloIGEfb";
        let c = crc32(key.as_bytes()).to_le_bytes();
        let check: String = c.iter().map(|b| format!("{b:02x}")).collect();
        let token = format!("{key}_{check}");
        assert_eq!(
            verify(Checksum::Grafana, token.as_bytes()),
            Some(Verdict::Valid)
        );
        let upper = format!("{key}_{}", check.to_ascii_uppercase());
        if upper != token {
            assert_eq!(
                verify(Checksum::Grafana, upper.as_bytes()),
                Some(Verdict::Mismatch)
            );
        }
        let edited = token.replacen("wPNZ", "wPNY", 1);
        assert_eq!(
            verify(Checksum::Grafana, edited.as_bytes()),
            Some(Verdict::Mismatch)
        );
        // The checksum covers the prefix: the same secret under another service id fails.
        let moved = token.replacen("glsa_", "glxx_", 1);
        assert_eq!(
            verify(Checksum::Grafana, moved.as_bytes()),
            Some(Verdict::Mismatch)
        );
        for other in [
            "glc_eyJvIjoiMjE5NjUwIiwibiI6InN0YWNrIn0=",
            "glsa_wPNZvT4MBGEJrsDOUcWz9KahmloIGEfb",
            "glsa_wPNZvT4MBGEJrsDOUcWz9KahmloIGEfb_2cf9d0",
            "glsa_wPNZvT4MBGEJrsDOUcWz9KahmloIGEfb_2cf9d0zz",
            "glsa_a_b_2cf9d023",
        ] {
            assert_eq!(verify(Checksum::Grafana, other.as_bytes()), None, "{other}");
        }
    }
}
