//! Ephemeral state: SIWE nonces, rate counters, authorization codes and challenges. One trait,
//! an in-process implementation for a single instance and a Redis one for many instances
//! sharing state. Every read that consumes is atomic (`GETDEL`), never read-then-write.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use accounts::Error;

mod redis_store;
pub mod topology;

pub use redis_store::{COMMAND_TIMEOUT, RedisEphemeral, Watch, watch_primaries};

#[async_trait]
pub trait Ephemeral: Send + Sync {
    /// Stores `value` under `key` for `ttl`, only if the key is absent. True when stored.
    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, Error>;
    /// Removes and returns the value, atomically: two callers never both get it.
    async fn take(&self, key: &str) -> Result<Option<String>, Error>;
    /// Reads the value and leaves it (pending authorization requests, read on each try).
    async fn get(&self, key: &str) -> Result<Option<String>, Error>;
    /// Counts one hit on each key, in a fixed window per key that starts at its first hit,
    /// and returns the new counts: increment first, decide on the returned value, so no
    /// number of parallel requests gets past a limit. One round trip where the store allows.
    async fn hits(&self, keys: &[(&str, Duration)]) -> Result<Vec<u64>, Error>;
    /// Takes back one hit from each key (never below zero): a reserved attempt that turned
    /// out not to count.
    async fn unhit(&self, keys: &[&str]) -> Result<(), Error>;
    /// Counts one hit; returns the count (see [`Ephemeral::hits`]).
    async fn hit(&self, key: &str, window: Duration) -> Result<u64, Error> {
        Ok(self
            .hits(&[(key, window)])
            .await?
            .first()
            .copied()
            .unwrap_or(u64::MAX))
    }
    /// Counts a hit on `counter` (see [`Ephemeral::hits`]) and, when the count is at most
    /// `max`, takes `key` (see [`Ephemeral::take`]): one round trip where the store allows.
    /// Past `max`, nothing is taken.
    async fn hit_and_take(
        &self,
        counter: (&str, Duration),
        max: u64,
        key: &str,
    ) -> Result<(u64, Option<String>), Error> {
        count_then(self, counter, max, None, || self.take(key)).await
    }
    /// Counts a hit on `counter` and, when the count is at most `max`, stores `value` under
    /// `key` if absent (see [`Ephemeral::put_new`]): one round trip where the store allows.
    async fn hit_and_put_new(
        &self,
        counter: (&str, Duration),
        max: u64,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(u64, bool), Error> {
        count_then(self, counter, max, false, || self.put_new(key, value, ttl)).await
    }
    async fn delete(&self, key: &str) -> Result<(), Error>;
    /// Readiness check.
    async fn ping(&self) -> Result<(), Error>;
    /// A watch on who serves as primary, where a restart or failover can lose state.
    fn watch(&self) -> Option<Watch> {
        None
    }
}

/// The two-step form of the combined scripts: counts a hit on `counter`, then runs `then`
/// only when the count is at most `max` (past it the answer is `past`, and nothing is done).
pub(crate) async fn count_then<E, T, F>(
    store: &E,
    counter: (&str, Duration),
    max: u64,
    past: T,
    then: impl FnOnce() -> F,
) -> Result<(u64, T), Error>
where
    E: Ephemeral + ?Sized,
    F: std::future::Future<Output = Result<T, Error>>,
{
    let n = store.hit(counter.0, counter.1).await?;
    if n > max {
        return Ok((n, past));
    }
    Ok((n, then().await?))
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

    async fn hits(&self, keys: &[(&str, Duration)]) -> Result<Vec<u64>, Error> {
        let now = Instant::now();
        Ok(self.with(|m| {
            keys.iter()
                .map(|(key, window)| {
                    let entry = m
                        .entry((*key).to_string())
                        .or_insert_with(|| ("0".into(), now + *window));
                    if entry.1 <= now {
                        *entry = ("0".into(), now + *window);
                    }
                    let n = entry.0.parse::<u64>().unwrap_or(0) + 1;
                    entry.0 = n.to_string();
                    n
                })
                .collect()
        }))
    }

    async fn unhit(&self, keys: &[&str]) -> Result<(), Error> {
        let now = Instant::now();
        self.with(|m| {
            for key in keys {
                if let Some(entry) = m.get_mut(*key).filter(|e| e.1 > now) {
                    let n = entry.0.parse::<u64>().unwrap_or(0).saturating_sub(1);
                    entry.0 = n.to_string();
                }
            }
        });
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.with(|m| m.remove(key));
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
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
        let w = Duration::from_secs(60);
        assert_eq!(e.hits(&[("c", w), ("d", w)]).await.unwrap(), [3, 1]);
        e.unhit(&["c", "d", "absent"]).await.unwrap();
        e.unhit(&["d"]).await.unwrap();
        assert_eq!(e.hits(&[("c", w), ("d", w)]).await.unwrap(), [3, 1]);
        e.delete("c").await.unwrap();
        assert_eq!(e.hit("c", w).await.unwrap(), 1);
        assert!(e.put_new("x", "v", Duration::from_millis(1)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(e.take("x").await.unwrap(), None);
    }
}
