//! Sign-up by email and password, confirmation by code. Answers never tell whether the
//! email already has an account (DESIGN rule 5): the owner gets a notice instead.
//!
//! Until confirmation an account has no password: each sign-up code carries the hash of the
//! password given with it (at most [`MAX_SIGNUP_CODES`] live at once), so a stranger who
//! signs up first with someone else's address learns nothing from signing in.
//!
//! Confirmation takes the code *and* the password: the code proves the mailbox, and the
//! password picks, among the live sign-ups of the address, the one it was given with. So
//! whatever the order of sign-ups, resends and codes, the account ends up with a password
//! typed by the person who proved the mailbox, never one a stranger chose (the mails of two
//! sign-ups look alike, and the owner may well confirm with the stranger's code).

use serde_json::{Map, Value, json};

use super::UserPool;
use crate::mail::Mail;
use crate::store::{
    AccountBundle, AccountRecord, CodeEffect, CodePurpose, MAX_SIGNUP_CODES, PoolRecord,
};
use crate::{AccountId, AccountStatus, Email, Error};

impl UserPool {
    /// `POST /v1/signup`. Succeeds the same way whether or not the email exists. With
    /// `auto_confirm` (a `pre_sign_up` hook's answer) a new address gets an active account
    /// with its email verified and no code, and its id is returned; an address that has an
    /// account is answered as without it.
    pub async fn signup(
        &self,
        pool: &PoolRecord,
        email: &str,
        password: &str,
        attributes: Option<Map<String, Value>>,
        auto_confirm: bool,
        now: i64,
    ) -> Result<Option<AccountId>, Error> {
        let email = Email::parse(email)?;
        let attributes =
            super::profile::validate_attributes(Map::new(), attributes.unwrap_or_default())?;
        // Hash before looking the email up, so both paths cost one argon2 hash.
        let hash = self
            .new_password_hash(&pool.config, Some(&email), password)
            .await?;
        let existing = self
            .store
            .find_account_by_email(pool.id, &email.normalized())
            .await?;
        if let Some(bundle) = existing {
            return self
                .signup_existing(pool, bundle, hash, now)
                .await
                .map(|()| None);
        }
        let account = AccountRecord {
            id: AccountId::new(),
            pool_id: pool.id,
            status: if auto_confirm {
                AccountStatus::Active
            } else {
                AccountStatus::Pending
            },
            attributes,
            created_at: now,
            updated_at: now,
        };
        if auto_confirm {
            let id = account.id;
            let audit = Self::audit(
                pool.id,
                Some(id),
                "signup",
                json!({ "method": "password", "auto_confirmed": true }),
                now,
            );
            let new = crate::store::NewAdminAccount {
                account,
                email: Some((email.clone(), true)),
                wallets: Vec::new(),
                invitation: None,
                password_hash: Some(hash.clone()),
                groups: Vec::new(),
            };
            return match self.store.insert_admin_account(&new, &audit).await {
                Ok(()) => Ok(Some(id)),
                Err(Error::EmailTaken) => {
                    let bundle = self
                        .store
                        .find_account_by_email(pool.id, &email.normalized())
                        .await?
                        .ok_or(Error::EmailTaken)?;
                    self.signup_existing(pool, bundle, hash, now)
                        .await
                        .map(|()| None)
                }
                Err(e) => Err(e),
            };
        }
        let (code, row) = self.new_code(
            pool,
            account.id,
            CodePurpose::Signup,
            Some(hash.clone()),
            now,
        );
        let mail = self.outbox(
            pool,
            email.as_str(),
            Mail::SignupCode {
                code: code.expose().to_string(),
            },
            now,
        )?;
        let audit = Self::audit(
            pool.id,
            Some(account.id),
            "signup",
            json!({ "method": "password" }),
            now,
        );
        match self
            .store
            .insert_email_account(&account, email.as_str(), &row, &mail, &audit)
            .await
        {
            // Lost a race with a concurrent sign-up of the same address.
            Err(Error::EmailTaken) => {
                let bundle = self
                    .store
                    .find_account_by_email(pool.id, &email.normalized())
                    .await?
                    .ok_or(Error::EmailTaken)?;
                self.signup_existing(pool, bundle, hash, now)
                    .await
                    .map(|()| None)
            }
            other => other.map(|()| None),
        }
    }

    /// An unconfirmed account gets one more code, bound to this sign-up's password; a
    /// confirmed one gets a notice. Either goes to the address stored on the account, never
    /// to how this request spelled it.
    async fn signup_existing(
        &self,
        pool: &PoolRecord,
        bundle: AccountBundle,
        hash: String,
        now: i64,
    ) -> Result<(), Error> {
        let account = bundle.account;
        let address = bundle.email.map(|e| e.email).ok_or(Error::EmailTaken)?;
        if account.status == AccountStatus::Pending {
            return self
                .send_signup_code(pool, &address, account.id, Some(hash), now)
                .await;
        }
        let mail = self.outbox(pool, &address, Mail::ExistingAccount, now)?;
        let audit = Self::audit(
            pool.id,
            Some(account.id),
            "signup_existing_email",
            json!({}),
            now,
        );
        self.store.record(&audit, Some(&mail)).await
    }

    async fn send_signup_code(
        &self,
        pool: &PoolRecord,
        address: &str,
        account: AccountId,
        password_hash: Option<String>,
        now: i64,
    ) -> Result<(), Error> {
        let (code, row) = self.new_code(pool, account, CodePurpose::Signup, password_hash, now);
        let mail = self.outbox(
            pool,
            address,
            Mail::SignupCode {
                code: code.expose().to_string(),
            },
            now,
        )?;
        let audit = Self::audit(pool.id, Some(account), "signup_code_sent", json!({}), now);
        self.store.replace_code(&row, &mail, &audit).await
    }

    /// `POST /v1/signup/resend`: a new code for the newest live sign-up of an unconfirmed
    /// account (bound to the same password); nothing otherwise, at the same cost.
    pub async fn resend_signup_code(
        &self,
        pool: &PoolRecord,
        email: &str,
        now: i64,
    ) -> Result<(), Error> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let bundle = self
            .store
            .find_account_by_email(pool.id, &email.normalized())
            .await?;
        let pending = bundle.filter(|b| b.account.status == AccountStatus::Pending);
        if let Some(b) = &pending
            && let Some(address) = b.email.as_ref().map(|e| e.email.as_str())
            && let Some(payload) = self
                .store
                .find_code_payload(b.account.id, CodePurpose::Signup, now)
                .await?
        {
            return self
                .send_signup_code(pool, address, b.account.id, payload, now)
                .await;
        }
        // Nothing to send: still write, so the answer takes as long (DESIGN rule 5).
        let audit = Self::audit(
            pool.id,
            pending.map(|b| b.account.id),
            "signup_resend_ignored",
            json!({}),
            now,
        );
        self.store.record(&audit, None).await
    }

    /// `POST /v1/signup/confirm`: an unknown email and a wrong code answer the same
    /// ([`Error::CodeInvalid`]); a right code with a password that is not one of the
    /// address's live sign-ups answers [`Error::InvalidCredentials`] and counts as a failed
    /// try. The password is only checked once the code proved the mailbox, so its cost tells
    /// nothing to someone without the code.
    pub async fn confirm_signup(
        &self,
        pool: &PoolRecord,
        email: &str,
        code: &str,
        password: &str,
        now: i64,
    ) -> Result<AccountId, Error> {
        let email = Email::parse(email)?;
        let code = code.trim();
        let bundle = self
            .store
            .find_account_by_email(pool.id, &email.normalized())
            .await?;
        let Some(bundle) = bundle.filter(|b| b.account.status == AccountStatus::Pending) else {
            return Err(Error::CodeInvalid);
        };
        let id = bundle.account.id;
        let hash = self.code_hash(id, CodePurpose::Signup, code);
        let audit = Self::audit(pool.id, Some(id), "signup_confirmed", json!({}), now);
        let attempt = Self::attempt(pool, id, CodePurpose::Signup, &hash, now);
        if !self.store.code_is_live(&attempt).await? {
            // Counts the failed try (the codes die at the pool's limit).
            self.store.reject_code(&attempt, &audit).await?;
            return Err(Error::CodeInvalid);
        }
        let candidates = self
            .store
            .find_code_payloads(id, CodePurpose::Signup, now, pool.config.code_max_attempts)
            .await?;
        let mut chosen = None;
        for candidate in candidates.iter().take(MAX_SIGNUP_CODES as usize) {
            if self.verify_password(password, Some(candidate)).await? {
                chosen = Some(candidate.clone());
                break;
            }
        }
        let Some(password_hash) = chosen else {
            self.store.reject_code(&attempt, &audit).await?;
            return Err(Error::InvalidCredentials);
        };
        let effect = CodeEffect::ConfirmSignup { password_hash };
        if self.store.consume_code(&attempt, &effect, &audit).await? {
            Ok(id)
        } else {
            Err(Error::CodeInvalid)
        }
    }
}
