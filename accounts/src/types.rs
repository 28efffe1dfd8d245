//! Identifier newtypes. `Email` is normalised on construction.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use crate::Error;

macro_rules! uuid_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(
            feature = "schema",
            derive(utoipa::ToSchema),
            schema(value_type = String, format = "uuid")
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::parse_str(s).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// An account's `sub`: a UUID that never changes and is never an address or an email.
    AccountId
);
uuid_id!(
    /// A pool's internal id (its public name is separate).
    PoolId
);
uuid_id!(
    /// A session: one refresh-token family.
    SessionId
);

/// An email address, normalised once on construction (see `docs/security.md`):
/// - surrounding Unicode whitespace is trimmed; whitespace or control characters inside
///   are refused;
/// - the whole address is put in Unicode NFKC form, so compatibility characters become the
///   letters they stand for (U+212A KELVIN SIGN is `K`, fullwidth `Ａ` is `A`);
/// - the domain is lower-cased and, when internationalised, converted to its ASCII
///   (IDNA, "xn--") form; the local part keeps its case as typed.
///
/// [`Email::normalized`] (the local part lower-cased too) is the one form that accounts are
/// stored, compared and rate-limited under; mail always goes to the stored address of the
/// account, never to how a request spelled it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// NFKC, then Unicode lower case, then NFKC again (lower-casing may leave a string that is
/// not in NFKC form).
fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let lower = s.nfkc().collect::<String>().to_lowercase();
    lower.nfkc().collect()
}

impl Email {
    /// A search prefix in the form [`Email::normalized`] is compared in: trimmed, NFKC,
    /// lower-cased (an internationalised domain matches in its `xn--` form).
    pub fn search_prefix(raw: &str) -> String {
        fold(raw.trim())
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        use unicode_normalization::UnicodeNormalization;
        let s: String = raw.trim().nfkc().collect();
        if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::InvalidEmail);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(Error::InvalidEmail)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') || domain.is_empty() {
            return Err(Error::InvalidEmail);
        }
        // IDNA (UTS #46) maps and lower-cases the domain and gives its ASCII form; an IP
        // literal or anything that is not a host name is refused.
        let domain = match url::Host::parse(domain) {
            Ok(url::Host::Domain(d)) => d,
            _ => return Err(Error::InvalidEmail),
        };
        let domain_ok = domain.len() <= 253
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !domain_ok {
            return Err(Error::InvalidEmail);
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    /// The normalised form of whatever a request sent: the address's [`Email::normalized`]
    /// form when it parses, else the trimmed input folded the same way. Every limit keyed
    /// by an email uses this, so no spelling of one address gets a budget of its own.
    pub fn key(raw: &str) -> String {
        match Email::parse(raw) {
            Ok(e) => e.normalized(),
            Err(_) => fold(raw.trim()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness, look-ups and limits.
    pub fn normalized(&self) -> String {
        fold(&self.0)
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(self.0.as_str(), |(l, _)| l)
    }
}

impl TryFrom<String> for Email {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses are personal data: keep them out of debug logs.
        write!(f, "Email(<{} chars>)", self.0.len())
    }
}

/// Where an account stands. `pending` until its sign-up email is confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum AccountStatus {
    Pending,
    Active,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pending => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_normalised() {
        let e = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Alice@example.com");
        assert_eq!(e.normalized(), "alice@example.com");
        assert_eq!(e.local_part(), "Alice");
    }

    #[test]
    fn spellings_of_one_address_share_one_form() {
        let stored = Email::parse("kate@kmail.example").unwrap().normalized();
        for spelling in [
            "kate@kmail.example ",
            " kate@kmail.example",
            "kate@kmail.example\t",
            "kate@kmail.example\n",
            "kate@kmail.example\u{a0}",
            "\u{2003}kate@kmail.example",
            "KATE@KMAIL.EXAMPLE",
            "\u{212a}ate@\u{212a}mail.example",
            "\u{ff4b}ate@kmail.example",
        ] {
            let e = Email::parse(spelling).unwrap();
            assert_eq!(e.normalized(), stored, "{spelling:?}");
            assert_eq!(Email::key(spelling), stored, "{spelling:?}");
        }
        // The Kelvin sign is the letter K once normalised, in the stored form too.
        let kelvin = Email::parse("\u{212a}ate@\u{212a}mail.example").unwrap();
        assert_eq!(kelvin.as_str(), "Kate@kmail.example");
        // Internationalised domains take their ASCII form.
        let idn = Email::parse("ana@B\u{fc}cher.example").unwrap();
        assert_eq!(idn.as_str(), "ana@xn--bcher-kva.example");
        // What does not parse is still keyed in one form.
        assert_eq!(Email::key(" Not An Email\u{a0}"), "not an email");
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "a",
            "@x.io",
            "a@",
            "a@b",
            "a b@x.io",
            "a@x..io",
            "a@.x.io",
            "a\n@x.io",
            "a@[127.0.0.1]",
            "a@1.2.3.4",
            "a@x_y.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn email_debug_is_redacted() {
        let e = Email::parse("secret@example.com").unwrap();
        assert!(!format!("{e:?}").contains("secret"));
    }
}
