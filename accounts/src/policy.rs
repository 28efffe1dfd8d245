//! A pool's stored configuration and the password policy.
//!
//! Password rules follow NIST SP 800-63B §5.1.1.2 and OWASP ASVS 6.2: a minimum length
//! (8 by default), at least 64 characters allowed (we accept up to 256), no composition
//! rules, no truncation, NFKC normalisation, and refusal of common passwords and of the
//! email's local part.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

use crate::storage_role::{StorageRole, default_roles};
use crate::{Email, Error};

/// The longest password accepted, in characters after normalisation.
pub const PASSWORD_MAX_CHARS: usize = 256;

/// A pool's policies, stored as JSON in `pool.config`. Every field has a default so a
/// config written by an older version still loads, and unknown fields are ignored so one
/// written by a newer version does too (rolling upgrades).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PoolConfig {
    /// Human-facing name used in mails and pages.
    pub display_name: String,
    pub password_min_length: usize,
    /// Access and ID token lifetime, seconds (5 minutes to 1 day).
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    /// Absolute lifetime of a refresh-token family, seconds.
    pub refresh_token_ttl: i64,
    /// Lifetime of an emailed code, seconds.
    pub code_ttl: i64,
    /// Wrong tries after which a code is dead.
    pub code_max_attempts: i32,
    /// Failed password sign-ins per email within `sign_in_window` before answering 429.
    pub sign_in_max_failures: u64,
    pub sign_in_window: u64,
    /// Sign-In with Ethereum: allowed message domains, URI origins and chain ids. Empty
    /// means the default: the public URL's authority and origin, and chain 1.
    pub siwe_domains: Vec<String>,
    pub siwe_uri_origins: Vec<String>,
    pub siwe_chain_ids: Vec<u64>,
    /// Lifetime of a SIWE nonce, seconds (and so the oldest `issued-at` accepted).
    pub siwe_nonce_ttl: i64,
    /// What accounts may do in the S3-compatible store (default: `recovery` and `fiat`).
    pub storage_roles: Vec<StorageRole>,
    /// How the hosted pages look.
    pub branding: Branding,
    /// Days this pool's audit events are kept (1 to 36,500); none: the gateway's
    /// `GATEHOUSE_AUDIT_RETENTION_DAYS`, which is also the most any pool keeps them.
    pub audit_retention_days: Option<u32>,
    /// This pool's own values for the gateway's rate limits, by name (one of
    /// [`RATE_LIMIT_NAMES`]); a limit left out keeps the gateway's value.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// Multi-factor authentication: who is challenged for a second factor, and with what.
    pub mfa: MfaPolicy,
    /// What a sign-in with a password found in a breach corpus does (when the gateway has
    /// one: `GATEHOUSE_PWNED_URL`). New passwords found there are always refused.
    pub compromised_passwords: OnCompromised,
    /// Passkeys (WebAuthn): the relying party id (a registrable domain; default: the public
    /// URL's host) and the origins whose pages may use them (default: the public URL's).
    pub passkey_rp_id: Option<String>,
    pub passkey_origins: Vec<String>,
    /// Mail the account a notice of a sign-in from a network (a /24 or /48) or a browser it
    /// never signed in from, and audit it (`sign_in_new_origin`).
    pub notify_new_sign_ins: bool,
}

/// What a sign-in does when its (right) password is in the breach corpus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum OnCompromised {
    /// Nothing.
    Allow,
    /// The sign-in goes through; the account is mailed (once per password) and it is
    /// audited.
    #[default]
    Notify,
    /// The sign-in is refused (`password_reset_required`) and the account mailed to choose
    /// a new password through recovery.
    Block,
}

/// Whether accounts are asked for a second factor (DESIGN, Multi-factor authentication).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum MfaMode {
    /// Nobody is challenged, and factors cannot be enrolled.
    #[default]
    Off,
    /// Accounts that enrolled a factor are challenged.
    Optional,
    /// Every account is challenged; one without a factor enrols at its next sign-in.
    Required,
}

/// A second factor an account can enrol (backup codes come with the authenticator app).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Factor {
    /// An authenticator app (RFC 6238).
    Totp,
    /// A one-time code mailed to the account's verified email.
    Email,
    /// One of the account's ten single-use backup codes.
    BackupCode,
    /// A passkey (WebAuthn, user verification required).
    Passkey,
}

impl Factor {
    /// The factor named `s` (as [`Factor::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Factor> {
        [
            Factor::Totp,
            Factor::Email,
            Factor::BackupCode,
            Factor::Passkey,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::Email => "email",
            Factor::BackupCode => "backup_code",
            Factor::Passkey => "passkey",
        }
    }

    /// Its RFC 8176 `amr` value: `otp` for an app's or a backup code, `email` for a mailed
    /// one (as the recovery by email code says it).
    pub fn amr(self) -> &'static str {
        match self {
            Factor::Totp | Factor::BackupCode => "otp",
            Factor::Email => "email",
            Factor::Passkey => "hwk",
        }
    }
}

/// A pool's MFA policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MfaPolicy {
    pub mode: MfaMode,
    /// The factors accounts may enrol and answer with: `totp`, `email`, `passkey` (backup
    /// codes come with `totp`).
    pub factors: Vec<Factor>,
    /// Whether a wallet sign-in is challenged too (default: no; the wallet's signature is
    /// the possession factor).
    pub challenge_wallet: bool,
    /// Whether a federated sign-in is challenged too (default: no; the upstream IdP is).
    pub challenge_federated: bool,
    /// Whether a recovery by email skips the second factor (DESIGN rule 6; default: no).
    pub recovery_skips_mfa: bool,
}

impl Default for MfaPolicy {
    fn default() -> Self {
        Self {
            mode: MfaMode::Off,
            factors: vec![Factor::Totp, Factor::Email],
            challenge_wallet: false,
            challenge_federated: false,
            recovery_skips_mfa: false,
        }
    }
}

impl MfaPolicy {
    /// Whether accounts may enrol and use `factor` (backup codes go with `totp`).
    pub fn allows(&self, factor: Factor) -> bool {
        self.mode != MfaMode::Off
            && match factor {
                Factor::BackupCode => self.factors.contains(&Factor::Totp),
                f => self.factors.contains(&f),
            }
    }

    fn problem(&self) -> Option<&'static str> {
        if self.factors.contains(&Factor::BackupCode) {
            return Some("mfa.factors: backup codes come with totp; list totp, email, passkey");
        }
        let mut seen = HashSet::new();
        if !self.factors.iter().all(|f| seen.insert(*f)) {
            return Some("mfa.factors: each factor once");
        }
        if self.mode != MfaMode::Off && self.factors.is_empty() {
            return Some("mfa.factors: at least one factor unless mode is off");
        }
        if self.mode == MfaMode::Required
            && !self
                .factors
                .iter()
                .any(|f| matches!(f, Factor::Totp | Factor::Email))
        {
            return Some(
                "mfa.factors: required needs totp or email, which accounts enrol at sign-in",
            );
        }
        None
    }
}

/// A rate limit: at most `max` hits per `window_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RateLimit {
    pub max: u64,
    pub window_seconds: u64,
}

/// The rate limits a pool may set (`docs/security.md` says what each counts). The failed
/// sign-ins per email and client address are `sign_in_max_failures` and `sign_in_window`.
pub const RATE_LIMIT_NAMES: [&str; 8] = [
    "mail-ip",
    "mail-email",
    "mail-account",
    "siwe-nonce-ip",
    "attempt-ip",
    "code-fail",
    "pwcheck-fail",
    "signin-fail-email",
];

/// The hosted pages' look: a logo and two colours (`#rgb` or `#rrggbb`). The colours reach
/// the pages through a stylesheet, never inline, so the pages keep a strict CSP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Branding {
    /// An https image URL (http only on loopback).
    pub logo_url: Option<String>,
    /// Buttons and links.
    pub primary_color: String,
    /// The page behind the card.
    pub background_color: String,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            logo_url: None,
            primary_color: "#1f4fd1".into(),
            background_color: "#f3f4f6".into(),
        }
    }
}

/// `#rgb` or `#rrggbb`: the only colour syntax the stylesheet takes, so a colour can never
/// close the CSS rule it sits in.
pub fn is_color(c: &str) -> bool {
    let hex = c.strip_prefix('#').unwrap_or("");
    matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Branding {
    fn problem(&self) -> Option<&'static str> {
        if !is_color(&self.primary_color) || !is_color(&self.background_color) {
            return Some("branding colours must be #rgb or #rrggbb");
        }
        if let Some(logo) = &self.logo_url {
            let ok = url::Url::parse(logo)
                .ok()
                .is_some_and(|u| match u.scheme() {
                    "https" => u.host_str().is_some(),
                    "http" => matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
                    _ => false,
                });
            if !ok || logo.contains(['"', '\'', ' ', ';']) {
                return Some("branding.logo_url must be an https URL");
            }
        }
        None
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            display_name: "Gatehouse".into(),
            password_min_length: 8,
            access_token_ttl: 3600,
            id_token_ttl: 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            code_ttl: 600,
            code_max_attempts: 5,
            sign_in_max_failures: 10,
            sign_in_window: 900,
            siwe_domains: Vec::new(),
            siwe_uri_origins: Vec::new(),
            siwe_chain_ids: Vec::new(),
            siwe_nonce_ttl: 300,
            storage_roles: default_roles(),
            branding: Branding::default(),
            audit_retention_days: None,
            rate_limits: BTreeMap::new(),
            mfa: MfaPolicy::default(),
            compromised_passwords: OnCompromised::default(),
            notify_new_sign_ins: false,
            passkey_rp_id: None,
            passkey_origins: Vec::new(),
        }
    }
}

impl PoolConfig {
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidPoolConfig(m.into()));
        if !(8..=64).contains(&self.password_min_length) {
            return bad("password_min_length must be between 8 and 64");
        }
        for ttl in [self.access_token_ttl, self.id_token_ttl] {
            if !(300..=86_400).contains(&ttl) {
                return bad("token lifetimes must be between 300 and 86400 seconds");
            }
        }
        if !(3600..=365 * 86_400).contains(&self.refresh_token_ttl) {
            return bad("refresh_token_ttl must be between 1 hour and 365 days");
        }
        if !(60..=86_400).contains(&self.code_ttl) || !(1..=10).contains(&self.code_max_attempts) {
            return bad("code_ttl must be 60..=86400 seconds and code_max_attempts 1..=10");
        }
        if let Some(problem) = self.branding.problem() {
            return bad(problem);
        }
        if self.display_name.trim().is_empty() || self.display_name.len() > 100 {
            return bad("display_name must be 1 to 100 characters");
        }
        if self
            .audit_retention_days
            .is_some_and(|d| !(1..=36_500).contains(&d))
        {
            return bad("audit_retention_days must be 1 to 36500 (or null for the gateway's)");
        }
        for (name, limit) in &self.rate_limits {
            if !RATE_LIMIT_NAMES.contains(&name.as_str()) {
                return Err(Error::InvalidPoolConfig(format!(
                    "rate_limits: no limit is named `{name}` (one of {})",
                    RATE_LIMIT_NAMES.join(", ")
                )));
            }
            if !(1..=1_000_000).contains(&limit.max)
                || !(1..=7 * 86_400).contains(&limit.window_seconds)
            {
                return Err(Error::InvalidPoolConfig(format!(
                    "rate_limits.{name}: max must be 1 to 1000000 and window_seconds 1 to 604800"
                )));
            }
        }
        if let Some(problem) = self.mfa.problem() {
            return bad(problem);
        }
        let host_chars = |h: &str| {
            !h.is_empty()
                && h.len() <= 253
                && h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        };
        if self
            .passkey_rp_id
            .as_deref()
            .is_some_and(|h| !host_chars(h))
        {
            return bad("passkey_rp_id must be a lower-case domain (the pages' host or a parent)");
        }
        for origin in &self.passkey_origins {
            let ok = url::Url::parse(origin).ok().is_some_and(|u| {
                matches!(u.scheme(), "https" | "http")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && origin.trim_end_matches('/') == u.origin().ascii_serialization()
            });
            if !ok {
                return bad("passkey_origins are origins: scheme, host and port, no path");
            }
        }
        let mut names = HashSet::new();
        for role in &self.storage_roles {
            if let Some(problem) = role.problem() {
                return Err(Error::InvalidPoolConfig(problem));
            }
            if !names.insert(role.name.as_str()) {
                return bad("storage role names must be unique");
            }
        }
        Ok(())
    }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../data/common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// NFKC-normalises a password, the form that is hashed and checked.
pub fn normalize_password(raw: &str) -> String {
    raw.nfkc().collect()
}

/// Checks an already normalised password against the policy.
pub fn check_password(normalized: &str, email: Option<&Email>, min: usize) -> Result<(), Error> {
    let len = normalized.chars().count();
    if len < min {
        return Err(Error::PasswordTooShort { min });
    }
    if len > PASSWORD_MAX_CHARS {
        return Err(Error::PasswordTooLong {
            max: PASSWORD_MAX_CHARS,
        });
    }
    let lower = normalized.to_lowercase();
    if common_passwords().contains(lower.as_str()) {
        return Err(Error::PasswordTooCommon);
    }
    if let Some(email) = email {
        let local = email.local_part().to_lowercase();
        if lower == local || lower == email.normalized() {
            return Err(Error::PasswordMatchesEmail);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_large_enough() {
        assert!(common_passwords().len() >= 10_000);
        assert!(common_passwords().contains("password"));
    }

    #[test]
    fn policy() {
        let email = Email::parse("correct.horse@example.com").unwrap();
        assert!(matches!(
            check_password("short", None, 8),
            Err(Error::PasswordTooShort { min: 8 })
        ));
        assert!(matches!(
            check_password("password1", None, 8),
            Err(Error::PasswordTooCommon)
        ));
        assert!(matches!(
            check_password("PassWord1", None, 8),
            Err(Error::PasswordTooCommon)
        ));
        assert!(matches!(
            check_password("Correct.Horse", Some(&email), 8),
            Err(Error::PasswordMatchesEmail)
        ));
        let long = "x".repeat(257);
        assert!(matches!(
            check_password(&long, None, 8),
            Err(Error::PasswordTooLong { .. })
        ));
        check_password(&"y".repeat(256), None, 8).unwrap();
        // No composition rules: a long lowercase phrase is fine.
        check_password("violet tractor umbrella", Some(&email), 8).unwrap();
    }

    #[test]
    fn nfkc_normalisation() {
        // Fullwidth letters normalise to ASCII, so both spellings are one password.
        assert_eq!(normalize_password("ｐａｓｓ"), "pass");
    }

    #[test]
    fn defaults_validate() {
        PoolConfig::default().validate().unwrap();
        let bad = PoolConfig {
            access_token_ttl: 10,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
