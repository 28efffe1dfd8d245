//! Hooks of a pool, as operators configure them (DESIGN, Hooks). The gateway calls them; here
//! they are created, changed, rotated and removed, each change audited with its actor. A
//! secret is shown once: when the hook is created and when it is rotated.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Actor, UserPool};
use crate::hooks::{self, HookConfig, HookSecrets};
use crate::store::{HookRecord, PoolRecord};
use crate::{Error, PoolId};

/// A hook as the admin API shows it: its configuration, when its previous secret stops
/// signing, and its secret only in the answer that created or rotated it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct HookView {
    pub name: String,
    #[serde(flatten)]
    pub config: HookConfig,
    /// The Standard Webhooks signing secret (`whsec_…`): in the answer that created or
    /// rotated it only, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// While a rotation overlaps: until when the previous secret signs too (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A hook with its secrets opened: what the gateway calls.
#[derive(Clone, Debug)]
pub struct ActiveHook {
    pub name: String,
    pub config: HookConfig,
    pub secrets: HookSecrets,
}

fn purpose(pool: PoolId, name: &str) -> String {
    format!("hook:{pool}:{name}")
}

impl UserPool {
    fn seal_hook_secrets(
        &self,
        pool: PoolId,
        name: &str,
        s: &HookSecrets,
    ) -> Result<Vec<u8>, Error> {
        let plain = serde_json::to_vec(s).map_err(|_| Error::Crypto)?;
        self.master.seal(&purpose(pool, name), &plain)
    }

    fn open_hook_secrets(&self, hook: &HookRecord) -> Result<HookSecrets, Error> {
        let plain = self
            .master
            .open(&purpose(hook.pool_id, &hook.name), &hook.secrets_sealed)?;
        serde_json::from_slice(&plain).map_err(|_| Error::Crypto)
    }

    /// The pool's hooks with their secrets opened, for calling them.
    pub async fn active_hooks(&self, pool: PoolId) -> Result<Vec<ActiveHook>, Error> {
        self.store
            .list_hooks(pool)
            .await?
            .into_iter()
            .map(|h| {
                Ok(ActiveHook {
                    secrets: self.open_hook_secrets(&h)?,
                    name: h.name,
                    config: h.config,
                })
            })
            .collect()
    }

    fn hook_view(&self, hook: HookRecord, shown: Option<String>) -> Result<HookView, Error> {
        let secrets = self.open_hook_secrets(&hook)?;
        Ok(HookView {
            secret: shown,
            previous_secret_until: secrets.previous_until,
            name: hook.name,
            config: hook.config,
            created_at: hook.created_at,
            updated_at: hook.updated_at,
        })
    }

    async fn hook_record(&self, pool: &PoolRecord, name: &str) -> Result<HookRecord, Error> {
        self.store
            .list_hooks(pool.id)
            .await?
            .into_iter()
            .find(|h| h.name == name)
            .ok_or(Error::HookNotFound)
    }

    pub async fn hooks(&self, pool: &PoolRecord) -> Result<Vec<HookView>, Error> {
        self.store
            .list_hooks(pool.id)
            .await?
            .into_iter()
            .map(|h| self.hook_view(h, None))
            .collect()
    }

    pub async fn hook(&self, pool: &PoolRecord, name: &str) -> Result<HookView, Error> {
        let record = self.hook_record(pool, name).await?;
        self.hook_view(record, None)
    }

    /// `POST /admin/v1/pools/{pool}/hooks`: `input` holds `name` and the fields of
    /// [`HookConfig`]; the answer shows the new secret, once.
    pub async fn create_hook(
        &self,
        pool: &PoolRecord,
        mut input: Map<String, Value>,
        actor: &Actor,
        now: i64,
    ) -> Result<HookView, Error> {
        let name = match input.remove("name") {
            Some(Value::String(n)) if crate::idp::valid_name(&n) => n,
            _ => {
                return Err(Error::InvalidHookConfig(format!(
                    "`name` is 1 to {} of a-z, 0-9 and `-`, starting with a letter",
                    crate::idp::IDP_NAME_MAX
                )));
            }
        };
        let config = hooks::parse_config(input)?;
        let secrets = HookSecrets::new();
        let record = HookRecord {
            pool_id: pool.id,
            secrets_sealed: self.seal_hook_secrets(pool.id, &name, &secrets)?,
            name,
            config,
            created_at: now,
            updated_at: now,
        };
        let audit = Self::audit(
            pool.id,
            None,
            "hook_created",
            json!({ "actor": actor, "hook": record.name, "trigger": record.config.trigger, "url": record.config.url }),
            now,
        );
        self.store.insert_hook(&record, &audit).await?;
        self.hook_view(record, Some(secrets.current))
    }

    /// `PATCH …/hooks/{hook}`: a JSON merge patch (RFC 7396) of the configuration.
    pub async fn update_hook(
        &self,
        pool: &PoolRecord,
        name: &str,
        patch: Map<String, Value>,
        actor: &Actor,
        now: i64,
    ) -> Result<HookView, Error> {
        let current = self.hook_record(pool, name).await?;
        if patch.contains_key("name") || patch.contains_key("secret") {
            return Err(Error::InvalidHookConfig(
                "a hook's name does not change, and its secret changes by rotation".into(),
            ));
        }
        let keeps_policy = patch.contains_key("failure_policy");
        let mut fields = serde_json::to_value(&current.config).map_err(|_| Error::Crypto)?;
        super::merge_patch(&mut fields, &Value::Object(patch));
        let Value::Object(mut fields) = fields else {
            return Err(Error::InvalidHookConfig(
                "the configuration is an object".into(),
            ));
        };
        // A hook moved to another trigger takes that trigger's default policy unless the
        // patch names one.
        if !keeps_policy && fields.get("trigger") != Some(&json!(current.config.trigger)) {
            fields.remove("failure_policy");
        }
        let config = hooks::parse_config(fields)?;
        let record = HookRecord {
            config,
            updated_at: now,
            ..current
        };
        let audit = Self::audit(
            pool.id,
            None,
            "hook_updated",
            json!({ "actor": actor, "hook": name, "trigger": record.config.trigger, "url": record.config.url }),
            now,
        );
        self.store.update_hook(&record, &audit).await?;
        self.hook_view(record, None)
    }

    /// `POST …/hooks/{hook}/rotate-secret`: a new secret, shown once; the previous one signs
    /// too for `overlap` seconds (default a day, at most a week; 0 ends it now).
    pub async fn rotate_hook_secret(
        &self,
        pool: &PoolRecord,
        name: &str,
        overlap: Option<i64>,
        actor: &Actor,
        now: i64,
    ) -> Result<HookView, Error> {
        let overlap = overlap.unwrap_or(hooks::OVERLAP_DEFAULT_SECONDS);
        if !(0..=hooks::OVERLAP_MAX_SECONDS).contains(&overlap) {
            return Err(Error::InvalidHookConfig(
                "`overlap_seconds` is 0 to 604800".into(),
            ));
        }
        let current = self.hook_record(pool, name).await?;
        let secrets = self.open_hook_secrets(&current)?.rotated(overlap, now);
        let record = HookRecord {
            secrets_sealed: self.seal_hook_secrets(pool.id, name, &secrets)?,
            updated_at: now,
            ..current
        };
        let audit = Self::audit(
            pool.id,
            None,
            "hook_secret_rotated",
            json!({ "actor": actor, "hook": name, "overlap_seconds": overlap }),
            now,
        );
        self.store.update_hook(&record, &audit).await?;
        self.hook_view(record, Some(secrets.current))
    }

    pub async fn delete_hook(
        &self,
        pool: &PoolRecord,
        name: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        let audit = Self::audit(
            pool.id,
            None,
            "hook_deleted",
            json!({ "actor": actor, "hook": name }),
            now,
        );
        self.store.delete_hook(pool.id, name, &audit).await
    }
}
