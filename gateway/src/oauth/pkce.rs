//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` gives no protection against
//! an intercepted code and is refused (RFC 9700 §2.1.1).

use aws_lc_rs::digest;
use base64::Engine;

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`. A challenge (base64url of a
/// SHA-256) has the same shape, exactly 43 characters.
fn is_pkce_string(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Whether `challenge` is a well-formed S256 code challenge.
pub fn is_challenge(challenge: &str) -> bool {
    is_pkce_string(challenge, 43, 43)
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Whether `verifier` proves `challenge`: well formed, and its S256 equals the challenge
/// (compared in constant time).
pub fn verifies(verifier: &str, challenge: &str) -> bool {
    is_pkce_string(verifier, 43, 128)
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            s256(verifier).as_bytes(),
            challenge.as_bytes(),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn rfc7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256(verifier), challenge);
        assert!(is_challenge(challenge));
        assert!(verifies(verifier, challenge));
        assert!(!verifies(challenge, challenge), "plain is not S256");
        assert!(!verifies("short", &s256("short")), "too short a verifier");
        assert!(!verifies(&format!("{verifier}!"), challenge));
        assert!(!is_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
    }
}
