//! Password sign-in and refresh-token families: rotation on every use, a 10-second grace
//! for concurrent refreshes that returns the same successor, reuse detection after it.

use serde_json::json;

use super::{AccountView, Issued, NewSessionRequest, SignIn, UserPool};
use crate::mail::Mail;
use crate::policy::OnCompromised;
use crate::store::{AuditEvent, PoolRecord, RevokeScope, Rotation};
use crate::{AccountId, AccountStatus, Email, Error};

/// How long a rotated refresh token still yields its (same) successor.
pub const REFRESH_GRACE_SECONDS: i64 = 10;

impl UserPool {
    /// `POST /v1/sessions/password`. Unknown email and wrong password fail alike, after the
    /// same argon2 work (DESIGN rule 5).
    pub async fn sign_in_password(
        &self,
        pool: &PoolRecord,
        email: &str,
        password: &str,
        req: &NewSessionRequest,
        migration: Option<&dyn crate::UserMigration>,
        now: i64,
    ) -> Result<SignIn, Error> {
        let parsed = Email::parse(email).ok();
        let mut bundle = match &parsed {
            Some(e) => {
                self.store
                    .find_account_by_email(pool.id, &e.normalized())
                    .await?
            }
            None => None,
        };
        let ok = match (&bundle, &parsed, migration) {
            // Unknown here: the old system may vouch for the email and this password.
            (None, Some(e), Some(old)) => match old.lookup(e, Some(password)).await? {
                Some(user) => {
                    match self
                        .create_migrated(pool, e, Some(password), user, now)
                        .await
                    {
                        Ok(()) | Err(Error::EmailTaken) => {}
                        Err(err) => return Err(err),
                    }
                    bundle = self
                        .store
                        .find_account_by_email(pool.id, &e.normalized())
                        .await?;
                    // Checked against the stored hash: whoever won a race for the email,
                    // only its password signs in.
                    let phc = bundle.as_ref().and_then(|b| b.password.as_ref());
                    self.verify_password(password, phc.map(|p| p.hash.as_str()))
                        .await?
                }
                None => self.verify_password(password, None).await?,
            },
            _ => {
                let phc = bundle
                    .as_ref()
                    .and_then(|b| b.password.as_ref())
                    .map(|p| p.hash.as_str());
                self.verify_password(password, phc).await?
            }
        };
        // A disabled account answers exactly like a wrong password (an operator's decision
        // is not the caller's business), after the same work.
        let bundle = match bundle {
            Some(b) if ok && b.account.status == AccountStatus::Active => b,
            other => {
                // Known or not, a failure writes one audit row, so both cost the same.
                let audit = Self::audit(
                    pool.id,
                    other.map(|b| b.account.id),
                    "sign_in_failed",
                    json!({ "method": "password" }),
                    now,
                );
                self.store.record(&audit, None).await?;
                return Err(Error::InvalidCredentials);
            }
        };
        self.screen_breached(pool, &bundle, password, now).await?;
        if let Some(ch) = self
            .mfa_due(pool, &bundle, "password", &["pwd"], req)
            .await?
        {
            self.record_challenge(&ch, now).await?;
            return Ok(SignIn::Challenge(Box::new(ch)));
        }
        let (token, new) = self.new_session(pool, bundle.account.id, &["pwd"], req, now);
        let audit = Self::audit(
            pool.id,
            Some(bundle.account.id),
            "sign_in",
            json!({ "method": "password", "session": new.session.id }),
            now,
        );
        let hash = bundle.password.as_ref().map(|p| p.hash.as_str());
        self.store.insert_session(&new, hash, &audit).await?;
        if let Some(old) = hash.filter(|h| !crate::password::is_current(h)) {
            self.rehash(pool, bundle.account.id, old, password, now)
                .await;
        }
        Ok(SignIn::Done(Box::new(Issued {
            account: bundle.into(),
            session: new.session,
            refresh_token: token,
        })))
    }

    /// A right password found in the breach corpus, per the pool's `compromised_passwords`:
    /// the owner is mailed once per password (a verified address only) and it is audited;
    /// under `block` the sign-in is refused ([`Error::PasswordResetRequired`]) until a new
    /// password is set through recovery. Only someone who knows the password learns this.
    async fn screen_breached(
        &self,
        pool: &PoolRecord,
        bundle: &crate::store::AccountBundle,
        password: &str,
        now: i64,
    ) -> Result<(), Error> {
        let on = pool.config.compromised_passwords;
        if on == OnCompromised::Allow
            || self.breached.is_none()
            || !self
                .is_breached(&crate::policy::normalize_password(password))
                .await?
        {
            return Ok(());
        }
        let blocked = on == OnCompromised::Block;
        let account = bundle.account.id;
        let since = bundle.password.as_ref().map_or(0, |p| p.updated_at);
        let told = !self
            .store
            .find_audit_events(account, &["password_compromised"], since, 1)
            .await?
            .is_empty();
        let to = bundle
            .email
            .as_ref()
            .filter(|e| e.verified_at.is_some() && !told)
            .map(|e| e.email.as_str());
        let mail = to
            .map(|to| self.outbox(pool, to, Mail::PasswordCompromised { blocked }, now))
            .transpose()?;
        let (kind, detail) = match told {
            false => ("password_compromised", json!({ "blocked": blocked })),
            true => (
                "sign_in_failed",
                json!({ "method": "password", "reason": "compromised" }),
            ),
        };
        if !told || blocked {
            let audit = Self::audit(pool.id, Some(account), kind, detail, now);
            self.store.record(&audit, mail.as_ref()).await?;
        }
        match blocked {
            true => Err(Error::PasswordResetRequired),
            false => Ok(()),
        }
    }

    /// `POST /v1/sessions/refresh` (`client` none) and the OAuth `refresh_token` grant:
    /// rotates the token. A repeat within the grace period gets the same successor; a later
    /// repeat revokes the whole family. A token issued to another client, or to the direct
    /// API when `client` is some (and the reverse), is invalid and left untouched.
    pub async fn refresh(
        &self,
        pool: &PoolRecord,
        token: &str,
        client: Option<&str>,
        now: i64,
    ) -> Result<Issued, Error> {
        if token.is_empty() || token.len() > 128 {
            return Err(Error::InvalidRefreshToken);
        }
        let successor = self.master.successor_token(token);
        let rotation = self
            .store
            .rotate_refresh_token(
                pool.id,
                &self.refresh_hash(token),
                &self.refresh_hash(successor.expose()),
                client,
                now,
                REFRESH_GRACE_SECONDS,
            )
            .await?;
        let session = match rotation {
            Rotation::Rotated(s) | Rotation::Repeated(s) => s,
            Rotation::Reused | Rotation::Invalid => return Err(Error::InvalidRefreshToken),
        };
        if session.pool_id != pool.id {
            return Err(Error::InvalidRefreshToken);
        }
        let bundle = self
            .store
            .find_account(pool.id, session.account_id)
            .await?
            .filter(|b| b.account.status == AccountStatus::Active)
            .ok_or(Error::InvalidRefreshToken)?;
        Ok(Issued {
            account: bundle.into(),
            session,
            refresh_token: successor,
        })
    }

    /// The scope granted to the session of a refresh token of `client`, read without
    /// rotating it (so a refused request leaves the token as it was). None: not that
    /// client's token, or unknown.
    /// Replaces an imported hash (bcrypt, scrypt, PBKDF2, other argon2 parameters) with this
    /// pool's argon2id, now that the password proved right. Best effort: the sign-in stands
    /// whatever happens here, and the next one tries again.
    async fn rehash(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        old: &str,
        password: &str,
        now: i64,
    ) {
        let new = match self
            .hasher
            .hash(&crate::secret::Secret::new(
                crate::policy::normalize_password(password),
            ))
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "an imported password hash was not replaced");
                return;
            }
        };
        let scheme = old.split('$').nth(1).unwrap_or_default().to_string();
        let audit = Self::audit(
            pool.id,
            Some(account),
            "password_rehashed",
            json!({ "from": scheme }),
            now,
        );
        if let Err(e) = self
            .store
            .replace_password_hash(account, old, &new, &audit)
            .await
        {
            tracing::warn!(error = %e, "an imported password hash was not replaced");
        }
    }

    /// The live session a refresh token belongs to and its account, without rotating it
    /// (what a `pre_token` hook is told before the rotation commits).
    pub async fn peek_refresh(
        &self,
        pool: &PoolRecord,
        token: &str,
        client: Option<&str>,
    ) -> Result<Option<(AccountView, crate::store::SessionRecord)>, Error> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let Some(session) = self
            .store
            .find_session_by_token(pool.id, &self.refresh_hash(token))
            .await?
            .filter(|s| s.client_id.as_deref() == client && s.revoked_at.is_none())
        else {
            return Ok(None);
        };
        let account = self
            .store
            .find_account(pool.id, session.account_id)
            .await?
            .filter(|b| b.account.status == AccountStatus::Active);
        Ok(account.map(|b| (b.into(), session)))
    }

    pub async fn refresh_token_scope(
        &self,
        pool: &PoolRecord,
        token: &str,
        client: &str,
    ) -> Result<Option<String>, Error> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        Ok(self
            .store
            .find_session_by_token(pool.id, &self.refresh_hash(token))
            .await?
            .filter(|s| s.client_id.as_deref() == Some(client))
            .map(|s| s.scope.unwrap_or_default()))
    }

    /// `POST /v1/sessions/revoke` (`client` none) and `POST /oauth2/revoke`: ends the
    /// token's session. Unknown tokens, and another client's, are not an error (RFC 7009
    /// §2.2), so the answer tells nothing.
    pub async fn revoke_refresh_token(
        &self,
        pool: &PoolRecord,
        token: &str,
        client: Option<&str>,
        now: i64,
    ) -> Result<(), Error> {
        if token.is_empty() || token.len() > 128 {
            return Ok(());
        }
        self.store
            .revoke_session_by_token(
                pool.id,
                &self.refresh_hash(token),
                client,
                now,
                "signed_out",
            )
            .await?;
        Ok(())
    }

    /// The same person signed in again on the same browser: the new browser session takes
    /// over the client sessions of the old one, which ends.
    pub async fn replace_browser_session(
        &self,
        pool: &PoolRecord,
        old: &crate::store::SessionRecord,
        new: crate::SessionId,
        now: i64,
    ) -> Result<(), Error> {
        let audit = AuditEvent {
            pool_id: pool.id,
            account_id: Some(old.account_id),
            kind: "session_replaced",
            detail: json!({ "session": old.id, "by": new }),
            created_at: now,
        };
        self.store.replace_session(old.id, new, now, &audit).await
    }

    /// Ends a session and every session authorized from it (logout of a browser session;
    /// a replayed authorization code). Nothing to do for an unknown or ended session.
    pub async fn end_session_tree(
        &self,
        pool: &PoolRecord,
        session: crate::SessionId,
        reason: &'static str,
        now: i64,
    ) -> Result<u64, Error> {
        let Some(s) = self.store.find_session(session).await? else {
            return Ok(0);
        };
        if s.pool_id != pool.id {
            return Ok(0);
        }
        let audit = AuditEvent {
            pool_id: pool.id,
            account_id: Some(s.account_id),
            kind: "sessions_revoked",
            detail: json!({ "scope": "tree", "session": session, "reason": reason }),
            created_at: now,
        };
        self.store
            .revoke_sessions(s.account_id, RevokeScope::Tree(session), now, &audit)
            .await
    }

    /// `POST /v1/me/sessions/revoke-all`: ends every session of the account.
    pub async fn revoke_all_sessions(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        now: i64,
    ) -> Result<u64, Error> {
        let audit = AuditEvent {
            pool_id: pool.id,
            account_id: Some(account),
            kind: "sessions_revoked",
            detail: json!({ "scope": "all" }),
            created_at: now,
        };
        self.store
            .revoke_sessions(account, RevokeScope::All, now, &audit)
            .await
    }
}
