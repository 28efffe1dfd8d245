//! The account's own second factors: what it has (`GET /v1/me/mfa`), enrolling an
//! authenticator app (a secret, then its first code) or email codes, removing one (never
//! the last under a `required` policy), and a new set of backup codes. Every change is one
//! transaction with its audit row and a notice to the verified address.

use serde_json::json;

use super::UserPool;
use super::mfa::{FactorView, MfaView, TotpEnrolment, totp_purpose, verified_email};
use crate::mail::MfaChange;
use crate::policy::{Factor, MfaMode};
use crate::secret::{Secret, random_bytes};
use crate::store::{FactorChange, PoolRecord};
use crate::totp;
use crate::{AccountId, Error};

impl UserPool {
    pub(super) fn require_allowed(pool: &PoolRecord, factor: Factor) -> Result<(), Error> {
        match pool.config.mfa.allows(factor) {
            true => Ok(()),
            false => Err(Error::FactorNotAllowed),
        }
    }

    /// The account's factors (`GET /v1/me/mfa`).
    pub async fn mfa_view(&self, pool: &PoolRecord, account: AccountId) -> Result<MfaView, Error> {
        let state = self.store.mfa_state(account).await?;
        let policy = &pool.config.mfa;
        Ok(MfaView {
            mode: policy.mode,
            allowed: match policy.mode {
                MfaMode::Off => Vec::new(),
                _ => policy.factors.clone(),
            },
            totp: state
                .totp
                .filter(|t| t.confirmed_at.is_some())
                .map(|t| FactorView {
                    created_at: t.confirmed_at.unwrap_or(t.created_at),
                    last_used_at: t.last_used_at,
                }),
            email: state.email.map(|(created_at, last_used_at)| FactorView {
                created_at,
                last_used_at,
            }),
            backup_codes_left: state.backup_codes_left,
        })
    }

    /// `POST /v1/me/mfa/totp` (and an enrolment under a `required` challenge): a new
    /// secret, pending until a first code confirms it. With `reuse`, a pending secret is
    /// shown again instead (a page shown again after a wrong code keeps the app's entry).
    pub async fn start_totp(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        label: &str,
        reuse: bool,
        now: i64,
    ) -> Result<TotpEnrolment, Error> {
        Self::require_allowed(pool, Factor::Totp)?;
        let purpose = totp_purpose(account);
        let pending = match reuse {
            true => self.store.mfa_state(account).await?.totp,
            false => None,
        };
        let secret = match pending {
            Some(app) if app.confirmed_at.is_none() => {
                self.master.open(&purpose, &app.secret_sealed)?
            }
            _ => {
                let secret = random_bytes::<{ totp::SECRET_BYTES }>().to_vec();
                let sealed = self.master.seal(&purpose, &secret)?;
                self.store.start_totp(account, &sealed, now).await?;
                secret
            }
        };
        Ok(TotpEnrolment {
            secret: Secret::new(totp::base32(&secret)),
            otpauth_uri: Secret::new(totp::otpauth_uri(&pool.config.display_name, label, &secret)),
        })
    }

    /// `POST /v1/me/mfa/totp/confirm`: the app's first code confirms it; answers the new
    /// backup codes (shown once).
    pub async fn confirm_totp(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        code: &str,
        now: i64,
    ) -> Result<Vec<Secret>, Error> {
        Self::require_allowed(pool, Factor::Totp)?;
        let state = self.store.mfa_state(account).await?;
        let app = state.totp.ok_or(Error::MfaNotEnrolled)?;
        if app.confirmed_at.is_some() {
            return Err(Error::MfaAlreadyEnrolled);
        }
        let secret = self
            .master
            .open(&totp_purpose(account), &app.secret_sealed)?;
        let step = totp::matching_step(&secret, code, now, None).ok_or(Error::MfaCodeInvalid)?;
        self.confirm_totp_step(pool, account, step, now).await
    }

    /// `POST /v1/me/mfa/email`: codes to the verified email become a factor.
    pub async fn enable_email_factor(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        now: i64,
    ) -> Result<(), Error> {
        let bundle = self.store.find_account(pool.id, account).await?;
        let to = verified_email(bundle.as_ref());
        self.enable_email_factor_with(pool, account, to.as_deref(), now)
            .await
    }

    pub(super) async fn enable_email_factor_with(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        to: Option<&str>,
        now: i64,
    ) -> Result<(), Error> {
        Self::require_allowed(pool, Factor::Email)?;
        let Some(to) = to else {
            return Err(Error::EmailUnverified);
        };
        let change = FactorChange {
            account,
            now,
            audit: Self::audit(
                pool.id,
                Some(account),
                "mfa_enrolled",
                json!({ "factor": Factor::Email }),
                now,
            ),
            notice: self.notice(pool, Some(to), MfaChange::EmailAdded, now)?,
        };
        self.store.enable_email_factor(&change).await
    }

    /// `DELETE /v1/me/mfa/totp|email` (the caller checked a recent sign-in): refused for
    /// the last factor under a `required` policy.
    pub async fn remove_factor(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        factor: Factor,
        now: i64,
    ) -> Result<(), Error> {
        let change_kind = match factor {
            Factor::Totp => MfaChange::TotpRemoved,
            Factor::Email => MfaChange::EmailRemoved,
            Factor::BackupCode | Factor::Passkey => return Err(Error::MfaNotEnrolled),
        };
        let audit = ("mfa_removed", json!({ "factor": factor }));
        let change = self
            .factor_change(pool, account, audit, change_kind, now)
            .await?;
        let keep_one = pool.config.mfa.mode == MfaMode::Required;
        self.store.remove_factor(&change, factor, keep_one).await
    }

    /// `POST /v1/me/mfa/backup-codes`: a new set; the old one dies.
    pub async fn replace_backup_codes(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        now: i64,
    ) -> Result<Vec<Secret>, Error> {
        Self::require_allowed(pool, Factor::BackupCode)?;
        let (codes, hashes) = self.new_backup_codes(account);
        let audit = ("mfa_backup_codes_replaced", json!({}));
        let change = self
            .factor_change(pool, account, audit, MfaChange::BackupCodesReplaced, now)
            .await?;
        self.store.replace_backup_codes(&change, &hashes).await?;
        Ok(codes)
    }
}
