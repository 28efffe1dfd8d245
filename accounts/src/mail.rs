//! The mails a pool sends: what happened and the facts to tell (a code, a wallet, a link),
//! never their words. Sealed into the outbox in the same transaction as the change that sends
//! them; the gateway's worker writes them out (subject, text and HTML, from its templates and
//! its catalogue of words) when it delivers them.

use serde::{Deserialize, Serialize};

/// A mail as sealed into the outbox.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub enum Sealed {
    /// What to tell, and the pool's name as it was when the mail was queued.
    Letter { pool_name: String, mail: Mail },
    /// A subject and text written before mails had templates (an outbox row queued by an
    /// older version, still due): sent as it is.
    Rendered { subject: String, text: String },
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Mails carry codes and links: only the kind may be shown.
        match self {
            Sealed::Letter { mail, .. } => f.debug_tuple("Letter").field(&mail.kind()).finish(),
            Sealed::Rendered { .. } => f.write_str("Rendered"),
        }
    }
}

/// Every mail Gatehouse sends.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    SignupCode {
        code: String,
    },
    ExistingAccount,
    RecoveryCode {
        code: String,
    },
    /// After a recovery: what changed on the account in the last days, so a change made
    /// with a stolen session (a wallet linked, the email changed) can be undone now.
    RecoveryUsed {
        changes: Vec<String>,
    },
    PasswordChanged,
    EmailChangeCode {
        code: String,
    },
    /// To the old address: the change, and a link that undoes it for 72 hours.
    EmailChanged {
        undo_url: String,
    },
    WalletLinked {
        wallet: String,
    },
    WalletUnlinked {
        wallet: String,
    },
    /// A federated identity (its IdP's display name) was linked: it signs in now.
    IdentityLinked {
        idp: String,
    },
    IdentityUnlinked {
        idp: String,
    },
    /// An operator created the account: a code that sets its first password (the recovery
    /// confirmation takes it).
    Invitation {
        code: String,
    },
    /// The account was deleted at its owner's request.
    AccountDeleted,
    /// A sign-in's second factor: a one-time code.
    MfaCode {
        code: String,
    },
    /// The account's password is in a breach corpus; with `blocked`, sign-ins with it are
    /// refused until it is changed through recovery.
    PasswordCompromised {
        blocked: bool,
    },
    /// A sign-in from a network or a browser the account never signed in from.
    NewSignIn {
        /// The network, as `203.0.113.0/24` or `2001:db8:1::/48`.
        network: String,
        new_network: bool,
        new_device: bool,
        /// The browser or program, as the sessions list names it ("Firefox on Linux").
        device: String,
    },
    /// A second factor was added or removed, or the backup codes were replaced.
    MfaChanged {
        change: MfaChange,
    },
}

/// What changed among an account's second factors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaChange {
    TotpAdded,
    TotpRemoved,
    EmailAdded,
    EmailRemoved,
    PasskeyAdded,
    PasskeyRemoved,
    BackupCodesReplaced,
    /// An operator cleared every factor.
    Cleared,
}

impl Mail {
    /// Stable name stored with the outbox row.
    pub fn kind(&self) -> &'static str {
        match self {
            Mail::SignupCode { .. } => "signup_code",
            Mail::ExistingAccount => "existing_account",
            Mail::RecoveryCode { .. } => "recovery_code",
            Mail::RecoveryUsed { .. } => "recovery_used",
            Mail::PasswordChanged => "password_changed",
            Mail::EmailChangeCode { .. } => "email_change_code",
            Mail::EmailChanged { .. } => "email_changed",
            Mail::WalletLinked { .. } => "wallet_linked",
            Mail::WalletUnlinked { .. } => "wallet_unlinked",
            Mail::IdentityLinked { .. } => "identity_linked",
            Mail::IdentityUnlinked { .. } => "identity_unlinked",
            Mail::Invitation { .. } => "invitation",
            Mail::AccountDeleted => "account_deleted",
            Mail::MfaCode { .. } => "mfa_code",
            Mail::NewSignIn { .. } => "new_sign_in",
            Mail::PasswordCompromised { .. } => "password_compromised",
            Mail::MfaChanged { .. } => "mfa_changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_round_trips_and_an_older_body_still_opens() {
        let sealed = Sealed::Letter {
            pool_name: "Acme".into(),
            mail: Mail::SignupCode {
                code: "123456".into(),
            },
        };
        let json = serde_json::to_string(&sealed).unwrap();
        assert!(json.contains(r#""kind":"signup_code""#), "{json}");
        match serde_json::from_str::<Sealed>(&json).unwrap() {
            Sealed::Letter {
                pool_name,
                mail: Mail::SignupCode { code },
            } => assert_eq!((pool_name.as_str(), code.as_str()), ("Acme", "123456")),
            other => panic!("{other:?}"),
        }
        let old = r#"{"subject":"Your Acme sign-up code: 123456","text":"Your code is 123456."}"#;
        assert!(matches!(
            serde_json::from_str::<Sealed>(old).unwrap(),
            Sealed::Rendered { .. }
        ));
        assert_eq!(format!("{sealed:?}"), r#"Letter("signup_code")"#);
    }
}
