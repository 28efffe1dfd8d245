//! The signed-in account's own profile: attributes, email change by code, password change.

use serde_json::{Map, Value, json};

use super::{AccountView, UserPool};
use crate::mail::Mail;
use crate::secret::random_token;
use crate::store::{CodeEffect, CodePurpose, NewEmailUndo, PoolRecord, RevokeScope};
use crate::{AccountId, Email, Error, SessionId};

/// OIDC Core §5.1 standard claims a user may set on themselves; `custom:*` keys are free.
/// `email`, `sub` and the like are credentials or identifiers, never attributes.
const STANDARD_ATTRIBUTES: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
];
const MAX_ATTRIBUTES: usize = 50;
/// How long the old address of an email change can undo it.
pub const EMAIL_UNDO_SECONDS: i64 = 72 * 3600;
const MAX_ATTRIBUTE_LEN: usize = 2048;

/// Applies a JSON merge patch (RFC 7396, one level: `null` removes) and checks the result.
pub(crate) fn validate_attributes(
    mut current: Map<String, Value>,
    patch: Map<String, Value>,
) -> Result<Map<String, Value>, Error> {
    for (key, value) in patch {
        let custom = key.strip_prefix("custom:").is_some_and(|k| {
            !k.is_empty()
                && k.len() <= 64
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !custom && !STANDARD_ATTRIBUTES.contains(&key.as_str()) {
            return Err(Error::InvalidAttributes(format!(
                "unknown attribute `{key}`"
            )));
        }
        match value {
            Value::Null => {
                current.remove(&key);
            }
            Value::String(s)
                if s.chars().count() <= MAX_ATTRIBUTE_LEN && !s.chars().any(char::is_control) =>
            {
                current.insert(key, Value::String(s));
            }
            _ => {
                return Err(Error::InvalidAttributes(format!(
                    "`{key}` must be a string of at most {MAX_ATTRIBUTE_LEN} characters without control characters, or null"
                )));
            }
        }
    }
    if current.len() > MAX_ATTRIBUTES {
        return Err(Error::InvalidAttributes(format!(
            "at most {MAX_ATTRIBUTES} attributes"
        )));
    }
    Ok(current)
}

/// `POST /v1/me/password`.
pub struct PasswordChange<'a> {
    pub current: Option<&'a str>,
    pub new: &'a str,
    /// The session making the change; every other session ends.
    pub session: SessionId,
    /// The session is a fresh recovery session: the current password is not asked.
    pub recovered: bool,
}

impl UserPool {
    /// `PATCH /v1/me`.
    pub async fn update_attributes(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        patch: Map<String, Value>,
        now: i64,
    ) -> Result<AccountView, Error> {
        let current = self.account(pool, account).await?;
        let keys: Vec<String> = patch.keys().cloned().collect();
        let attributes = validate_attributes(current.attributes, patch)?;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "attributes_updated",
            json!({ "keys": keys }),
            now,
        );
        self.store
            .update_attributes(account, &attributes, now, &audit)
            .await?;
        self.account(pool, account).await
    }

    /// `POST /v1/me/email`: mails a code to the new address. Whether the address is taken is
    /// only told at confirmation, to someone who holds its code.
    pub async fn start_email_change(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        new_email: &str,
        now: i64,
    ) -> Result<(), Error> {
        let email = Email::parse(new_email)?;
        self.account(pool, account).await?;
        let (code, row) = self.new_code(
            pool,
            account,
            CodePurpose::EmailChange,
            Some(email.as_str().to_string()),
            now,
        );
        let mail = self.outbox(
            pool,
            email.as_str(),
            Mail::EmailChangeCode {
                code: code.expose().to_string(),
            },
            now,
        )?;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "email_change_requested",
            json!({}),
            now,
        );
        self.store.replace_code(&row, &mail, &audit).await
    }

    /// `POST /v1/me/email/confirm`: the new address becomes the verified email; the old one,
    /// if verified, gets a notice with a link (under `issuer`) that undoes the change for
    /// [`EMAIL_UNDO_SECONDS`].
    pub async fn confirm_email_change(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        code: &str,
        issuer: &str,
        now: i64,
    ) -> Result<AccountView, Error> {
        let current = self.account(pool, account).await?;
        let hash = self.code_hash(account, CodePurpose::EmailChange, code.trim());
        // The old address is told of the change but not the new address (privacy).
        let (notice, undo) = match (&current.email, current.email_verified) {
            (Some(old), true) => {
                let token = random_token();
                let undo_url = format!("{issuer}/email-change/undo?token={}", token.expose());
                let notice = self.outbox(
                    pool,
                    old,
                    Mail::EmailChanged {
                        undo_url: undo_url.clone(),
                    },
                    now,
                )?;
                let undo = NewEmailUndo {
                    token_hash: self.master.hash("email-undo", token.expose()),
                    old_email: old.clone(),
                    expires_at: now + EMAIL_UNDO_SECONDS,
                };
                (Some(notice), Some(undo))
            }
            _ => (None, None),
        };
        let audit = Self::audit(pool.id, Some(account), "email_changed", json!({}), now);
        let ok = self
            .store
            .consume_code(
                &Self::attempt(pool, account, CodePurpose::EmailChange, &hash, now),
                &CodeEffect::ChangeEmail { notice, undo },
                &audit,
            )
            .await?;
        if !ok {
            return Err(Error::CodeInvalid);
        }
        self.account(pool, account).await
    }

    /// "This wasn't me" (`POST /v1/email-change/undo`): the link mailed to the old address
    /// gives it back as the account's verified email, ends every session, removes a password
    /// set since the change, and mails a recovery code to the old address. Single use.
    /// Answers the restored address.
    pub async fn undo_email_change(
        &self,
        pool: &PoolRecord,
        token: &str,
        now: i64,
    ) -> Result<String, Error> {
        let token_hash = self.master.hash("email-undo", token.trim());
        let undo = self
            .store
            .find_email_undo(pool.id, &token_hash, now)
            .await?
            .ok_or(Error::CodeInvalid)?;
        let id = undo.account_id;
        let (code, row) = self.new_code(pool, id, CodePurpose::Recovery, None, now);
        let mail = self.outbox(
            pool,
            &undo.old_email,
            Mail::RecoveryCode {
                code: code.expose().to_string(),
            },
            now,
        )?;
        let audit = Self::audit(pool.id, Some(id), "email_change_undone", json!({}), now);
        self.store
            .undo_email_change(&token_hash, &undo, now, &row, &mail, &audit)
            .await?;
        Ok(undo.old_email)
    }

    /// Re-authentication for a sensitive change (email, wallets): the account's current
    /// password. An account without one signs in again instead.
    pub async fn verify_current_password(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        password: &str,
        now: i64,
    ) -> Result<(), Error> {
        let bundle = self
            .store
            .find_account(pool.id, account)
            .await?
            .ok_or(Error::AccountNotFound)?;
        let Some(existing) = bundle.password.as_ref() else {
            return Err(Error::ReauthenticationRequired);
        };
        if self.verify_password(password, Some(&existing.hash)).await? {
            return Ok(());
        }
        let audit = Self::audit(
            pool.id,
            Some(account),
            "reauthentication_failed",
            json!({}),
            now,
        );
        self.store.record(&audit, None).await?;
        Err(Error::InvalidCredentials)
    }

    /// `POST /v1/me/password`: needs the current password when the account has one; ends
    /// every other session and cancels pending email changes.
    pub async fn change_password(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        change: PasswordChange<'_>,
        now: i64,
    ) -> Result<(), Error> {
        let bundle = self
            .store
            .find_account(pool.id, account)
            .await?
            .ok_or(Error::AccountNotFound)?;
        if let Some(existing) = bundle.password.as_ref().filter(|_| !change.recovered) {
            let current = change.current.ok_or(Error::CurrentPasswordRequired)?;
            if !self.verify_password(current, Some(&existing.hash)).await? {
                let audit = Self::audit(
                    pool.id,
                    Some(account),
                    "password_change_failed",
                    json!({}),
                    now,
                );
                self.store.record(&audit, None).await?;
                return Err(Error::InvalidCredentials);
            }
        }
        let email = bundle
            .email
            .as_ref()
            .and_then(|e| Email::parse(&e.email).ok());
        let hash = self
            .new_password_hash(&pool.config, email.as_ref(), change.new)
            .await?;
        let notice = match (&bundle.email, email.as_ref()) {
            (Some(rec), Some(e)) if rec.verified_at.is_some() => {
                Some(self.outbox(pool, e.as_str(), Mail::PasswordChanged, now)?)
            }
            _ => None,
        };
        let kind = if bundle.password.is_some() {
            "password_changed"
        } else {
            "password_set"
        };
        let audit = Self::audit(
            pool.id,
            Some(account),
            kind,
            json!({ "session": change.session }),
            now,
        );
        self.store
            .update_password(
                account,
                &hash,
                now,
                RevokeScope::AllBut(change.session),
                notice.as_ref(),
                &audit,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_patch() {
        let mut patch = Map::new();
        patch.insert("name".into(), json!("Ada"));
        patch.insert("custom:tier".into(), json!("gold"));
        let merged = validate_attributes(Map::new(), patch).unwrap();
        assert_eq!(merged.len(), 2);
        let mut remove = Map::new();
        remove.insert("name".into(), Value::Null);
        assert_eq!(validate_attributes(merged, remove).unwrap().len(), 1);
        for (k, v) in [
            ("email", json!("x")),
            ("name", json!(1)),
            ("custom:", json!("x")),
            ("name", json!("a\u{0}")),
        ] {
            let mut p = Map::new();
            p.insert(k.into(), v);
            assert!(validate_attributes(Map::new(), p).is_err(), "{k}");
        }
    }
}
