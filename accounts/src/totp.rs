//! Time-based one-time passwords, as RFC 6238 fixes them for authenticator apps: HMAC-SHA1
//! (RFC 4226 §5.3 dynamic truncation), 6 digits, 30-second steps counted from the Unix
//! epoch, one step of skew either way (RFC 6238 §5.2), and each step accepted once (the
//! store keeps the last step used; §5.2: "the verifier MUST NOT accept the second attempt
//! of the OTP after the successful validation has been issued for the first OTP").
//!
//! The secret is 20 random bytes (RFC 4226 §4 R6: at least 128 bits, 160 recommended),
//! shown to the person in base32 (RFC 4648 §6, no padding) inside the `otpauth://` URI of
//! Google Authenticator's Key Uri Format, which every authenticator app reads.

use aws_lc_rs::hmac;

/// Seconds per step (RFC 6238 §4.1 `X`, the default).
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of clock skew accepted either side of the current one.
pub const SKEW_STEPS: i64 = 1;
/// Bytes in a new secret.
pub const SECRET_BYTES: usize = 20;

/// The step `now` falls in.
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// The code of `step` under `secret` (RFC 4226 §5.3 on the step as an 8-byte counter).
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    binary % 10u32.pow(DIGITS)
}

/// The step whose code `code` is, among the current one and [`SKEW_STEPS`] either side, and
/// later than `last_used` (a step used once is never accepted again, nor any before it).
/// None: not a code of any of them. Compared in constant time per step.
pub fn matching_step(secret: &[u8], code: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in current - SKEW_STEPS..=current + SKEW_STEPS {
        let expected = format!("{:0width$}", code_at(secret, step), width = DIGITS as usize);
        let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into();
        if same && last_used.is_none_or(|last| step > last) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 §6 base32, upper case, without padding (what authenticator apps take).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://totp/{issuer}:{account}?secret=…&issuer=…` URI an authenticator app reads
/// (Key Uri Format); the label's parts and the issuer are percent-encoded.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let issuer = issuer.replace(':', " ");
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(&issuer),
        enc(account),
        base32(secret),
        enc(&issuer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890" and its 8-digit codes;
    /// six digits are the last six of them (the truncation is modulo 10^digits).
    #[test]
    fn rfc_6238_appendix_b_vectors() {
        let seed = b"12345678901234567890";
        let vectors = [
            (59, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (t, code8) in vectors {
            assert_eq!(code_at(seed, step_at(t)), code8 % 1_000_000, "T = {t}");
        }
    }

    /// RFC 4226 Appendix D: HOTP values of counters 0–9 (the same truncation).
    #[test]
    fn rfc_4226_appendix_d_vectors() {
        let seed = b"12345678901234567890";
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(code_at(seed, counter as i64), *code);
        }
    }

    #[test]
    fn one_step_of_skew_is_accepted_two_are_not_and_a_step_is_used_once() {
        let seed = b"12345678901234567890";
        let now = 1_111_111_111;
        let step = step_at(now);
        let code = |s: i64| format!("{:06}", code_at(seed, s));
        assert_eq!(matching_step(seed, &code(step), now, None), Some(step));
        assert_eq!(
            matching_step(seed, &code(step - 1), now, None),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(seed, &code(step + 1), now, None),
            Some(step + 1)
        );
        assert_eq!(matching_step(seed, &code(step - 2), now, None), None);
        assert_eq!(matching_step(seed, &code(step + 2), now, None), None);
        // Used: neither it nor an earlier step again.
        assert_eq!(matching_step(seed, &code(step), now, Some(step)), None);
        assert_eq!(matching_step(seed, &code(step - 1), now, Some(step)), None);
        assert_eq!(
            matching_step(seed, &code(step + 1), now, Some(step)),
            Some(step + 1)
        );
        // Spaces around are forgiven; anything else is not a code.
        assert_eq!(
            matching_step(seed, &format!(" {} ", code(step)), now, None),
            Some(step)
        );
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert_eq!(matching_step(seed, bad, now, None), None, "{bad}");
        }
    }

    /// RFC 4648 §10 test vectors (padding stripped).
    #[test]
    fn base32_matches_rfc_4648() {
        for (plain, enc) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), enc);
        }
    }

    #[test]
    fn the_uri_encodes_its_label() {
        let uri = otpauth_uri("Acme: Inc", "a b@x.io", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20%20Inc:a%20b%40x.io?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20%20Inc&algorithm=SHA1&digits=6&period=30"
        );
    }
}
