//! Persistence: one trait per aggregate, implemented for SQLite and PostgreSQL from the same
//! SQL (see `sql.rs`), picked once from the URL scheme by [`connect`].
//!
//! Methods are whole use cases: each multi-step change, its audit row and any mail it sends
//! run in one transaction inside the store, so a handler can never leave a partial write.

mod directory;
mod federation;
mod hooks;
mod mfa;
mod sql;

use async_trait::async_trait;
use serde_json::{Map, Value};
use std::sync::Arc;
use wallet::{Address, Caip10, WalletKind};

use crate::clients::ClientRecord;
use crate::policy::PoolConfig;
use crate::{AccountId, AccountStatus, Error, PoolId, SessionId};

pub use directory::{
    AccountCursor, AccountFilter, AccountPatch, AuditEntry, AuditFilter, DirectoryStore,
    GroupRecord, NewAdminAccount,
};
pub use federation::{FederationStore, IdentityRecord, IdpRecord, NewFederatedAccount};
pub use hooks::{HookRecord, HookStore};
pub use mfa::{
    FactorChange, MfaState, MfaStore, OriginNotice, PasskeyRecord, SignInOrigin, TotpRecord,
};
pub use sql::{
    CLAIM_MAIL, COUNT_PENDING_MAIL, LIST_AUDIT, PURGE_AUDIT, PURGE_CODES, PURGE_FAILED_MAIL,
    PURGE_PENDING_ACCOUNTS, PURGE_POOL_AUDIT, PURGE_SENT_MAIL, PURGE_SESSIONS, PURGE_UNDO_LINKS,
    REVOKE_CLIENT_SESSIONS, ROTATE_MARK, connect, connect_with_replica,
};

#[derive(Clone, Debug)]
pub struct PoolRecord {
    pub id: PoolId,
    pub name: String,
    pub config: PoolConfig,
    pub created_at: i64,
    /// Bumped by every configuration change (the admin API's `ETag`).
    pub version: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug)]
pub struct AccountRecord {
    pub id: AccountId,
    pub pool_id: PoolId,
    pub status: AccountStatus,
    pub attributes: Map<String, Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug)]
pub struct EmailRecord {
    pub email: String,
    pub verified_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Clone)]
pub struct PasswordRecord {
    pub hash: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
}

impl std::fmt::Debug for PasswordRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRecord")
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A linked wallet. An EOA is keyed by its address on every chain (`chain_id` 0); a
/// contract wallet by (chain id, address).
#[derive(Clone, Debug)]
pub struct WalletRecord {
    pub kind: WalletKind,
    pub chain_id: i64,
    /// Stored EIP-55; its lowercase form (`Address::key`) is the uniqueness key.
    pub address: Address,
    /// How it is shown: `eip155:{chain of the linking message}:{address}`.
    pub caip10: Caip10,
    pub created_at: i64,
    pub verified_at: i64,
    pub last_used_at: Option<i64>,
}

/// A wallet whose signature was just verified, to be linked.
#[derive(Clone, Debug)]
pub struct NewWallet {
    pub pool_id: PoolId,
    pub account_id: AccountId,
    pub kind: WalletKind,
    /// The chain it is keyed by: 0 for an EOA.
    pub chain_id: i64,
    /// The chain of the linking message and the address.
    pub caip10: Caip10,
    pub now: i64,
}

/// An account with its credentials.
#[derive(Clone, Debug)]
pub struct AccountBundle {
    pub account: AccountRecord,
    pub email: Option<EmailRecord>,
    pub password: Option<PasswordRecord>,
    pub wallets: Vec<WalletRecord>,
    /// The names of the account's groups, lowest precedence first (the `groups` claim).
    pub groups: Vec<String>,
}

/// Live sign-up codes an unconfirmed account keeps at most (the oldest goes first).
pub const MAX_SIGNUP_CODES: i64 = 5;

/// What a code is for; one live code per account and purpose, except sign-up codes (up to
/// [`MAX_SIGNUP_CODES`], each bound to the password of its sign-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodePurpose {
    Signup,
    Recovery,
    EmailChange,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::Signup => "signup",
            CodePurpose::Recovery => "recovery",
            CodePurpose::EmailChange => "email_change",
        }
    }
}

#[derive(Clone)]
pub struct NewCode {
    pub account_id: AccountId,
    pub purpose: CodePurpose,
    pub code_hash: String,
    /// The password hash a sign-up code sets, or the new address of an email change.
    pub payload: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
}

impl std::fmt::Debug for NewCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCode")
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

/// An audit row, written in the same transaction as the change it records.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub pool_id: PoolId,
    pub account_id: Option<AccountId>,
    pub kind: &'static str,
    pub detail: Value,
    pub created_at: i64,
}

/// The outbox kind of a recovery request waiting for the worker: `recipient` holds the
/// normalised address as asked. The request path only queues it, the same work whether the
/// address has an account or not (DESIGN rule 5); the worker looks it up and mails a code.
pub const JOB_RECOVERY_REQUEST: &str = "recovery_request";
/// The outbox row of a hook notification (`post_*`): its recipient is the hook's name and
/// its sealed body the signed call's id and JSON, so a retry sends the same `webhook-id`.
pub const JOB_HOOK_EVENT: &str = "hook_event";

/// The undo link of an email change, mailed to the old address.
#[derive(Clone)]
pub struct NewEmailUndo {
    pub token_hash: String,
    pub old_email: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for NewEmailUndo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEmailUndo")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A live undo link.
#[derive(Clone, Debug)]
pub struct EmailUndoRecord {
    pub account_id: AccountId,
    pub old_email: String,
    pub changed_at: i64,
}

/// A stored audit event.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub kind: String,
    pub detail: Value,
    pub created_at: i64,
}

/// A mail to send, its body sealed with the master key.
#[derive(Clone, Debug)]
pub struct OutboxMail {
    pub id: uuid::Uuid,
    pub pool_id: PoolId,
    pub recipient: String,
    pub kind: &'static str,
    pub body_sealed: Vec<u8>,
    pub created_at: i64,
}

/// A queued mail, or a job the mail worker runs (kind [`JOB_RECOVERY_REQUEST`]).
#[derive(Clone, Debug)]
pub struct PendingMail {
    pub id: uuid::Uuid,
    pub pool_id: PoolId,
    pub recipient: String,
    pub kind: String,
    pub body_sealed: Vec<u8>,
    pub attempts: i32,
}

#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub id: SessionId,
    pub pool_id: PoolId,
    pub account_id: AccountId,
    pub client_id: Option<String>,
    pub amr: Vec<String>,
    /// The wallet that signed this sign-in, if one did.
    pub wallet: Option<Caip10>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: i64,
    pub revoked_at: Option<i64>,
    /// The scope an OAuth client was granted (space-separated); none for the direct API.
    pub scope: Option<String>,
    /// The browser session an OAuth client session was authorized from.
    pub parent_id: Option<SessionId>,
    /// The `User-Agent` the session was opened with (at most 256 characters).
    pub user_agent: Option<String>,
}

impl SessionRecord {
    /// The upstream IdP of a federated sign-in: kept in `amr` as `idp:{name}` (so it
    /// follows the session into its client sessions and refreshes), never shown there.
    pub fn idp(&self) -> Option<&str> {
        self.amr.iter().find_map(|m| m.strip_prefix("idp:"))
    }

    /// `amr` as tokens and the sessions list show it (RFC 8176 values and ours, no IdP).
    pub fn methods(&self) -> Vec<String> {
        self.amr
            .iter()
            .filter(|m| !m.starts_with("idp:"))
            .cloned()
            .collect()
    }
}

/// A new session and the hash of its first refresh token.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub session: SessionRecord,
    pub refresh_hash: String,
}

/// Which sessions of an account to end.
#[derive(Clone, Copy, Debug)]
pub enum RevokeScope {
    All,
    AllBut(SessionId),
    /// This session and every session whose parent it is.
    Tree(SessionId),
}

/// What presenting a refresh token led to.
#[derive(Clone, Debug)]
pub enum Rotation {
    /// First use: the successor was stored.
    Rotated(SessionRecord),
    /// Already rotated within the grace period: the same successor stands.
    Repeated(SessionRecord),
    /// Already rotated before the grace period: the family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

#[derive(Clone, Debug)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub pool_id: PoolId,
    pub alg: String,
    pub private_sealed: Vec<u8>,
    pub public_jwk: Value,
    pub created_at: i64,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
}

/// A presented code: whose, for what, its keyed hash, and the pool's limits.
#[derive(Clone, Debug)]
pub struct CodeAttempt<'a> {
    pub account: AccountId,
    pub purpose: CodePurpose,
    pub code_hash: &'a str,
    pub now: i64,
    pub max_attempts: i32,
}

/// What to do, in the same transaction, once a code has been consumed.
#[derive(Clone, Debug)]
pub enum CodeEffect {
    /// Sign-up confirmation: the email is verified, the account active, and its password
    /// `password_hash`: the hash of the sign-up whose password was given with the code.
    ConfirmSignup { password_hash: String },
    /// Recovery: the email is verified, optionally a new password set, every session ended,
    /// pending email changes cancelled, and a new session opened.
    Recover {
        password_hash: Option<String>,
        /// None: the account still answers a second factor before it gets a session.
        session: Option<Box<NewSession>>,
        notice: OutboxMail,
    },
    /// Email change: the code's address becomes the account's verified email; the old
    /// verified address gets the notice and an undo link (`undo`).
    ChangeEmail {
        notice: Option<OutboxMail>,
        undo: Option<NewEmailUndo>,
    },
}

#[async_trait]
pub trait PoolStore: Send + Sync {
    /// Creates the pool if it does not exist (safe when several instances start at once).
    async fn ensure_pool(
        &self,
        name: &str,
        config: &PoolConfig,
        now: i64,
    ) -> Result<PoolRecord, Error>;
    async fn find_pool_by_name(&self, name: &str) -> Result<Option<PoolRecord>, Error>;
    async fn find_pool(&self, id: PoolId) -> Result<Option<PoolRecord>, Error>;
    /// The names of the pools, in order (at most `limit`).
    async fn list_pool_names(&self, limit: i64) -> Result<Vec<String>, Error>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_signing_keys(&self, pool: PoolId) -> Result<Vec<SigningKeyRecord>, Error>;
    /// Inserts a key; when `supersede` is set, every older key of the same algorithm that has
    /// no retirement yet retires at that time. One transaction. False (nothing written) when
    /// the pool already has a live key of that algorithm and none is superseded: another
    /// instance made it first.
    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        supersede: Option<i64>,
    ) -> Result<bool, Error>;
    /// Emergency revocation: the key `kid` of the pool leaves the JWKS now (it retires at
    /// `now`); when it was its algorithm's live key, `replacement` (of that algorithm,
    /// signing from `now`) takes its place. One transaction with its audit row. False when
    /// the pool has no such key (or it retired already).
    async fn revoke_signing_key(
        &self,
        pool: PoolId,
        kid: &str,
        replacement: &SigningKeyRecord,
        audit: &AuditEvent,
    ) -> Result<bool, Error>;
    /// Deletes keys whose retirement passed (they have left the JWKS).
    async fn delete_retired_keys(&self, pool: PoolId, now: i64) -> Result<u64, Error>;
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn find_account_by_email(
        &self,
        pool: PoolId,
        normalized: &str,
    ) -> Result<Option<AccountBundle>, Error>;
    async fn find_account(
        &self,
        pool: PoolId,
        id: AccountId,
    ) -> Result<Option<AccountBundle>, Error>;
    async fn find_account_by_wallet(
        &self,
        pool: PoolId,
        chain_id: i64,
        address_key: &str,
    ) -> Result<Option<AccountBundle>, Error>;
    /// First sign-in with a wallet: a wallet-only account, its wallet and its session, with
    /// their audit rows. [`Error::WalletAlreadyLinked`] when the wallet is taken meanwhile.
    async fn insert_wallet_account(
        &self,
        account: &AccountRecord,
        wallet: &NewWallet,
        session: &NewSession,
        audit: &[AuditEvent],
    ) -> Result<(), Error>;
    /// Links a wallet; [`Error::WalletAlreadyLinked`] when any account of the pool has it.
    async fn insert_wallet(
        &self,
        wallet: &NewWallet,
        notice: Option<&OutboxMail>,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Unlinks a wallet unless it is the account's last credential that can sign in
    /// ([`Error::LastCredential`], DESIGN rule 3). [`Error::WalletNotFound`] if not linked.
    async fn delete_wallet(
        &self,
        account: AccountId,
        chain_id: i64,
        address_key: &str,
        notice: Option<&OutboxMail>,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Creates a pending account with an unverified email and a sign-up code (which carries
    /// the password hash until confirmation).
    /// A unique violation on the email answers [`Error::EmailTaken`].
    async fn insert_email_account(
        &self,
        account: &AccountRecord,
        email: &str,
        code: &NewCode,
        mail: &OutboxMail,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// The payloads of the live, untried-out codes of that purpose, newest first (the
    /// password hashes of an unconfirmed account's sign-ups).
    async fn find_code_payloads(
        &self,
        account: AccountId,
        purpose: CodePurpose,
        now: i64,
        max_attempts: i32,
    ) -> Result<Vec<String>, Error>;
    /// Whether `attempt`'s code is live and not tried out, without consuming it.
    async fn code_is_live(&self, attempt: &CodeAttempt<'_>) -> Result<bool, Error>;
    /// Counts a failed try on every live code of the attempt's purpose (each dies at
    /// `max_attempts`) and audits it, for a right code given with a wrong password.
    async fn reject_code(&self, attempt: &CodeAttempt<'_>, audit: &AuditEvent)
    -> Result<(), Error>;
    /// The payload of the newest live code of that purpose (to resend a sign-up code).
    async fn find_code_payload(
        &self,
        account: AccountId,
        purpose: CodePurpose,
        now: i64,
    ) -> Result<Option<Option<String>>, Error>;
    /// Stores a code (replacing the live one, except for sign-up codes) and queues its mail.
    async fn replace_code(
        &self,
        code: &NewCode,
        mail: &OutboxMail,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Consumes a live code atomically and applies `effect` in the same transaction.
    /// A wrong code counts a try (the code dies at `max_attempts`) and answers false.
    async fn consume_code(
        &self,
        attempt: &CodeAttempt<'_>,
        effect: &CodeEffect,
        audit: &AuditEvent,
    ) -> Result<bool, Error>;
    async fn update_attributes(
        &self,
        account: AccountId,
        attributes: &Map<String, Value>,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Sets the password, ends sessions in `revoke`, cancels pending email changes, queues
    /// the notice. One transaction.
    async fn update_password(
        &self,
        account: AccountId,
        hash: &str,
        now: i64,
        revoke: RevokeScope,
        notice: Option<&OutboxMail>,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// The live undo link with this token hash in the pool.
    async fn find_email_undo(
        &self,
        pool: PoolId,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<EmailUndoRecord>, Error>;
    /// Undoes an email change, once: the link is consumed, the old address restored as the
    /// verified email (a pending sign-up holding it meanwhile is dropped; an active account
    /// holding it answers [`Error::EmailTaken`]), every session ended, pending email changes
    /// cancelled, a password set and wallets linked since the change removed, and a recovery
    /// code for the old
    /// address stored and mailed. One transaction; [`Error::CodeInvalid`] if the link was
    /// used meanwhile.
    async fn undo_email_change(
        &self,
        token_hash: &str,
        undo: &EmailUndoRecord,
        now: i64,
        recovery: &NewCode,
        mail: &OutboxMail,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// The account's audit events of `kinds` since `since`, newest first (at most `limit`):
    /// what a recovery notice lists as recently changed.
    async fn find_audit_events(
        &self,
        account: AccountId,
        kinds: &[&str],
        since: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, Error>;
    /// Writes an audit row (and a mail) for an event that changes nothing else.
    async fn record(&self, audit: &AuditEvent, mail: Option<&OutboxMail>) -> Result<(), Error>;
    /// Replaces the account's password hash with `new` if it is still `old` (an imported
    /// hash, rehashed with this pool's argon2id at a sign-in), with its audit row; whether
    /// it did.
    async fn replace_password_hash(
        &self,
        account: AccountId,
        old: &str,
        new: &str,
        audit: &AuditEvent,
    ) -> Result<bool, Error>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Opens a session. With `password_hash`, only if that is still the account's password.
    async fn insert_session(
        &self,
        new: &NewSession,
        password_hash: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Rotates a refresh token: marks it used and stores its successor, or recognises a
    /// repeat within `grace` seconds, or revokes the family on reuse. One transaction. A
    /// token of another client (`None`: the direct API) is `Invalid` and left untouched.
    async fn rotate_refresh_token(
        &self,
        pool: PoolId,
        hash: &str,
        successor_hash: &str,
        client: Option<&str>,
        now: i64,
        grace: i64,
    ) -> Result<Rotation, Error>;
    async fn find_session(&self, id: SessionId) -> Result<Option<SessionRecord>, Error>;
    /// The session a refresh token (by hash) belongs to, used or not; read only.
    async fn find_session_by_token(
        &self,
        pool: PoolId,
        hash: &str,
    ) -> Result<Option<SessionRecord>, Error>;
    /// Ends the session a refresh token belongs to; false when the token is unknown or was
    /// issued to another client (`None`: the direct API).
    async fn revoke_session_by_token(
        &self,
        pool: PoolId,
        hash: &str,
        client: Option<&str>,
        now: i64,
        reason: &str,
    ) -> Result<bool, Error>;
    /// Ends browser session `old` and hands the client sessions authorized from it to
    /// `new`, so one logout still ends them all. One transaction with its audit row.
    async fn replace_session(
        &self,
        old: SessionId,
        new: SessionId,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    async fn revoke_sessions(
        &self,
        account: AccountId,
        scope: RevokeScope,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<u64, Error>;
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` due mails for `lease` seconds (safe across instances).
    /// Mails already tried `max_attempts` times are marked failed instead.
    async fn claim_mail(
        &self,
        now: i64,
        lease: i64,
        limit: i64,
        max_attempts: i32,
    ) -> Result<Vec<PendingMail>, Error>;
    /// Marks a job done and stores what it produced (a code, its mail, the audit row), in
    /// one transaction; nothing when another worker finished it first.
    async fn complete_job(
        &self,
        job: uuid::Uuid,
        now: i64,
        code: Option<&NewCode>,
        mail: Option<&OutboxMail>,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Queues one row by itself (a hook notification: nothing else changes with it).
    async fn enqueue(&self, mail: &OutboxMail) -> Result<(), Error>;
    /// Marks a mail sent and drops its body.
    async fn mark_mail_sent(&self, id: uuid::Uuid, now: i64) -> Result<(), Error>;
    /// Records a failed attempt; after `max_attempts` the mail is failed for good.
    async fn mark_mail_failed(
        &self,
        id: uuid::Uuid,
        error: &str,
        retry_at: i64,
        max_attempts: i32,
    ) -> Result<(), Error>;
    /// The outbox's depth: mails and mail jobs not yet sent nor given up, due or not
    /// (counted through the index on `status`, never by reading the rows).
    async fn count_pending_mail(&self) -> Result<i64, Error>;
}

/// App clients (OAuth 2.0 clients) of a pool.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts the client and its audit row in one transaction.
    async fn insert_client(&self, client: &ClientRecord, audit: &AuditEvent) -> Result<(), Error>;
    async fn list_clients(&self, pool: PoolId) -> Result<Vec<ClientRecord>, Error>;
    async fn find_client(&self, pool: PoolId, id: &str) -> Result<Option<ClientRecord>, Error>;
    /// Deletes the client, its sessions' refresh tokens stay until they expire unless
    /// revoked; false when there was no such client.
    async fn delete_client(
        &self,
        pool: PoolId,
        id: &str,
        audit: &AuditEvent,
    ) -> Result<bool, Error>;
}

/// What the periodic purge deletes: rows whose time passed these cut-offs.
#[derive(Clone, Copy, Debug)]
pub struct PurgeCutoffs {
    /// Sessions (and their refresh tokens) that expired before this.
    pub sessions_expired_before: i64,
    /// Codes and undo links that expired before this.
    pub codes_expired_before: i64,
    /// Sign-ups never confirmed, started before this.
    pub pending_created_before: i64,
    /// Sent or failed mail queued before this.
    pub mail_created_before: i64,
    /// Audit events before this; none keeps them all.
    pub audit_before: Option<i64>,
}

/// Rows deleted by one purge, per table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub sessions: u64,
    pub codes: u64,
    pub undo_links: u64,
    pub pending_accounts: u64,
    pub mail: u64,
    pub audit_events: u64,
}

/// Deleting what expired, in bounded batches (each its own short transaction), so tables
/// do not grow forever and no purge holds a lock for long.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Brings stored addresses to the current normalised form (see `Email`), once per
    /// database: rows written under an older rule (non-ASCII ones) are rewritten; one that
    /// would collide with another account's is left as it was and logged. Answers how many
    /// rows changed.
    async fn renormalize_emails(&self, now: i64) -> Result<u64, Error>;
    /// Deletes at most `batches` batches of `batch` rows per table.
    async fn purge_expired(
        &self,
        cutoffs: &PurgeCutoffs,
        batch: i64,
        batches: u32,
    ) -> Result<PurgeReport, Error>;
}

/// The whole store, as the gateway holds it.
#[async_trait]
pub trait Store:
    PoolStore
    + KeyStore
    + AccountStore
    + SessionStore
    + OutboxStore
    + ClientStore
    + MaintenanceStore
    + DirectoryStore
    + MfaStore
    + FederationStore
    + HookStore
{
    async fn ping(&self) -> Result<(), Error>;
    /// The database's clock, Unix seconds (every instance's reference for its own).
    async fn clock(&self) -> Result<i64, Error>;
    fn backend(&self) -> &'static str;
}

pub type DynStore = Arc<dyn Store>;
