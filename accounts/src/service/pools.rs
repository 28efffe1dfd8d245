//! Pools as operators manage them: created with a validated configuration, changed by a JSON
//! merge patch (RFC 7396) under a version check (compare and swap, so two concurrent
//! changes never lose one), deleted with everything in them. Every change is audited with
//! the operator who made it.

use serde_json::{Map, Value, json};

use super::{Actor, UserPool};
use crate::policy::PoolConfig;
use crate::store::PoolRecord;
use crate::{Error, PoolId};

/// The pool every install has; it cannot be deleted (the gateway would recreate it).
pub const DEFAULT_POOL: &str = "main";

/// `[a-z0-9][a-z0-9_-]{0,62}`: a pool's name, a path segment of its issuer.
pub fn is_pool_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// A configuration as an operator sends it: every field known (a typo is refused, not
/// ignored: the stored form ignores unknown fields only so that rolling upgrades work), and
/// every rule of [`PoolConfig::validate`] and [`admin_rules`] holding.
pub fn config_from_json(value: Value) -> Result<PoolConfig, Error> {
    if !value.is_object() {
        return Err(Error::InvalidPoolConfig(
            "the configuration must be an object".into(),
        ));
    }
    let config: PoolConfig = serde_json::from_value(value.clone())
        .map_err(|e| Error::InvalidPoolConfig(e.to_string()))?;
    let known = serde_json::to_value(&config).map_err(|_| Error::Crypto)?;
    if let Some(path) = unknown_field(&value, &known, "") {
        return Err(Error::InvalidPoolConfig(format!("unknown field `{path}`")));
    }
    config.validate()?;
    admin_rules(&config)?;
    Ok(config)
}

/// The first field of `given` that `known` (the same value read and written back) lacks.
/// A field written back without it (an empty list or `null` skipped) is known when empty.
fn unknown_field(given: &Value, known: &Value, path: &str) -> Option<String> {
    match (given, known) {
        (Value::Object(g), Value::Object(k)) => g.iter().find_map(|(key, v)| {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match k.get(key) {
                Some(kv) => unknown_field(v, kv, &here),
                None if is_empty(v) => None,
                None => Some(here),
            }
        }),
        (Value::Array(g), Value::Array(k)) => g
            .iter()
            .zip(k)
            .enumerate()
            .find_map(|(i, (gv, kv))| unknown_field(gv, kv, &format!("{path}[{i}]"))),
        _ => None,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Rules an operator's configuration meets beyond what the stored form checks: SIWE domains
/// are RFC 3986 authorities (`host[:port]`, what EIP-4361's `domain` is), URI origins are
/// `scheme://authority`, chain ids are positive.
pub fn admin_rules(config: &PoolConfig) -> Result<(), Error> {
    let bad = |m: String| Err(Error::InvalidPoolConfig(m));
    for d in &config.siwe_domains {
        if !is_authority(d) {
            return bad(format!(
                "siwe_domains: `{d}` is not a lowercase authority (host or host:port, no scheme or path)"
            ));
        }
    }
    for o in &config.siwe_uri_origins {
        let ok = url::Url::parse(o).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none()
                && !o.ends_with('/')
        });
        if !ok {
            return bad(format!(
                "siwe_uri_origins: `{o}` is not an origin (scheme://host[:port])"
            ));
        }
    }
    if config.siwe_chain_ids.contains(&0) {
        return bad("siwe_chain_ids: chain ids are positive".into());
    }
    if !(60..=3600).contains(&config.siwe_nonce_ttl) {
        return bad("siwe_nonce_ttl must be 60 to 3600 seconds".into());
    }
    Ok(())
}

/// `host[:port]`: a DNS name, an IPv4 address or a bracketed IPv6 address (RFC 3986
/// §3.2.2), lower-case, and an optional decimal port.
fn is_authority(s: &str) -> bool {
    if s.is_empty()
        || s.len() > 253
        || s.contains(['/', '?', '#', '@', ' '])
        || s != s.to_lowercase()
    {
        return false;
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (s, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    port_ok && !host.is_empty() && url::Host::parse(host).is_ok()
}

/// Applies a JSON merge patch (RFC 7396) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

impl UserPool {
    /// A new pool named `name` with `config` (a partial configuration: what is left out
    /// takes its default). [`Error::PoolExists`] when the name is taken.
    pub async fn create_pool(
        &self,
        name: &str,
        config: Option<Value>,
        actor: &Actor,
        now: i64,
    ) -> Result<PoolRecord, Error> {
        if !is_pool_name(name) {
            return Err(Error::InvalidPoolConfig(
                "the name must be 1 to 63 of a-z, 0-9, '-' and '_', starting with a letter or digit"
                    .into(),
            ));
        }
        let config = config_from_json(config.unwrap_or_else(|| json!({})))?;
        let pool = PoolRecord {
            id: PoolId::new(),
            name: name.to_string(),
            config,
            created_at: now,
            version: 1,
            updated_at: now,
        };
        let audit = Self::audit(
            pool.id,
            None,
            "admin_pool_created",
            json!({ "actor": actor, "name": name }),
            now,
        );
        self.store.insert_pool(&pool, &audit).await?;
        Ok(pool)
    }

    pub async fn list_pools(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PoolRecord>, Error> {
        self.store.list_pools(after, limit).await
    }

    /// The pool as stored now (not as a cache holds it).
    pub async fn fresh_pool(&self, id: PoolId) -> Result<PoolRecord, Error> {
        self.store.find_pool(id).await?.ok_or(Error::PoolNotFound)
    }

    /// Merges `patch` into the stored configuration and stores it if the version is still
    /// `if_match` (or, without one, the version the merge was made on).
    /// [`Error::VersionMismatch`] when another change came first.
    pub async fn update_pool(
        &self,
        id: PoolId,
        patch: &Value,
        if_match: Option<i64>,
        actor: &Actor,
        now: i64,
    ) -> Result<PoolRecord, Error> {
        // Without a precondition the merge is redone on a newer version (never lost, never a
        // 412 the caller did not ask for); with one, a newer version is refused.
        // (Each miss means another update landed: the loop ends after at most as many tries
        // as there are concurrent writers, bounded here.)
        for _ in 0..32 {
            match self.update_pool_once(id, patch, if_match, actor, now).await {
                Err(Error::VersionMismatch) if if_match.is_none() => continue,
                other => return other,
            }
        }
        Err(Error::VersionMismatch)
    }

    async fn update_pool_once(
        &self,
        id: PoolId,
        patch: &Value,
        if_match: Option<i64>,
        actor: &Actor,
        now: i64,
    ) -> Result<PoolRecord, Error> {
        let current = self.fresh_pool(id).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(Error::VersionMismatch);
        }
        if patch.as_object().is_none_or(|o| o.is_empty()) {
            return Err(Error::InvalidPoolConfig(
                "the body must be a JSON merge patch object that changes something".into(),
            ));
        }
        // An empty list where the default is "every allowed value" is a mistake worth a
        // refusal: `null` (or leaving the field out) gives the default.
        if patch
            .get("siwe_chain_ids")
            .is_some_and(|v| v.as_array().is_some_and(Vec::is_empty))
        {
            return Err(Error::InvalidPoolConfig(
                "siwe_chain_ids must not be empty: give the chains, or null for the default".into(),
            ));
        }
        let mut merged = serde_json::to_value(&current.config).map_err(|_| Error::Crypto)?;
        merge_patch(&mut merged, patch);
        let config = config_from_json(merged)?;
        let changed: Vec<&String> = patch
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let audit = Self::audit(
            id,
            None,
            "admin_pool_updated",
            json!({ "actor": actor, "fields": changed, "version": current.version + 1 }),
            now,
        );
        self.store
            .update_pool_config(id, &config, current.version, now, &audit)
            .await
    }

    /// Deletes the pool and everything in it. [`Error::PoolNotEmpty`] while it has accounts
    /// and `force` is not given; the default pool is never deleted.
    pub async fn delete_pool(
        &self,
        pool: &PoolRecord,
        force: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        if pool.name == DEFAULT_POOL {
            return Err(Error::PoolProtected);
        }
        let audit = Self::audit(
            pool.id,
            None,
            "admin_pool_deleted",
            json!({ "actor": actor, "name": pool.name, "force": force }),
            now,
        );
        self.store.delete_pool(pool.id, force, &audit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named() {
        let e = config_from_json(json!({ "display_name": "A", "pasword_min_length": 9 }));
        assert!(matches!(e, Err(Error::InvalidPoolConfig(m)) if m.contains("pasword_min_length")));
        let e = config_from_json(json!({ "branding": { "primary": "#fff" } }));
        assert!(matches!(e, Err(Error::InvalidPoolConfig(m)) if m.contains("branding.primary")));
        config_from_json(json!({ "display_name": "Acme", "branding": { "logo_url": null } }))
            .unwrap();
    }

    #[test]
    fn siwe_domains_are_authorities() {
        for good in [
            "example.com",
            "app.example.com:8443",
            "127.0.0.1:8080",
            "[::1]:80",
        ] {
            assert!(is_authority(good), "{good}");
        }
        for bad in [
            "https://example.com",
            "example.com/login",
            "user@example.com",
            "",
            "example.com:notaport",
            "example.com:",
            "example.com:99999",
            "::1",
            "Example.COM",
        ] {
            assert!(!is_authority(bad), "{bad}");
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // RFC 7396 Appendix A, a few of its cases.
        let mut t = json!({ "a": "b", "c": { "d": "e", "f": "g" } });
        merge_patch(&mut t, &json!({ "a": "z", "c": { "f": null } }));
        assert_eq!(t, json!({ "a": "z", "c": { "d": "e" } }));
        let mut t = json!({ "a": ["b"] });
        merge_patch(&mut t, &json!({ "a": "c" }));
        assert_eq!(t, json!({ "a": "c" }));
        let mut t = json!({ "e": null });
        merge_patch(&mut t, &json!({ "a": 1 }));
        assert_eq!(t, json!({ "e": null, "a": 1 }));
    }
}
