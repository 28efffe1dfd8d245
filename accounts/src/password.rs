//! Password hashing: argon2id, m=19456 KiB, t=2, p=1 (OWASP's recommended minimum), run on
//! the blocking pool behind a semaphore so hashes never stall the async runtime and the
//! memory they hold (19 MiB each) stays bounded.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Semaphore, TryAcquireError};

use crate::Error;
use crate::secret::{Secret, random_bytes};

/// A corpus of passwords known from breaches, asked without revealing the password (the
/// gateway's k-anonymity range check). `normalized` is the NFKC form the pool hashes.
#[async_trait::async_trait]
pub trait BreachedPasswords: Send + Sync {
    /// Whether the corpus has it. When the corpus cannot be asked: `Ok(false)` if the
    /// operator chose to fail open, [`Error::Unavailable`] if closed.
    async fn contains(&self, normalized: &str) -> Result<bool, Error>;
}

/// Hashes that may wait for a permit, per permit: past them a hash is refused at once
/// ([`Error::Overloaded`]) instead of queueing until the request's deadline, so a flood of
/// password sign-ins costs a bounded wait (32 hashes of ~20 ms each per core) and a fast
/// 503 beyond it, never latency that grows with the flood.
pub const WAITING_PER_PERMIT: usize = 32;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Hashes waiting for a permit now, at most `max_waiting`.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// A real hash of a random password, verified for unknown users so that an unknown
    /// email costs the same time as a wrong password (DESIGN rule 5).
    dummy: Arc<String>,
    /// argon2's working memory, one buffer per permit at most (taken with it, given back
    /// after), so the memory held stays `concurrency` × 19 MiB whatever thread runs a hash.
    memory: Arc<std::sync::Mutex<Vec<Vec<argon2::Block>>>>,
}

/// One place in the queue for a permit, given back when dropped (a permit obtained, or the
/// request gone).
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn enter(count: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        if count.fetch_add(1, Ordering::AcqRel) >= max {
            count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(count.clone()))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(19_456, 2, 1, None).map_err(|_| Error::Crypto)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &str) -> Result<String, Error> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|_| Error::Crypto)?;
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::Crypto)
}

/// Verifies `password` against `phc`. A hash with this gateway's parameters is computed into
/// `memory` (argon2's 19 MiB, reused: allocated afresh, it page-faulted on every hash, about
/// a third of the hash's CPU; every block is written before it is read, RFC 9106 §3.4, so
/// what an earlier hash left is never used); any other hash goes to the library's own check.
fn verify_blocking(
    password: &str,
    phc: &str,
    memory: &mut Vec<argon2::Block>,
) -> Result<bool, Error> {
    use subtle::ConstantTimeEq;
    if !phc.starts_with("$argon2") {
        // An imported hash (bcrypt, scrypt, PBKDF2): verified once, then replaced.
        return Ok(crate::legacy_hash::check(phc)
            .is_ok_and(|scheme| crate::legacy_hash::verify(scheme, password, phc)));
    }
    let parsed = PasswordHash::new(phc).map_err(|_| Error::Crypto)?;
    let params = Params::try_from(&parsed).map_err(|_| Error::Crypto)?;
    let standard = argon2()?;
    let argon2id = parsed.algorithm == argon2::ARGON2ID_IDENT
        && parsed
            .version
            .is_none_or(|v| v == u32::from(Version::V0x13))
        && params.m_cost() == standard.params().m_cost()
        && params.t_cost() == standard.params().t_cost()
        && params.p_cost() == standard.params().p_cost();
    let (Some(salt), Some(expected), true) = (parsed.salt, parsed.hash, argon2id) else {
        // Not a hash this gateway writes: the library's own check, whatever it costs.
        return Ok(argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok());
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|_| Error::Crypto)?;
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let blocks = params.block_count();
    if memory.len() != blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    hasher
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .map_err(|_| Error::Crypto)?;
    Ok(bool::from(out.ct_eq(expected)))
}

/// Whether `phc` is a hash this gateway writes (argon2id, its parameters): any other (an
/// imported one) is replaced at the next sign-in that proves the password.
pub fn is_current(phc: &str) -> bool {
    phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
}

impl PasswordHasher {
    /// `concurrency` bounds hashes in flight; the core count is right for most machines.
    pub fn new(concurrency: usize) -> Result<Self, Error> {
        let dummy = hash_blocking(&hex::encode(random_bytes::<16>()))?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: Arc::default(),
            max_waiting: concurrency.max(1) * WAITING_PER_PERMIT,
            dummy: Arc::new(dummy),
            memory: Arc::default(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        // The permit moves into the blocking task: a dropped request (client gone, timeout)
        // does not free it while its 19 MiB hash still runs.
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return Err(Error::Crypto),
            Err(TryAcquireError::NoPermits) => {
                let _queued = Waiting::enter(&self.waiting, self.max_waiting)
                    .ok_or(Error::Overloaded("password hashing"))?;
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| Error::Crypto)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|_| Error::Crypto)?
    }

    /// Hashes an already normalised password into a PHC string.
    pub async fn hash(&self, password: &Secret) -> Result<String, Error> {
        let p = password.clone();
        self.run(move || hash_blocking(p.expose())).await
    }

    /// Verifies against `phc`, or against the dummy hash when there is none (and then
    /// answers false).
    pub async fn verify(&self, password: &Secret, phc: Option<&str>) -> Result<bool, Error> {
        let p = password.clone();
        let (target, real) = match phc {
            Some(h) => (h.to_string(), true),
            None => (self.dummy.as_ref().clone(), false),
        };
        let pool = self.memory.clone();
        let ok = self
            .run(move || {
                let mut memory = pool
                    .lock()
                    .ok()
                    .and_then(|mut m| m.pop())
                    .unwrap_or_default();
                let ok = verify_blocking(p.expose(), &target, &mut memory);
                if let Ok(mut m) = pool.lock() {
                    m.push(memory);
                }
                ok
            })
            .await?;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reused-memory check agrees with the library's own, on a thread whose memory an
    /// earlier hash left dirty, for right and wrong passwords and other parameters.
    #[test]
    fn reused_memory_matches_the_library() {
        let phc = hash_blocking("violet tractor umbrella").unwrap();
        let mut memory = Vec::new();
        for _ in 0..2 {
            assert!(verify_blocking("violet tractor umbrella", &phc, &mut memory).unwrap());
            assert!(!verify_blocking("violet tractor umbrelli", &phc, &mut memory).unwrap());
        }
        let params = Params::new(8_192, 3, 1, Some(24)).unwrap();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &SaltString::encode_b64(b"0123456789abcdef").unwrap())
            .unwrap()
            .to_string();
        assert!(verify_blocking("pw", &other, &mut memory).unwrap());
        assert!(!verify_blocking("pW", &other, &mut memory).unwrap());
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw", &SaltString::encode_b64(b"0123456789abcdef").unwrap())
            .unwrap()
            .to_string();
        assert!(verify_blocking("pw", &argon2i, &mut memory).unwrap());
        assert!(!verify_blocking("px", &argon2i, &mut memory).unwrap());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(2).unwrap();
        let pw = Secret::new("violet tractor umbrella");
        let phc = h.hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(&pw, Some(&phc)).await.unwrap());
        assert!(
            !h.verify(&Secret::new("violet tractor umbrellA"), Some(&phc))
                .await
                .unwrap()
        );
        // The dummy path never succeeds, even for the dummy's own input.
        assert!(!h.verify(&pw, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_flood_waits_a_bounded_time_then_is_refused_at_once() {
        let h = PasswordHasher::new(1).unwrap();
        let pw = Secret::new("violet tractor umbrella");
        // All polled at once: one hashes, 32 wait for the permit, the rest are refused.
        let outcomes = futures_util::future::join_all((0..100).map(|_| h.verify(&pw, None))).await;
        let refused = outcomes
            .iter()
            .filter(|o| matches!(o, Err(Error::Overloaded("password hashing"))))
            .count();
        assert_eq!(refused, 100 - 1 - WAITING_PER_PERMIT, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(false) | Err(Error::Overloaded(_))))
        );
        // The queue empties: the next hash waits for nobody.
        assert_eq!(h.waiting.load(Ordering::Acquire), 0);
        assert!(!h.verify(&pw, None).await.unwrap());
    }
}
