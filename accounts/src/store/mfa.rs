//! Second factors: the authenticator app's sealed secret, email codes as a factor, backup
//! codes. Each change is one transaction with its audit row and notice mail; removals
//! lock the account first, so two concurrent removals cannot both take the last factor.

use async_trait::async_trait;

use super::{AuditEvent, OutboxMail};
use crate::policy::Factor;
use crate::{AccountId, Error};

/// An account's second factors, as stored.
#[derive(Clone, Debug, Default)]
pub struct MfaState {
    pub totp: Option<TotpRecord>,
    /// When email codes were switched on as a factor, and last used.
    pub email: Option<(i64, Option<i64>)>,
    /// Backup codes not used yet.
    pub backup_codes_left: i64,
    /// Passkeys registered.
    pub passkeys: i64,
}

/// A registered passkey.
#[derive(Clone)]
pub struct PasskeyRecord {
    pub id: uuid::Uuid,
    pub pool_id: crate::PoolId,
    pub account_id: AccountId,
    /// The WebAuthn credential id, base64url without padding.
    pub credential_id: String,
    /// The verifier's stored form of the credential (JSON).
    pub credential: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl std::fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct TotpRecord {
    pub secret_sealed: Vec<u8>,
    /// None: enrolment started, not confirmed by a first code.
    pub confirmed_at: Option<i64>,
    pub last_used_step: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

impl MfaState {
    /// The enrolled factors (a confirmed app, email codes), in a stable order; backup codes
    /// are listed when some are left and the app is enrolled.
    pub fn factors(&self) -> Vec<Factor> {
        let mut out = Vec::new();
        let app = self.totp.as_ref().is_some_and(|t| t.confirmed_at.is_some());
        if app {
            out.push(Factor::Totp);
        }
        if self.email.is_some() {
            out.push(Factor::Email);
        }
        if self.passkeys > 0 {
            out.push(Factor::Passkey);
        }
        if !out.is_empty() && self.backup_codes_left > 0 {
            out.push(Factor::BackupCode);
        }
        out
    }
}

/// A change to an account's factors, with what the store writes beside it.
pub struct FactorChange {
    pub account: AccountId,
    pub now: i64,
    pub audit: AuditEvent,
    pub notice: Option<OutboxMail>,
}

/// Where a sign-in came from: keyed hashes of its network and, from a browser, its device.
pub struct SignInOrigin<'a> {
    pub account: AccountId,
    pub network: &'a str,
    pub device: Option<&'a str>,
    pub now: i64,
}

/// What a sign-in from a new origin writes: its audit row and the owner's notice, built once
/// the store knows what was new (`(new_network, new_device)`).
pub type OriginNotice<'a> =
    dyn Fn(bool, bool) -> Result<(AuditEvent, Option<OutboxMail>), Error> + Send + Sync + 'a;

#[async_trait]
pub trait MfaStore: Send + Sync {
    /// Stores a new passkey, with its audit row and notice.
    async fn insert_passkey(
        &self,
        passkey: &PasskeyRecord,
        change: &FactorChange,
    ) -> Result<(), Error>;
    /// The account's passkeys, oldest first.
    async fn list_passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>, Error>;
    /// The passkey of `pool` with that credential id.
    async fn find_passkey(
        &self,
        pool: crate::PoolId,
        credential_id: &str,
    ) -> Result<Option<PasskeyRecord>, Error>;
    /// Records a use: the credential's new stored form (its counter) and the time.
    async fn passkey_used(&self, id: uuid::Uuid, credential: &str, now: i64) -> Result<(), Error>;
    /// Renames one of the account's passkeys; [`Error::PasskeyNotFound`] if it has none
    /// with that id.
    async fn rename_passkey(
        &self,
        account: AccountId,
        id: uuid::Uuid,
        name: &str,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Removes one of the account's passkeys: [`Error::PasskeyNotFound`];
    /// [`Error::LastFactor`] when `keep_one` and it was the last second factor;
    /// [`Error::LastCredential`] when nothing else could sign in.
    async fn remove_passkey(
        &self,
        change: &FactorChange,
        id: uuid::Uuid,
        keep_one: bool,
    ) -> Result<(), Error>;
    /// Remembers the origin of a sign-in. When the network or device is new to an account
    /// that signed in before, writes `notice`'s audit row and mail in the same transaction.
    /// Answers `(new_network, new_device)` (a device is new only when one was given).
    async fn remember_origin(
        &self,
        origin: &SignInOrigin<'_>,
        notice: &OriginNotice<'_>,
    ) -> Result<(bool, bool), Error>;
    /// The account's factors.
    async fn mfa_state(&self, account: AccountId) -> Result<MfaState, Error>;
    /// Starts (or restarts) an app enrolment with a new sealed secret. Refused with
    /// [`Error::MfaAlreadyEnrolled`] while a confirmed one exists.
    async fn start_totp(&self, account: AccountId, sealed: &[u8], now: i64) -> Result<(), Error>;
    /// Confirms the pending enrolment with its first code's `step`, and replaces the
    /// backup codes with `backup_hashes`. [`Error::MfaNotEnrolled`] without a pending one.
    async fn confirm_totp(
        &self,
        change: &FactorChange,
        step: i64,
        backup_hashes: &[String],
    ) -> Result<(), Error>;
    /// Records `step` as used if it is later than the last step used: false when it is not
    /// (a replay, here or on another instance) or no app is confirmed.
    async fn use_totp_step(&self, account: AccountId, step: i64, now: i64) -> Result<bool, Error>;
    /// Marks one unused backup code used: false when no unused code has that hash.
    async fn use_backup_code(
        &self,
        account: AccountId,
        hash: &str,
        now: i64,
    ) -> Result<bool, Error>;
    /// Records a use of email codes as the factor.
    async fn use_email_factor(&self, account: AccountId, now: i64) -> Result<(), Error>;
    /// Switches email codes on as a factor (idempotent).
    async fn enable_email_factor(&self, change: &FactorChange) -> Result<(), Error>;
    /// Replaces the backup codes with a new set. [`Error::MfaNotEnrolled`] without a factor.
    async fn replace_backup_codes(
        &self,
        change: &FactorChange,
        hashes: &[String],
    ) -> Result<(), Error>;
    /// Removes `factor` (`totp` or `email`). [`Error::MfaNotEnrolled`] when it is not
    /// enrolled; [`Error::LastFactor`] when `keep_one` and it is the last one. The backup
    /// codes go with the last factor.
    async fn remove_factor(
        &self,
        change: &FactorChange,
        factor: Factor,
        keep_one: bool,
    ) -> Result<(), Error>;
}
