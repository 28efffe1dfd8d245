//! EIP-4361 messages, parsed strictly, and the checks against a pool's policy and the clock.

use std::str::FromStr;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::{Address, VerifyError};

/// Limits beyond the ABNF, so a message cannot carry unbounded data.
const MAX_MESSAGE: usize = 16 * 1024;
const MAX_STATEMENT: usize = 1024;
const MAX_URI: usize = 2048;
const MAX_NONCE: usize = 64;
const MAX_REQUEST_ID: usize = 256;
const MAX_RESOURCES: usize = 32;

/// A parsed EIP-4361 message and the exact text that was signed.
#[derive(Debug)]
pub struct SiweMessage {
    pub message: siwe::Message,
    /// The optional `scheme "://"` before the domain (EIP-4361's later ABNF).
    pub scheme: Option<String>,
    text: String,
}

/// Splits an optional RFC 3986 scheme off the first line.
fn split_scheme(text: &str) -> (Option<&str>, &str) {
    let first = text.split('\n').next().unwrap_or("");
    let Some((scheme, _)) = first.split_once("://") else {
        return (None, text);
    };
    let valid = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !scheme.contains(' ');
    if valid {
        (Some(scheme), &text[scheme.len() + 3..])
    } else {
        (None, text)
    }
}

fn malformed(why: impl Into<String>) -> VerifyError {
    VerifyError::Malformed(why.into())
}

impl SiweMessage {
    /// Parses `text` strictly: the message must be exactly the canonical rendering of its
    /// fields (so nothing can be smuggled in extra lines, carriage returns or trailing
    /// text), version 1, a nonce of 8 to 64 alphanumerics, RFC 3339 times, bounded fields.
    pub fn parse(text: &str) -> Result<Self, VerifyError> {
        if text.len() > MAX_MESSAGE {
            return Err(malformed("message too long"));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(malformed(
                "control characters (CR, tab, ...) are not allowed",
            ));
        }
        let (scheme, rest) = split_scheme(text);
        let message = siwe::Message::from_str(rest).map_err(|e| malformed(e.to_string()))?;
        let canonical = match scheme {
            Some(s) => format!("{s}://{message}"),
            None => message.to_string(),
        };
        if canonical != text {
            return Err(malformed("the message is not in the EIP-4361 form"));
        }
        let statement_ok = message
            .statement
            .as_ref()
            .is_none_or(|s| s.chars().count() <= MAX_STATEMENT);
        let nonce_ok = (8..=MAX_NONCE).contains(&message.nonce.len())
            && message.nonce.bytes().all(|b| b.is_ascii_alphanumeric());
        let request_ok = message
            .request_id
            .as_ref()
            .is_none_or(|r| r.len() <= MAX_REQUEST_ID);
        let resources_ok = message.resources.len() <= MAX_RESOURCES
            && message
                .resources
                .iter()
                .all(|r| r.as_str().len() <= MAX_URI);
        if !statement_ok
            || !nonce_ok
            || !request_ok
            || !resources_ok
            || message.uri.as_str().len() > MAX_URI
        {
            return Err(malformed(
                "a field is too long or the nonce is not 8 to 64 alphanumerics",
            ));
        }
        Ok(Self {
            message,
            scheme: scheme.map(str::to_ascii_lowercase),
            text: text.to_string(),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn address(&self) -> Address {
        Address(self.message.address)
    }

    pub fn chain_id(&self) -> u64 {
        self.message.chain_id
    }

    pub fn nonce(&self) -> &str {
        &self.message.nonce
    }

    /// Checks the message against the pool's policy, the nonce the gateway issued (and is
    /// consuming), and the clock (EIP-4361 §"Verifying a signed message", DESIGN rule 4).
    pub fn check(
        &self,
        policy: &Policy,
        issued_nonce: &str,
        now: OffsetDateTime,
    ) -> Result<(), VerifyError> {
        let m = &self.message;
        let domain = m.domain.as_str().to_ascii_lowercase();
        if !policy
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&domain))
        {
            return Err(VerifyError::Domain);
        }
        // A scheme, when given, names the requesting origin: it must be an allowed one.
        if let Some(scheme) = &self.scheme
            && !policy
                .uri_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&format!("{scheme}://{domain}")))
        {
            return Err(VerifyError::Domain);
        }
        let origin = origin(m.uri.as_str()).ok_or(VerifyError::Uri)?;
        if !policy
            .uri_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(&origin))
        {
            return Err(VerifyError::Uri);
        }
        if !policy.chain_ids.contains(&m.chain_id) {
            return Err(VerifyError::ChainId);
        }
        if !bool::from(m.nonce.as_bytes().ct_eq(issued_nonce.as_bytes())) {
            return Err(VerifyError::Nonce);
        }
        let issued_at = *m.issued_at.as_ref();
        if issued_at > now + policy.skew || issued_at < now - policy.max_age - policy.skew {
            return Err(VerifyError::IssuedAt);
        }
        check_times(m, now, policy.skew)
    }
}

/// `not-before` and `expiration-time` against `now`, with `skew` allowed either way.
pub fn check_times(
    m: &siwe::Message,
    now: OffsetDateTime,
    skew: Duration,
) -> Result<(), VerifyError> {
    if let Some(nbf) = &m.not_before
        && *nbf.as_ref() > now + skew
    {
        return Err(VerifyError::NotYetValid);
    }
    if let Some(exp) = &m.expiration_time
        && *exp.as_ref() <= now - skew
    {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

/// `scheme://authority` of an absolute URI, lowercased.
fn origin(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    (!scheme.is_empty() && !authority.is_empty() && !authority.contains('@'))
        .then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// What a pool accepts in SIWE messages.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Allowed `domain`s (RFC 3986 authorities, e.g. `app.example.com`).
    pub domains: Vec<String>,
    /// Allowed origins of the message's `uri` (`https://app.example.com`).
    pub uri_origins: Vec<String>,
    pub chain_ids: Vec<u64>,
    /// How old `issued-at` may be: the nonce's lifetime.
    pub max_age: Duration,
    /// Clock skew allowed on every time (at most 60 s).
    pub skew: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "app.example.com wants you to sign in with your Ethereum account:\n0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\nSign in to Example\n\nURI: https://app.example.com/login\nVersion: 1\nChain ID: 1\nNonce: abcdef0123456789\nIssued At: 2026-11-26T12:00:00Z\nExpiration Time: 2026-11-26T12:10:00Z";

    fn policy() -> Policy {
        Policy {
            domains: vec!["app.example.com".into()],
            uri_origins: vec!["https://app.example.com".into()],
            chain_ids: vec![1],
            max_age: Duration::minutes(5),
            skew: Duration::seconds(60),
        }
    }

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn policy_checks() {
        let m = SiweMessage::parse(MSG).unwrap();
        let now = at("2026-11-26T12:01:00Z");
        m.check(&policy(), "abcdef0123456789", now).unwrap();
        assert_eq!(
            m.check(&policy(), "abcdef012345678X", now),
            Err(VerifyError::Nonce)
        );
        let p = Policy {
            domains: vec!["other.example.com".into()],
            ..policy()
        };
        assert_eq!(
            m.check(&p, "abcdef0123456789", now),
            Err(VerifyError::Domain)
        );
        let p = Policy {
            uri_origins: vec!["https://evil.example.com".into()],
            ..policy()
        };
        assert_eq!(m.check(&p, "abcdef0123456789", now), Err(VerifyError::Uri));
        let p = Policy {
            chain_ids: vec![137],
            ..policy()
        };
        assert_eq!(
            m.check(&p, "abcdef0123456789", now),
            Err(VerifyError::ChainId)
        );
        // Issued more than the nonce's lifetime (plus skew) ago, or in the future.
        assert_eq!(
            m.check(&policy(), "abcdef0123456789", at("2026-11-26T12:06:01Z")),
            Err(VerifyError::IssuedAt)
        );
        assert_eq!(
            m.check(&policy(), "abcdef0123456789", at("2026-11-26T11:58:59Z")),
            Err(VerifyError::IssuedAt)
        );
        // Expired (with 60 s of skew).
        let long = Policy {
            max_age: Duration::hours(1),
            ..policy()
        };
        m.check(&long, "abcdef0123456789", at("2026-11-26T12:10:59Z"))
            .unwrap();
        assert_eq!(
            m.check(&long, "abcdef0123456789", at("2026-11-26T12:11:00Z")),
            Err(VerifyError::Expired)
        );
        // An optional scheme must name an allowed origin.
        let https = SiweMessage::parse(&format!("https://{MSG}")).unwrap();
        https.check(&policy(), "abcdef0123456789", now).unwrap();
        let http = SiweMessage::parse(&format!("http://{MSG}")).unwrap();
        assert_eq!(
            http.check(&policy(), "abcdef0123456789", now),
            Err(VerifyError::Domain)
        );
    }

    #[test]
    fn smuggling_and_limits() {
        for (bad, why) in [
            (
                MSG.replace(
                    "Sign in to Example",
                    "Sign in\r\nURI: https://evil.example.com",
                ),
                "CR LF",
            ),
            (MSG.replace('\n', "\r\n"), "CRLF line ends"),
            (format!("{MSG}\n"), "trailing newline"),
            (
                format!("{MSG}\nResources:\n- https://a.example.com\nextra"),
                "trailing text",
            ),
            (MSG.replace("Version: 1", "Version: 2"), "version"),
            (MSG.replace("abcdef0123456789", "abc1234"), "short nonce"),
            (
                MSG.replace("abcdef0123456789", "abcdef01-3456789"),
                "non-alphanumeric nonce",
            ),
            (
                MSG.replace("abcdef0123456789", &"a".repeat(65)),
                "long nonce",
            ),
            (
                MSG.replace("Sign in to Example", &"s".repeat(1025)),
                "long statement",
            ),
            (
                MSG.replace("2026-11-26T12:00:00Z", "2026-11-26 12:00:00"),
                "not RFC 3339",
            ),
            (MSG.replace("Sign in to Example", "tab\there"), "tab"),
            (
                MSG.replace(
                    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                    "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
                ),
                "lowercase address",
            ),
        ] {
            assert!(SiweMessage::parse(&bad).is_err(), "{why}");
        }
    }
}
