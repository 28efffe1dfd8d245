//! Upstream identity providers and the federated identities linked to accounts (DESIGN,
//! Federation). An identity is keyed (pool, IdP, upstream subject) and belongs to one account;
//! each change is one transaction with its audit row and notice.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{AccountBundle, AccountRecord, AuditEvent, NewSession, OutboxMail};
use crate::idp::IdpConfig;
use crate::{AccountId, Error, PoolId};

/// An IdP of a pool, as stored.
#[derive(Clone)]
pub struct IdpRecord {
    pub pool_id: PoolId,
    pub name: String,
    pub config: IdpConfig,
    /// [`crate::idp::IdpSecrets`] as JSON, sealed with the master key.
    pub secrets_sealed: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for IdpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpRecord")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A federated identity linked to an account.
#[derive(Clone, Debug)]
pub struct IdentityRecord {
    pub id: uuid::Uuid,
    pub pool_id: PoolId,
    pub account_id: AccountId,
    /// The IdP's name in the pool.
    pub provider: String,
    /// The upstream subject (`sub`, or the OAuth 2.0 user-info's subject field).
    pub subject: String,
    /// The email the IdP last asserted, as it gave it (shown to the account only).
    pub email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A first federated sign-in: the new account, its email when the IdP's is trusted
/// (verified now), its identity and its session.
pub struct NewFederatedAccount<'a> {
    pub account: &'a AccountRecord,
    pub verified_email: Option<&'a str>,
    pub identity: &'a IdentityRecord,
    pub session: &'a NewSession,
    pub audit: &'a [AuditEvent],
}

#[async_trait]
pub trait FederationStore: Send + Sync {
    /// [`Error::IdpExists`] when the pool has an IdP of that name.
    async fn insert_idp(&self, idp: &IdpRecord, audit: &AuditEvent) -> Result<(), Error>;
    /// Replaces the IdP's configuration (and its secrets, when given).
    async fn update_idp(&self, idp: &IdpRecord, audit: &AuditEvent) -> Result<(), Error>;
    /// [`Error::IdpInUse`] while identities are linked through it.
    async fn delete_idp(&self, pool: PoolId, name: &str, audit: &AuditEvent) -> Result<(), Error>;
    async fn list_idps(&self, pool: PoolId) -> Result<Vec<IdpRecord>, Error>;
    async fn find_idp(&self, pool: PoolId, name: &str) -> Result<Option<IdpRecord>, Error>;
    /// The account an identity is linked to.
    async fn find_account_by_identity(
        &self,
        pool: PoolId,
        provider: &str,
        subject: &str,
    ) -> Result<Option<(AccountBundle, IdentityRecord)>, Error>;
    /// A first sign-in: account, email, identity, session and audit rows in one transaction.
    /// [`Error::IdentityTaken`] when the identity was linked meanwhile; [`Error::EmailTaken`]
    /// when the email was.
    async fn insert_federated_account(&self, new: &NewFederatedAccount<'_>) -> Result<(), Error>;
    /// Links an identity; [`Error::IdentityTaken`] when any account of the pool has it.
    async fn insert_identity(
        &self,
        identity: &IdentityRecord,
        notice: Option<&OutboxMail>,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    /// Unlinks the account's identities of `provider`, unless that leaves nothing that can
    /// sign in ([`Error::LastCredential`], DESIGN rule 3); [`Error::IdentityNotFound`].
    async fn delete_identity(
        &self,
        account: AccountId,
        provider: &str,
        notice: Option<&OutboxMail>,
        audit: &AuditEvent,
    ) -> Result<(), Error>;
    async fn list_identities(&self, account: AccountId) -> Result<Vec<IdentityRecord>, Error>;
    /// A sign-in through the identity: its last use and email, and the account's attributes
    /// when the mapping changed them.
    async fn identity_used(
        &self,
        identity: &IdentityRecord,
        attributes: Option<&Map<String, Value>>,
        now: i64,
    ) -> Result<(), Error>;
}
