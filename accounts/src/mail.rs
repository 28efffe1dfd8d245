//! The mails a pool sends. Rendered here, sealed into the outbox in the same transaction as
//! the change that sends them, and delivered by the gateway's worker.

use serde::{Deserialize, Serialize};

/// A rendered mail, as sealed into the outbox.
#[derive(Clone, Serialize, Deserialize)]
pub struct MailBody {
    pub subject: String,
    pub text: String,
}

impl std::fmt::Debug for MailBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies carry codes: only the subject may be shown.
        f.debug_struct("MailBody")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Every mail Gatehouse sends.
pub enum Mail<'a> {
    SignupCode {
        code: &'a str,
    },
    ExistingAccount,
    RecoveryCode {
        code: &'a str,
    },
    /// After a recovery: what changed on the account in the last days, so a change made
    /// with a stolen session (a wallet linked, the email changed) can be undone now.
    RecoveryUsed {
        changes: &'a [String],
    },
    PasswordChanged,
    EmailChangeCode {
        code: &'a str,
    },
    /// To the old address: the change, and a link that undoes it for 72 hours.
    EmailChanged {
        undo_url: &'a str,
    },
    WalletLinked {
        wallet: &'a str,
    },
    WalletUnlinked {
        wallet: &'a str,
    },
}

impl Mail<'_> {
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
        }
    }

    pub fn render(&self, pool_name: &str) -> MailBody {
        let ignore = "If this was not you, you can ignore this mail.";
        let secure =
            "If this was not you, recover your account now and review its sign-in methods.";
        let (subject, text) = match self {
            Mail::SignupCode { code } => (
                format!("Your {pool_name} sign-up code: {code}"),
                format!(
                    "Your code to confirm your email address is {code}.\nIt expires in 10 minutes.\n\n{ignore}"
                ),
            ),
            Mail::ExistingAccount => (
                format!("Someone tried to sign up to {pool_name} with your address"),
                format!(
                    "An account with this email address already exists.\nIf you forgot your password, use account recovery.\n\n{ignore}"
                ),
            ),
            Mail::RecoveryCode { code } => (
                format!("Your {pool_name} recovery code: {code}"),
                format!(
                    "Your code to recover your account is {code}.\nIt expires in 10 minutes.\n\n{ignore}"
                ),
            ),
            Mail::RecoveryUsed { changes } => {
                let recent = if changes.is_empty() {
                    "Nothing else changed on your account in the last 7 days.".to_string()
                } else {
                    format!(
                        "What changed on your account in the last 7 days (remove anything you do not recognise now, while this recovery session is fresh):\n{}",
                        changes
                            .iter()
                            .map(|c| format!("- {c}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                };
                (
                    format!("Your {pool_name} account was recovered"),
                    format!(
                        "Your account was just recovered with a code sent to this address, and every other session was signed out.\n\n{recent}\n\n{secure}"
                    ),
                )
            }
            Mail::PasswordChanged => (
                format!("Your {pool_name} password was changed"),
                format!(
                    "The password of your account was just changed, and your other sessions were signed out.\n\n{secure}"
                ),
            ),
            Mail::EmailChangeCode { code } => (
                format!("Your {pool_name} code to confirm this address: {code}"),
                format!(
                    "Your code to make this the email address of your account is {code}.\nIt expires in 10 minutes.\n\n{ignore}"
                ),
            ),
            Mail::EmailChanged { undo_url } => (
                format!("The email address of your {pool_name} account was changed"),
                format!(
                    "The email address of your account was changed; this address no longer signs in.\n\nIf this was not you, undo the change within 72 hours:\n{undo_url}\nThis gives the account this address back, signs out every session, and sends a recovery code here."
                ),
            ),
            Mail::WalletLinked { wallet } => (
                format!("A wallet was linked to your {pool_name} account"),
                format!("The wallet {wallet} can now sign in to your account.\n\n{secure}"),
            ),
            Mail::WalletUnlinked { wallet } => (
                format!("A wallet was removed from your {pool_name} account"),
                format!("The wallet {wallet} no longer signs in to your account.\n\n{secure}"),
            ),
        };
        MailBody { subject, text }
    }
}
