//! Ephemeral state: challenge sessions, rate counters and (later) SIWE nonces. One trait,
//! an in-process implementation for a single instance and a Redis one for many instances
//! sharing state. Every read that consumes is atomic (`GETDEL`), never read-then-write.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Error;

#[async_trait]
pub trait Ephemeral: Send + Sync {
    /// Stores `value` under `key` for `ttl`, only if the key is absent. True when stored.
    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, Error>;
    /// Removes and returns the value, atomically: two callers never both get it.
    async fn take(&self, key: &str) -> Result<Option<String>, Error>;
    /// Reads the value and leaves it (pending authorization requests, read on each try).
    async fn get(&self, key: &str) -> Result<Option<String>, Error>;
    /// Counts one hit in a fixed window starting at the first hit; returns the count.
    async fn hit(&self, key: &str, window: Duration) -> Result<u64, Error>;
    /// The current count of a window without adding to it.
    async fn count(&self, key: &str) -> Result<u64, Error>;
    /// Several counts at once (one round trip where the store allows).
    async fn counts(&self, keys: &[String]) -> Result<Vec<u64>, Error> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.count(k).await?);
        }
        Ok(out)
    }
    async fn delete(&self, key: &str) -> Result<(), Error>;
    /// Readiness check.
    async fn ping(&self) -> Result<(), Error>;
}

/// In-process store for a single gateway instance.
#[derive(Default)]
pub struct MemoryEphemeral {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (String, Instant)>,
    /// Size after the last sweep: the next sweep waits until the map has doubled, so
    /// sweeping stays amortised O(1) per call however many keys are live.
    swept_at: usize,
}

impl MemoryEphemeral {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (String, Instant)>) -> T) -> T {
        let mut entries = match self.entries.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if entries.map.len() > 1024.max(2 * entries.swept_at) {
            let now = Instant::now();
            entries.map.retain(|_, (_, exp)| *exp > now);
            entries.swept_at = entries.map.len();
        }
        f(&mut entries.map)
    }
}

#[async_trait]
impl Ephemeral for MemoryEphemeral {
    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, Error> {
        let now = Instant::now();
        Ok(self.with(|m| match m.get(key) {
            Some((_, exp)) if *exp > now => false,
            _ => {
                m.insert(key.to_string(), (value.to_string(), now + ttl));
                true
            }
        }))
    }

    async fn take(&self, key: &str) -> Result<Option<String>, Error> {
        let now = Instant::now();
        Ok(self.with(|m| m.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)))
    }

    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        let now = Instant::now();
        Ok(self.with(|m| {
            m.get(key)
                .filter(|(_, exp)| *exp > now)
                .map(|(v, _)| v.clone())
        }))
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<u64, Error> {
        let now = Instant::now();
        Ok(self.with(|m| {
            let entry = m
                .entry(key.to_string())
                .or_insert_with(|| ("0".into(), now + window));
            if entry.1 <= now {
                *entry = ("0".into(), now + window);
            }
            let n = entry.0.parse::<u64>().unwrap_or(0) + 1;
            entry.0 = n.to_string();
            n
        }))
    }

    async fn count(&self, key: &str) -> Result<u64, Error> {
        let now = Instant::now();
        Ok(self.with(|m| match m.get(key) {
            Some((v, exp)) if *exp > now => v.parse().unwrap_or(0),
            _ => 0,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.with(|m| m.remove(key));
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// Redis store shared by every gateway instance.
pub struct RedisEphemeral {
    conn: ConnectionManager,
    prefix: String,
}

const HIT_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n";

impl RedisEphemeral {
    /// Connects to `url`; fails if Redis cannot be reached now.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(5))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let this = Self {
            conn,
            prefix: prefix.to_string(),
        };
        this.ping().await?;
        Ok(this)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl Ephemeral for RedisEphemeral {
    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, Error> {
        let mut c = self.conn.clone();
        let r: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut c)
            .await?;
        Ok(r.is_some())
    }

    async fn take(&self, key: &str) -> Result<Option<String>, Error> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?)
    }

    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?)
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<u64, Error> {
        let mut c = self.conn.clone();
        Ok(redis::Script::new(HIT_SCRIPT)
            .key(self.key(key))
            .arg(millis(window))
            .invoke_async(&mut c)
            .await?)
    }

    async fn count(&self, key: &str) -> Result<u64, Error> {
        let mut c = self.conn.clone();
        let v: Option<u64> = redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?;
        Ok(v.unwrap_or(0))
    }

    async fn counts(&self, keys: &[String]) -> Result<Vec<u64>, Error> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("MGET");
        for k in keys {
            cmd.arg(self.key(k));
        }
        let values: Vec<Option<u64>> = cmd.query_async(&mut c).await?;
        Ok(values.into_iter().map(|v| v.unwrap_or(0)).collect())
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let _: i64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_semantics() {
        let e = MemoryEphemeral::new();
        assert!(e.put_new("k", "v", Duration::from_secs(60)).await.unwrap());
        assert!(!e.put_new("k", "w", Duration::from_secs(60)).await.unwrap());
        assert_eq!(e.take("k").await.unwrap().as_deref(), Some("v"));
        assert_eq!(e.take("k").await.unwrap(), None);
        assert_eq!(e.hit("c", Duration::from_secs(60)).await.unwrap(), 1);
        assert_eq!(e.hit("c", Duration::from_secs(60)).await.unwrap(), 2);
        assert_eq!(e.count("c").await.unwrap(), 2);
        e.delete("c").await.unwrap();
        assert_eq!(e.count("c").await.unwrap(), 0);
        assert!(e.put_new("x", "v", Duration::from_millis(1)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(e.take("x").await.unwrap(), None);
    }
}
