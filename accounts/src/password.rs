//! Password hashing: argon2id, m=19456 KiB, t=2, p=1 (OWASP's recommended minimum), run on
//! the blocking pool behind a semaphore so hashes never stall the async runtime and the
//! memory they hold (19 MiB each) stays bounded.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

use crate::Error;
use crate::secret::{Secret, random_bytes};

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified for unknown users so that an unknown
    /// email costs the same time as a wrong password (DESIGN rule 5).
    dummy: Arc<String>,
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

fn verify_blocking(password: &str, phc: &str) -> Result<bool, Error> {
    let parsed = PasswordHash::new(phc).map_err(|_| Error::Crypto)?;
    Ok(argon2()?
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

impl PasswordHasher {
    /// `concurrency` bounds hashes in flight; the core count is right for most machines.
    pub fn new(concurrency: usize) -> Result<Self, Error> {
        let dummy = hash_blocking(&hex::encode(random_bytes::<16>()))?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(dummy),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        // The permit moves into the blocking task: a dropped request (client gone, timeout)
        // does not free it while its 19 MiB hash still runs.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Crypto)?;
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
        let ok = self
            .run(move || verify_blocking(p.expose(), &target))
            .await?;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
