//! Recovery by email (DESIGN rule 6): the code proves the email only. Confirming it may set
//! a new password, ends every session, cancels pending email changes, mails a notice that
//! lists what changed on the account in the last days, and opens a recovery session whose
//! `amr` is `["email"]`.
//!
//! Asking for a code only queues the request: the mail worker looks the address up and
//! mails a code to the account's stored address. So the request costs the same whether or
//! not the address has an account (DESIGN rule 5: timing tells nothing either), and a code
//! never goes to how a request spelled the address.

use serde_json::json;

use super::{Issued, NewSessionRequest, SignIn, UserPool};
use crate::mail::Mail;
use crate::store::{
    AccountBundle, CodeEffect, CodePurpose, JOB_RECOVERY_REQUEST, OutboxMail, PendingMail,
    PoolRecord,
};
use crate::{AccountId, AccountStatus, Email, Error};

/// How far back a recovery notice lists changes.
const RECENT_CHANGES: i64 = 7 * 86_400;

fn idp(detail: &serde_json::Value) -> &str {
    detail.get("idp").and_then(|w| w.as_str()).unwrap_or("?")
}

/// The audit kinds a recovery notice lists, in words.
fn describe(kind: &str, detail: &serde_json::Value) -> Option<String> {
    let wallet = detail.get("wallet").and_then(|w| w.as_str()).unwrap_or("?");
    Some(match kind {
        "wallet_linked" => format!("the wallet {wallet} was linked"),
        "wallet_unlinked" => format!("the wallet {wallet} was removed"),
        "identity_linked" => format!("a sign-in with {} was linked", idp(detail)),
        "identity_unlinked" => format!("the sign-in with {} was removed", idp(detail)),
        "email_changed" => "the email address was changed".to_string(),
        "email_change_undone" => "an email change was undone".to_string(),
        "password_changed" => "the password was changed".to_string(),
        "password_set" => "a password was set".to_string(),
        _ => return None,
    })
}
const LISTED: &[&str] = &[
    "wallet_linked",
    "wallet_unlinked",
    "identity_linked",
    "identity_unlinked",
    "email_changed",
    "email_change_undone",
    "password_changed",
    "password_set",
];

impl UserPool {
    /// `POST /v1/recovery`: queues the request for the mail worker; the same work and the
    /// same answer for every address.
    pub async fn start_recovery(
        &self,
        pool: &PoolRecord,
        email: &str,
        now: i64,
    ) -> Result<(), Error> {
        let job = OutboxMail {
            id: uuid::Uuid::new_v4(),
            pool_id: pool.id,
            recipient: Email::key(email),
            kind: JOB_RECOVERY_REQUEST,
            body_sealed: self.master.seal("mail", b"{}")?,
            created_at: now,
        };
        let audit = Self::audit(pool.id, None, "recovery_queued", json!({}), now);
        self.store.record(&audit, Some(&job)).await
    }

    /// The mail worker's half of [`UserPool::start_recovery`]: a verified email of an
    /// active account gets a code at its stored address; anything else only an audit row.
    ///
    /// An address with no account may be looked up in an old system first (`migration`, the
    /// pool's `user_migration` hook): the account it vouches for is created without a
    /// password, and the code it now gets sets one.
    pub async fn fulfil_recovery_request(
        &self,
        job: &PendingMail,
        migration: Option<&dyn crate::UserMigration>,
        now: i64,
    ) -> Result<(), Error> {
        let pool = self
            .store
            .find_pool(job.pool_id)
            .await?
            .ok_or(Error::PoolNotFound)?;
        let mut bundle = self
            .store
            .find_account_by_email(pool.id, &job.recipient)
            .await?;
        if bundle.is_none()
            && let Some(old) = migration
            && let Ok(email) = Email::parse(&job.recipient)
            && let Some(user) = old.lookup(&email, None).await?
        {
            match self.create_migrated(&pool, &email, None, user, now).await {
                Ok(()) | Err(Error::EmailTaken) => {}
                Err(e) => return Err(e),
            }
            bundle = self
                .store
                .find_account_by_email(pool.id, &job.recipient)
                .await?;
        }
        let address = bundle.as_ref().and_then(|b| {
            b.email
                .as_ref()
                .filter(|e| e.verified_at.is_some() && b.account.status == AccountStatus::Active)
                .map(|e| (b.account.id, e.email.clone()))
        });
        let Some((id, address)) = address else {
            let audit = Self::audit(
                pool.id,
                bundle.map(|b| b.account.id),
                "recovery_refused",
                json!({}),
                now,
            );
            return self
                .store
                .complete_job(job.id, now, None, None, &audit)
                .await;
        };
        let (code, row) = self.new_code(&pool, id, CodePurpose::Recovery, None, now);
        let mail = self.outbox(
            &pool,
            &address,
            Mail::RecoveryCode {
                code: code.expose().to_string(),
            },
            now,
        )?;
        let audit = Self::audit(pool.id, Some(id), "recovery_requested", json!({}), now);
        self.store
            .complete_job(job.id, now, Some(&row), Some(&mail), &audit)
            .await
    }

    /// What changed on the account lately, in words, newest first.
    pub(super) async fn recent_changes(
        &self,
        account: AccountId,
        now: i64,
    ) -> Result<Vec<String>, Error> {
        let events = self
            .store
            .find_audit_events(account, LISTED, now - RECENT_CHANGES, 20)
            .await?;
        Ok(events
            .iter()
            .filter_map(|e| {
                let what = describe(&e.kind, &e.detail)?;
                let when = time::OffsetDateTime::from_unix_timestamp(e.created_at).ok()?;
                Some(format!(
                    "{:04}-{:02}-{:02} {:02}:{:02} UTC: {what}",
                    when.year(),
                    u8::from(when.month()),
                    when.day(),
                    when.hour(),
                    when.minute()
                ))
            })
            .collect())
    }

    /// `POST /v1/recovery/confirm`.
    pub async fn confirm_recovery(
        &self,
        pool: &PoolRecord,
        email: &str,
        code: &str,
        new_password: Option<&str>,
        req: &NewSessionRequest,
        now: i64,
    ) -> Result<SignIn, Error> {
        let email = Email::parse(email)?;
        let bundle = self
            .store
            .find_account_by_email(pool.id, &email.normalized())
            .await?;
        let password_hash = match new_password {
            Some(p) => Some(
                self.new_password_hash(&pool.config, Some(&email), p)
                    .await?,
            ),
            None => None,
        };
        let Some((bundle, address)) = bundle
            .filter(|b| b.account.status == AccountStatus::Active)
            .and_then(|b: AccountBundle| {
                let address = b.email.as_ref()?.email.clone();
                Some((b, address))
            })
        else {
            return Err(Error::CodeInvalid);
        };
        let id = bundle.account.id;
        // A second factor the account must answer is not skipped by proving the email
        // (DESIGN rule 6): the code still sets the password, the session waits for it.
        let challenge = self
            .mfa_due(pool, &bundle, "recovery", &["email"], req)
            .await?;
        let (token, session) = self.new_session(pool, id, &["email"], req, now);
        let changes = self.recent_changes(id, now).await?;
        // The notice goes to the stored address, never to the request's spelling of it.
        let notice = self.outbox(pool, &address, Mail::RecoveryUsed { changes }, now)?;
        let audit = Self::audit(
            pool.id,
            Some(id),
            "recovery_completed",
            json!({ "password_set": password_hash.is_some(), "session": session.session.id }),
            now,
        );
        let hash = self.code_hash(id, CodePurpose::Recovery, code.trim());
        let effect = CodeEffect::Recover {
            password_hash,
            session: challenge.is_none().then(|| Box::new(session.clone())),
            notice,
        };
        if !self
            .store
            .consume_code(
                &Self::attempt(pool, id, CodePurpose::Recovery, &hash, now),
                &effect,
                &audit,
            )
            .await
            // An operator disabled the account meanwhile: the recovery's answer, not a
            // sign-in's.
            .map_err(|e| match e {
                Error::InvalidCredentials => Error::CodeInvalid,
                e => e,
            })?
        {
            return Err(Error::CodeInvalid);
        }
        if let Some(ch) = challenge {
            self.record_challenge(&ch, now).await?;
            return Ok(SignIn::Challenge(Box::new(ch)));
        }
        let account = self.account(pool, id).await?;
        Ok(SignIn::Done(Box::new(Issued {
            account,
            session: session.session,
            refresh_token: token,
        })))
    }
}
