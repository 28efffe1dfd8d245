//! The operators' directory: pools and their versioned configuration, account search and
//! administration, groups, and reading the audit log. Every list is a keyset page (an
//! opaque cursor the gateway encodes), so paging is stable under concurrent inserts and each
//! page is an index walk.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{AccountBundle, AuditEvent, NewCode, NewWallet, OutboxMail, PoolRecord};
use super::{AccountRecord, SessionRecord};
use crate::policy::PoolConfig;
use crate::{AccountId, AccountStatus, Email, Error, PoolId};

/// What an account search keeps. Every filter is optional; all given must hold.
#[derive(Clone, Debug, Default)]
pub struct AccountFilter {
    /// A prefix of the normalised email (lower-cased).
    pub email_prefix: Option<String>,
    /// A wallet's lowercase address: accounts with that address on any chain.
    pub wallet_key: Option<String>,
    pub status: Option<AccountStatus>,
    /// Created at or after / before these times (Unix seconds).
    pub created_since: Option<i64>,
    pub created_before: Option<i64>,
}

/// Where an account page starts: after this (created_at, sub).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountCursor {
    pub created_at: i64,
    pub id: AccountId,
}

/// An operator's change to an account; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct AccountPatch {
    pub attributes: Option<Map<String, Value>>,
    /// `Disabled` ends every session in the same transaction.
    pub status: Option<AccountStatus>,
    pub email_verified: Option<bool>,
}

/// An account an operator creates: with an email (and the invitation code that lets the
/// person set a password), or wallet-only.
#[derive(Clone)]
pub struct NewAdminAccount {
    pub account: AccountRecord,
    pub email: Option<(Email, bool)>,
    pub wallets: Vec<NewWallet>,
    pub invitation: Option<(NewCode, OutboxMail)>,
    /// A password set at creation (a migrated or imported account), as a PHC string.
    pub password_hash: Option<String>,
    /// Names of the pool's groups the account joins; names the pool lacks are skipped.
    pub groups: Vec<String>,
}

/// A group of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: uuid::Uuid,
    pub pool_id: PoolId,
    pub name: String,
    pub description: String,
    /// Lower comes first in the `groups` claim (as in Cognito).
    pub precedence: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an audit read keeps.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub account: Option<AccountId>,
    pub kind: Option<String>,
    /// At or after / before these times (Unix seconds).
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A stored audit event with its id (the newest-first cursor).
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub id: i64,
    pub account_id: Option<AccountId>,
    pub kind: String,
    pub detail: Value,
    pub created_at: i64,
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// A new pool with its audit row; [`Error::PoolExists`] when the name is taken.
    async fn insert_pool(&self, pool: &PoolRecord, audit: &AuditEvent) -> Result<(), Error>;
    /// Pools by name, after `after`.
    async fn list_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<PoolRecord>, Error>;
    /// Replaces the configuration if the stored version is still `expected` (compare and
    /// swap: a concurrent update makes this answer [`Error::VersionMismatch`], never a lost
    /// write). The new record, version one higher.
    async fn update_pool_config(
        &self,
        pool: PoolId,
        config: &PoolConfig,
        expected: i64,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<PoolRecord, Error>;
    /// Deletes a pool with everything in it, in one transaction; [`Error::PoolNotEmpty`]
    /// while it has accounts, unless `force`. Its audit events stay (with the deletion's).
    async fn delete_pool(&self, pool: PoolId, force: bool, audit: &AuditEvent)
    -> Result<(), Error>;

    /// Accounts of the pool matching `filter`, ordered by (created_at, sub), after `after`.
    async fn search_accounts(
        &self,
        pool: PoolId,
        filter: &AccountFilter,
        after: Option<AccountCursor>,
        limit: i64,
    ) -> Result<Vec<AccountBundle>, Error>;
    /// Creates an account as an operator asks; [`Error::EmailTaken`] or
    /// [`Error::WalletAlreadyLinked`] when another account has that credential.
    async fn insert_admin_account(
        &self,
        new: &NewAdminAccount,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Applies `patch`; disabling ends every session at once. [`Error::AccountNotFound`].
    async fn patch_account(
        &self,
        pool: PoolId,
        account: AccountId,
        patch: &AccountPatch,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Deletes the account and, by cascade, its credentials, sessions, wallets, identities,
    /// codes and group memberships; the audit keeps its events. Mails `notice` (queued
    /// before the account is gone). [`Error::AccountNotFound`].
    async fn delete_account(
        &self,
        pool: PoolId,
        account: AccountId,
        notice: Option<&OutboxMail>,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// The account's live sessions, most recently used first.
    async fn list_sessions(
        &self,
        account: AccountId,
        now: i64,
    ) -> Result<Vec<SessionRecord>, Error>;
    /// Removes every second factor of the account; how many there were.
    async fn clear_mfa(
        &self,
        account: AccountId,
        notice: Option<&OutboxMail>,
        audit: &AuditEvent,
    ) -> Result<u64, Error>;

    /// [`Error::GroupExists`] when the name is taken in the pool.
    async fn insert_group(&self, group: &GroupRecord, audit: &AuditEvent) -> Result<(), Error>;
    /// Groups by name, after `after`.
    async fn list_groups(
        &self,
        pool: PoolId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<GroupRecord>, Error>;
    async fn find_group(&self, pool: PoolId, name: &str) -> Result<Option<GroupRecord>, Error>;
    /// Stores the group's description and precedence. [`Error::GroupNotFound`].
    async fn update_group(&self, group: &GroupRecord, audit: &AuditEvent) -> Result<(), Error>;
    /// Deletes the group and its memberships. [`Error::GroupNotFound`].
    async fn delete_group(&self, pool: PoolId, name: &str, audit: &AuditEvent)
    -> Result<(), Error>;
    /// Adds the account to the group (already a member: nothing changes, no audit row).
    /// [`Error::GroupNotFound`], [`Error::AccountNotFound`].
    async fn add_member(
        &self,
        pool: PoolId,
        group: &str,
        account: AccountId,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Removes the account from the group; false when it was not a member.
    async fn remove_member(
        &self,
        pool: PoolId,
        group: &str,
        account: AccountId,
        audit: &AuditEvent,
    ) -> Result<bool, Error>;
    /// Members of a group by sub, after `after`.
    async fn list_members(
        &self,
        pool: PoolId,
        group: &str,
        after: Option<AccountId>,
        limit: i64,
    ) -> Result<Vec<AccountId>, Error>;

    /// Deletes the pool's audit events before `before` (its own retention), in at most
    /// `batches` batches of `batch`; how many.
    async fn purge_pool_audit(
        &self,
        pool: PoolId,
        before: i64,
        batch: i64,
        batches: u32,
    ) -> Result<u64, Error>;
    /// Audit events of the pool, newest first, with ids below `before`.
    async fn list_audit(
        &self,
        pool: PoolId,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, Error>;
}
