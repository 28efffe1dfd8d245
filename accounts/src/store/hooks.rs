//! Hooks of a pool (DESIGN, Hooks): one per trigger point, by name, with its secrets sealed.
//! Each change is one transaction with its audit row.

use async_trait::async_trait;

use super::AuditEvent;
use crate::hooks::HookConfig;
use crate::{Error, PoolId};

/// A hook, as stored.
#[derive(Clone)]
pub struct HookRecord {
    pub pool_id: PoolId,
    pub name: String,
    pub config: HookConfig,
    /// [`crate::hooks::HookSecrets`] as JSON, sealed with the master key.
    pub secrets_sealed: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for HookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRecord")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait HookStore: Send + Sync {
    /// [`Error::HookExists`] when the pool has a hook of that name or for that trigger.
    async fn insert_hook(&self, hook: &HookRecord, audit: &AuditEvent) -> Result<(), Error>;
    /// Replaces the configuration and the sealed secrets; [`Error::HookNotFound`].
    async fn update_hook(&self, hook: &HookRecord, audit: &AuditEvent) -> Result<(), Error>;
    async fn delete_hook(&self, pool: PoolId, name: &str, audit: &AuditEvent) -> Result<(), Error>;
    /// The pool's hooks, by name.
    async fn list_hooks(&self, pool: PoolId) -> Result<Vec<HookRecord>, Error>;
}
