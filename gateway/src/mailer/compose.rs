//! Writes out a sealed mail: its subject, a text body and an HTML body, from the templates in
//! `gateway/templates/mail/` (`{kind}.txt` and `{kind}.html`, the HTML escaped by the engine)
//! and the words of [`crate::words`]. Both bodies carry the same facts (a code, a link), so
//! a reader of either misses nothing.

use accounts::mail::{Mail, Sealed};
use askama::Template;

use crate::words::{MailText, MailWords, fill, words};

/// A written mail, ready for a transport.
#[derive(Clone)]
pub struct MailBody {
    pub subject: String,
    pub text: String,
    /// Absent only for a mail queued by a version before the templates.
    pub html: Option<String>,
}

impl std::fmt::Debug for MailBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies carry codes: only the subject may be shown.
        f.debug_struct("MailBody")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What the templates of a mail read.
struct View<'a> {
    w: &'static MailWords,
    lang: &'static str,
    pool: &'a str,
    subject: String,
    /// The kind's paragraphs, filled in.
    lines: Vec<String>,
    code: &'a str,
    link: &'a str,
    changes: &'a [String],
    /// The last paragraph (empty: none).
    closing: &'static str,
}

macro_rules! mail_template {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            m: &'a View<'a>,
        }
    };
}

mail_template!(SignupCodeText, "mail/signup_code.txt");
mail_template!(SignupCodeHtml, "mail/signup_code.html");
mail_template!(ExistingAccountText, "mail/existing_account.txt");
mail_template!(ExistingAccountHtml, "mail/existing_account.html");
mail_template!(RecoveryCodeText, "mail/recovery_code.txt");
mail_template!(RecoveryCodeHtml, "mail/recovery_code.html");
mail_template!(RecoveryUsedText, "mail/recovery_used.txt");
mail_template!(RecoveryUsedHtml, "mail/recovery_used.html");
mail_template!(PasswordChangedText, "mail/password_changed.txt");
mail_template!(PasswordChangedHtml, "mail/password_changed.html");
mail_template!(EmailChangeCodeText, "mail/email_change_code.txt");
mail_template!(EmailChangeCodeHtml, "mail/email_change_code.html");
mail_template!(EmailChangedText, "mail/email_changed.txt");
mail_template!(EmailChangedHtml, "mail/email_changed.html");
mail_template!(WalletLinkedText, "mail/wallet_linked.txt");
mail_template!(WalletLinkedHtml, "mail/wallet_linked.html");
mail_template!(WalletUnlinkedText, "mail/wallet_unlinked.txt");
mail_template!(WalletUnlinkedHtml, "mail/wallet_unlinked.html");
mail_template!(InvitationText, "mail/invitation.txt");
mail_template!(InvitationHtml, "mail/invitation.html");
mail_template!(AccountDeletedText, "mail/account_deleted.txt");
mail_template!(AccountDeletedHtml, "mail/account_deleted.html");
mail_template!(MfaCodeText, "mail/mfa_code.txt");
mail_template!(MfaCodeHtml, "mail/mfa_code.html");
mail_template!(MfaChangedText, "mail/mfa_changed.txt");
mail_template!(MfaChangedHtml, "mail/mfa_changed.html");
mail_template!(PasswordCompromisedText, "mail/password_compromised.txt");
mail_template!(PasswordCompromisedHtml, "mail/password_compromised.html");
mail_template!(NewSignInText, "mail/new_sign_in.txt");
mail_template!(NewSignInHtml, "mail/new_sign_in.html");

/// The subject and both bodies of `sealed`.
pub fn compose(sealed: Sealed) -> Result<MailBody, askama::Error> {
    let (pool, mail) = match sealed {
        Sealed::Rendered { subject, text } => {
            return Ok(MailBody {
                subject,
                text,
                html: None,
            });
        }
        Sealed::Letter { pool_name, mail } => (pool_name, mail),
    };
    let w = &words().mail;
    let (text, code, wallet, link, changes): (&MailText, &str, &str, &str, &[String]) = match &mail
    {
        Mail::SignupCode { code } => (&w.signup_code, code, "", "", &[]),
        Mail::ExistingAccount => (&w.existing_account, "", "", "", &[]),
        Mail::RecoveryCode { code } => (&w.recovery_code, code, "", "", &[]),
        Mail::RecoveryUsed { changes } => (&w.recovery_used, "", "", "", changes),
        Mail::PasswordChanged => (&w.password_changed, "", "", "", &[]),
        Mail::EmailChangeCode { code } => (&w.email_change_code, code, "", "", &[]),
        Mail::EmailChanged { undo_url } => (&w.email_changed, "", "", undo_url, &[]),
        Mail::WalletLinked { wallet } => (&w.wallet_linked, "", wallet, "", &[]),
        Mail::WalletUnlinked { wallet } => (&w.wallet_unlinked, "", wallet, "", &[]),
        Mail::IdentityLinked { .. } => (&w.identity_linked, "", "", "", &[]),
        Mail::IdentityUnlinked { .. } => (&w.identity_unlinked, "", "", "", &[]),
        Mail::Invitation { code } => (&w.invitation, code, "", "", &[]),
        Mail::AccountDeleted => (&w.account_deleted, "", "", "", &[]),
        Mail::MfaCode { code } => (&w.mfa_code, code, "", "", &[]),
        Mail::MfaChanged { .. } => (&w.mfa_changed, "", "", "", &[]),
        Mail::NewSignIn { .. } => (&w.new_sign_in, "", "", "", &[]),
        Mail::PasswordCompromised { blocked: false } => (&w.password_compromised, "", "", "", &[]),
        Mail::PasswordCompromised { blocked: true } => (&w.password_blocked, "", "", "", &[]),
    };
    let change = match &mail {
        Mail::MfaChanged { change } => w.mfa_change(*change),
        _ => "",
    };
    let idp = match &mail {
        Mail::IdentityLinked { idp } | Mail::IdentityUnlinked { idp } => idp.as_str(),
        _ => "",
    };
    let values = [
        ("pool", pool.as_str()),
        ("idp", idp),
        ("code", code),
        ("wallet", wallet),
        ("change", change),
    ];
    // Mails a stranger may cause end with "ignore it"; notices of a change with "secure your
    // account"; the undo mail has its own last words.
    let closing = match &mail {
        Mail::SignupCode { .. }
        | Mail::ExistingAccount
        | Mail::RecoveryCode { .. }
        | Mail::EmailChangeCode { .. }
        | Mail::Invitation { .. } => w.ignore,
        Mail::MfaCode { .. }
        | Mail::MfaChanged { .. }
        | Mail::PasswordCompromised { .. }
        | Mail::NewSignIn { .. } => w.secure,
        Mail::RecoveryUsed { .. }
        | Mail::PasswordChanged
        | Mail::WalletLinked { .. }
        | Mail::WalletUnlinked { .. }
        | Mail::IdentityLinked { .. }
        | Mail::IdentityUnlinked { .. }
        | Mail::AccountDeleted => w.secure,
        Mail::EmailChanged { .. } => "",
    };
    // What was new about a sign-in, as `changes` lines.
    let origin_lines: Vec<String> = match &mail {
        Mail::NewSignIn {
            network,
            new_network,
            new_device,
            device,
        } => [
            new_network.then(|| fill(w.new_sign_in_network, &[("network", network.as_str())])),
            new_device.then(|| fill(w.new_sign_in_device, &[("device", device.as_str())])),
        ]
        .into_iter()
        .flatten()
        .collect(),
        _ => Vec::new(),
    };
    let changes = if origin_lines.is_empty() {
        changes
    } else {
        origin_lines.as_slice()
    };
    let m = View {
        w,
        lang: words().lang,
        pool: &pool,
        subject: fill(text.subject, &values),
        lines: text.lines.iter().map(|l| fill(l, &values)).collect(),
        code,
        link,
        changes,
        closing,
    };
    let m = &m;
    let (text, html) = match &mail {
        Mail::SignupCode { .. } => (
            SignupCodeText { m }.render()?,
            SignupCodeHtml { m }.render()?,
        ),
        Mail::ExistingAccount => (
            ExistingAccountText { m }.render()?,
            ExistingAccountHtml { m }.render()?,
        ),
        Mail::RecoveryCode { .. } => (
            RecoveryCodeText { m }.render()?,
            RecoveryCodeHtml { m }.render()?,
        ),
        Mail::RecoveryUsed { .. } => (
            RecoveryUsedText { m }.render()?,
            RecoveryUsedHtml { m }.render()?,
        ),
        Mail::PasswordChanged => (
            PasswordChangedText { m }.render()?,
            PasswordChangedHtml { m }.render()?,
        ),
        Mail::EmailChangeCode { .. } => (
            EmailChangeCodeText { m }.render()?,
            EmailChangeCodeHtml { m }.render()?,
        ),
        Mail::EmailChanged { .. } => (
            EmailChangedText { m }.render()?,
            EmailChangedHtml { m }.render()?,
        ),
        // A notice of lines only: the wallet notices' templates.
        Mail::WalletLinked { .. } | Mail::IdentityLinked { .. } => (
            WalletLinkedText { m }.render()?,
            WalletLinkedHtml { m }.render()?,
        ),
        Mail::WalletUnlinked { .. } | Mail::IdentityUnlinked { .. } => (
            WalletUnlinkedText { m }.render()?,
            WalletUnlinkedHtml { m }.render()?,
        ),
        Mail::Invitation { .. } => (
            InvitationText { m }.render()?,
            InvitationHtml { m }.render()?,
        ),
        Mail::AccountDeleted => (
            AccountDeletedText { m }.render()?,
            AccountDeletedHtml { m }.render()?,
        ),
        Mail::MfaCode { .. } => (MfaCodeText { m }.render()?, MfaCodeHtml { m }.render()?),
        Mail::MfaChanged { .. } => (
            MfaChangedText { m }.render()?,
            MfaChangedHtml { m }.render()?,
        ),
        Mail::NewSignIn { .. } => (NewSignInText { m }.render()?, NewSignInHtml { m }.render()?),
        Mail::PasswordCompromised { .. } => (
            PasswordCompromisedText { m }.render()?,
            PasswordCompromisedHtml { m }.render()?,
        ),
    };
    Ok(MailBody {
        subject: m.subject.clone(),
        text,
        html: Some(html),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = r#"Acme <script>alert("x")</script> & 'co'"#;

    fn letter(mail: Mail) -> MailBody {
        compose(Sealed::Letter {
            pool_name: EVIL.into(),
            mail,
        })
        .unwrap()
    }

    #[test]
    fn both_bodies_of_a_code_mail_carry_the_code() {
        for mail in [
            Mail::SignupCode {
                code: "123456".into(),
            },
            Mail::RecoveryCode {
                code: "123456".into(),
            },
            Mail::EmailChangeCode {
                code: "123456".into(),
            },
        ] {
            let body = letter(mail);
            let html = body.html.unwrap();
            assert!(body.subject.contains("123456"), "{}", body.subject);
            assert!(body.text.contains("is 123456."), "{}", body.text);
            assert!(body.text.ends_with(words().mail.ignore), "{}", body.text);
            assert!(html.contains(">123456</p>"), "{html}");
            assert!(html.contains("is 123456."), "{html}");
        }
    }

    #[test]
    fn html_bodies_escape_what_they_are_given_and_text_bodies_do_not() {
        let body = letter(Mail::WalletLinked {
            wallet: "eip155:1:0x<b>".into(),
        });
        let html = body.html.unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(
            "Acme &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;co&#39;"
        ));
        assert!(html.contains("The wallet eip155:1:0x&#60;b&#62; can now sign in"));
        assert!(!html.contains("style=\"\""));
        assert!(
            body.text
                .contains("The wallet eip155:1:0x<b> can now sign in")
        );
        assert!(body.subject.contains(EVIL));
        assert!(body.text.ends_with(words().mail.secure));
    }

    #[test]
    fn the_undo_mail_carries_its_link_in_both_bodies() {
        let url = "https://id.example/pools/main/email-change/undo?token=abc_DEF-1&x=\"";
        let body = letter(Mail::EmailChanged {
            undo_url: url.into(),
        });
        assert!(body.text.contains(&format!("\n{url}\n")), "{}", body.text);
        let html = body.html.unwrap();
        let escaped = "undo?token=abc_DEF-1&#38;x=&#34;";
        assert!(
            html.contains(&format!(
                r#"<a href="https://id.example/pools/main/email-change/{escaped}""#
            )),
            "{html}"
        );
    }

    #[test]
    fn the_recovery_notice_lists_recent_changes() {
        let body = letter(Mail::RecoveryUsed {
            changes: vec![
                "wallet linked: eip155:1:0xabc".into(),
                "<email changed>".into(),
            ],
        });
        assert!(
            body.text
                .contains(":\n- wallet linked: eip155:1:0xabc\n- <email changed>\n\n"),
            "{}",
            body.text
        );
        let html = body.html.unwrap();
        assert!(html.contains("<li>&#60;email changed&#62;</li>"), "{html}");
        let body = letter(Mail::RecoveryUsed { changes: vec![] });
        assert!(body.text.contains(words().mail.recovery_nothing_changed));
    }

    #[test]
    fn a_mail_queued_before_the_templates_is_sent_as_it_was() {
        let body = compose(Sealed::Rendered {
            subject: "s".into(),
            text: "t".into(),
        })
        .unwrap();
        assert_eq!(
            (body.subject.as_str(), body.text.as_str(), body.html),
            ("s", "t", None)
        );
    }

    #[test]
    fn every_kind_writes_out() {
        for mail in [
            Mail::ExistingAccount,
            Mail::PasswordChanged,
            Mail::WalletUnlinked { wallet: "w".into() },
        ] {
            let body = letter(mail);
            assert!(!body.text.trim().is_empty() && body.html.is_some());
            assert!(!body.text.contains("{pool}") && !body.subject.contains("{pool}"));
        }
    }
}
