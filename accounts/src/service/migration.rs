//! Lazy migration (DESIGN, Hooks: `user_migration`): an email unknown here, signing in with
//! a password, is looked up in the old system; when that system vouches for the account and
//! the password, the account is created here (the password hashed with argon2id under this
//! pool's parameters, never stored as it came) and the sign-in goes on in the same request.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::UserPool;
use super::profile::validate_attributes;
use crate::secret::Secret;
use crate::store::{AccountRecord, NewAdminAccount, PoolRecord};
use crate::{AccountId, AccountStatus, Email, Error, policy};

/// What the old system says of an account it knows.
#[derive(Clone, Debug, Default)]
pub struct MigratedUser {
    pub attributes: Map<String, Value>,
    pub email_verified: bool,
    /// Names of groups of the pool the account joins (names the pool lacks are skipped).
    pub groups: Vec<String>,
}

/// The old system, as the gateway reaches it (its `user_migration` hook).
#[async_trait]
pub trait UserMigration: Send + Sync {
    /// `Ok(None)`: the old system does not know the email, or refuses the password.
    /// `password` is none for a recovery (the mailbox will be proved instead).
    /// [`Error::HookFailed`] when it cannot answer and its policy fails closed.
    async fn lookup(
        &self,
        email: &Email,
        password: Option<&str>,
    ) -> Result<Option<MigratedUser>, Error>;
}

impl UserPool {
    /// Creates the account the old system vouched for, active, with `password` as its
    /// password (none for a recovery: the recovery sets one). [`Error::EmailTaken`] when
    /// the email got an account meanwhile.
    pub(super) async fn create_migrated(
        &self,
        pool: &PoolRecord,
        email: &Email,
        password: Option<&str>,
        user: MigratedUser,
        now: i64,
    ) -> Result<(), Error> {
        let attributes = validate_attributes(Map::new(), user.attributes)?;
        let mut groups = user.groups;
        groups.sort();
        groups.dedup();
        // The old system's password is kept as it was accepted there: the pool's length rule
        // is for passwords chosen here.
        let hash = match password {
            Some(p) => Some(
                self.hasher
                    .hash(&Secret::new(policy::normalize_password(p)))
                    .await?,
            ),
            None => None,
        };
        let account = AccountRecord {
            id: AccountId::new(),
            pool_id: pool.id,
            status: AccountStatus::Active,
            attributes,
            created_at: now,
            updated_at: now,
        };
        let audit = Self::audit(
            pool.id,
            Some(account.id),
            "user_migrated",
            json!({ "email_verified": user.email_verified, "groups": groups, "password": password.is_some() }),
            now,
        );
        let new = NewAdminAccount {
            account,
            email: Some((email.clone(), user.email_verified)),
            wallets: Vec::new(),
            invitation: None,
            password_hash: hash,
            groups,
        };
        self.store.insert_admin_account(&new, &audit).await
    }
}
