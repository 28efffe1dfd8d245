//! Sign-up by email and password, confirmation by code. Answers never tell whether the
//! email already has an account (DESIGN rule 5): the owner gets a notice instead.

use serde_json::{Map, Value, json};

use super::UserPool;
use crate::mail::Mail;
use crate::store::{AccountRecord, CodeEffect, CodePurpose, PoolRecord};
use crate::{AccountId, AccountStatus, Email, Error};

impl UserPool {
    /// `POST /v1/signup`. Succeeds the same way whether or not the email exists.
    pub async fn signup(
        &self,
        pool: &PoolRecord,
        email: &str,
        password: &str,
        attributes: Option<Map<String, Value>>,
        now: i64,
    ) -> Result<(), Error> {
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
                .signup_existing(pool, &email, bundle.account, now)
                .await;
        }
        let account = AccountRecord {
            id: AccountId::new(),
            pool_id: pool.id,
            status: AccountStatus::Pending,
            attributes,
            created_at: now,
            updated_at: now,
        };
        let (code, row) = self.new_code(pool, account.id, CodePurpose::Signup, None, now);
        let mail = self.outbox(
            pool,
            email.as_str(),
            Mail::SignupCode {
                code: code.expose(),
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
            .insert_email_account(&account, email.as_str(), &hash, &row, &mail, &audit)
            .await
        {
            // Lost a race with a concurrent sign-up of the same address.
            Err(Error::EmailTaken) => {
                let bundle = self
                    .store
                    .find_account_by_email(pool.id, &email.normalized())
                    .await?
                    .ok_or(Error::EmailTaken)?;
                self.signup_existing(pool, &email, bundle.account, now)
                    .await
            }
            other => other,
        }
    }

    /// An unconfirmed account gets a fresh code (its password is not replaced, so nobody can
    /// pre-set the password of an address they do not own); a confirmed one gets a notice.
    async fn signup_existing(
        &self,
        pool: &PoolRecord,
        email: &Email,
        account: AccountRecord,
        now: i64,
    ) -> Result<(), Error> {
        if account.status == AccountStatus::Pending {
            return self.send_signup_code(pool, email, account.id, now).await;
        }
        let mail = self.outbox(pool, email.as_str(), Mail::ExistingAccount, now)?;
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
        email: &Email,
        account: AccountId,
        now: i64,
    ) -> Result<(), Error> {
        let (code, row) = self.new_code(pool, account, CodePurpose::Signup, None, now);
        let mail = self.outbox(
            pool,
            email.as_str(),
            Mail::SignupCode {
                code: code.expose(),
            },
            now,
        )?;
        let audit = Self::audit(pool.id, Some(account), "signup_code_sent", json!({}), now);
        self.store.replace_code(&row, &mail, &audit).await
    }

    /// `POST /v1/signup/resend`: a new code for an unconfirmed account; nothing otherwise.
    pub async fn resend_signup_code(
        &self,
        pool: &PoolRecord,
        email: &str,
        now: i64,
    ) -> Result<(), Error> {
        let email = Email::parse(email)?;
        match self
            .store
            .find_account_by_email(pool.id, &email.normalized())
            .await?
        {
            Some(b) if b.account.status == AccountStatus::Pending => {
                self.send_signup_code(pool, &email, b.account.id, now).await
            }
            _ => Ok(()),
        }
    }

    /// `POST /v1/signup/confirm`: an unknown email and a wrong code answer the same.
    pub async fn confirm_signup(
        &self,
        pool: &PoolRecord,
        email: &str,
        code: &str,
        now: i64,
    ) -> Result<(), Error> {
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
        let ok = self
            .store
            .consume_code(
                &Self::attempt(pool, id, CodePurpose::Signup, &hash, now),
                &CodeEffect::ConfirmSignup,
                &audit,
            )
            .await?;
        if ok { Ok(()) } else { Err(Error::CodeInvalid) }
    }
}
