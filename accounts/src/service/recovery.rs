//! Recovery by email (DESIGN rule 6): the code proves the email only. Confirming it may set
//! a new password, ends every session, cancels pending email changes, mails a notice, and
//! opens a recovery session whose `amr` is `["email"]`.

use serde_json::json;

use super::{Issued, NewSessionRequest, UserPool};
use crate::mail::Mail;
use crate::store::{CodeEffect, CodePurpose, PoolRecord};
use crate::{AccountStatus, Email, Error};

impl UserPool {
    /// `POST /v1/recovery`: mails a code when the email is verified; answers the same always.
    pub async fn start_recovery(
        &self,
        pool: &PoolRecord,
        email: &str,
        now: i64,
    ) -> Result<(), Error> {
        let bundle = match Email::parse(email) {
            Ok(e) => self
                .store
                .find_account_by_email(pool.id, &e.normalized())
                .await?
                .map(|b| (e, b)),
            Err(_) => None,
        };
        let eligible = bundle.as_ref().is_some_and(|(_, b)| {
            b.email.as_ref().is_some_and(|e| e.verified_at.is_some())
                && b.account.status == AccountStatus::Active
        });
        match bundle {
            Some((email, b)) if eligible => {
                let id = b.account.id;
                let (code, row) = self.new_code(pool, id, CodePurpose::Recovery, None, now);
                let mail = self.outbox(
                    pool,
                    email.as_str(),
                    Mail::RecoveryCode {
                        code: code.expose(),
                    },
                    now,
                )?;
                let audit = Self::audit(pool.id, Some(id), "recovery_requested", json!({}), now);
                self.store.replace_code(&row, &mail, &audit).await
            }
            // No code to send: still write, so the answer takes as long (DESIGN rule 5).
            other => {
                let audit = Self::audit(
                    pool.id,
                    other.map(|(_, b)| b.account.id),
                    "recovery_refused",
                    json!({}),
                    now,
                );
                self.store.record(&audit, None).await
            }
        }
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
    ) -> Result<Issued, Error> {
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
        let Some(bundle) = bundle.filter(|b| b.account.status == AccountStatus::Active) else {
            return Err(Error::CodeInvalid);
        };
        let id = bundle.account.id;
        let (token, session) = self.new_session(pool, id, &["email"], req, now);
        let notice = self.outbox(pool, email.as_str(), Mail::RecoveryUsed, now)?;
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
            session: Box::new(session.clone()),
            notice,
        };
        if !self
            .store
            .consume_code(
                &Self::attempt(pool, id, CodePurpose::Recovery, &hash, now),
                &effect,
                &audit,
            )
            .await?
        {
            return Err(Error::CodeInvalid);
        }
        let account = self.account(pool, id).await?;
        Ok(Issued {
            account,
            session: session.session,
            refresh_token: token,
        })
    }
}
