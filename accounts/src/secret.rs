//! Secrets: random tokens and codes, keyed hashes, and sealing with the master key.
//!
//! Codes and refresh tokens are stored as keyed hashes (HMAC-SHA256 with a key derived
//! from the master key), so a database dump alone neither reveals nor brute-forces them.
//! Sealing is AES-256-GCM with a random 96-bit nonce and the purpose as associated data.

use aws_lc_rs::{aead, hkdf, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;

use crate::Error;

/// A string that must never be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Fills `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The system RNG failing is not recoverable; aws-lc aborts rather than return weak bytes.
    if rand::fill(&mut buf).is_err() {
        panic_rng();
    }
    buf
}

#[allow(clippy::panic)]
fn panic_rng() -> ! {
    panic!("the operating system's random number generator failed")
}

/// A 256-bit opaque token, base64url without padding.
pub fn random_token() -> Secret {
    Secret(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A 6-digit code, uniform over 000000..=999999 (rejection sampling avoids modulo bias).
pub fn random_code() -> Secret {
    loop {
        let v = u32::from_le_bytes(random_bytes::<4>());
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if v < 4_294_000_000 {
            return Secret(format!("{:06}", v % 1_000_000));
        }
    }
}

/// The operator's master key and the keys derived from it.
pub struct MasterKey {
    seal: aead::LessSafeKey,
    mac: hmac::Key,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl MasterKey {
    /// A master key is 32 bytes; operators give it as 64 hex characters or base64.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != 32 {
            return Err(Error::Crypto);
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"gatehouse/v1").extract(bytes);
        let derive = |info: &'static [u8]| -> Result<[u8; 32], Error> {
            let mut out = [0u8; 32];
            prk.expand(&[info], Len(32))
                .and_then(|okm| okm.fill(&mut out))
                .map_err(|_| Error::Crypto)?;
            Ok(out)
        };
        let seal_key = derive(b"seal")?;
        let mac_key = derive(b"mac")?;
        let unbound =
            aead::UnboundKey::new(&aead::AES_256_GCM, &seal_key).map_err(|_| Error::Crypto)?;
        Ok(Self {
            seal: aead::LessSafeKey::new(unbound),
            mac: hmac::Key::new(hmac::HMAC_SHA256, &mac_key),
        })
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).map_err(|_| Error::Crypto)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| Error::Crypto)?
        };
        Self::from_bytes(&bytes)
    }

    /// A new random master key, hex encoded.
    pub fn generate_hex() -> String {
        hex::encode(random_bytes::<32>())
    }

    /// Encrypts `plain`; `purpose` is bound as associated data so a sealed value of one
    /// kind cannot be replayed as another.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce_bytes = random_bytes::<12>();
        let mut buf = plain.to_vec();
        self.seal
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce_bytes),
                aead::Aad::from(purpose.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Crypto)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        if sealed.len() < 12 + 16 {
            return Err(Error::Crypto);
        }
        let (nonce, rest) = sealed.split_at(12);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Crypto)?;
        let mut buf = rest.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, aead::Aad::from(purpose.as_bytes()), &mut buf)
            .map_err(|_| Error::Crypto)?;
        Ok(plain.to_vec())
    }

    /// Keyed hash of a secret (code, refresh token) for storage and look-up, hex encoded.
    pub fn hash(&self, purpose: &str, secret: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.mac);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(secret.as_bytes());
        hex::encode(ctx.sign().as_ref())
    }

    /// The successor of a refresh token: derived, not random, so presenting the same token
    /// twice within the grace period yields the same successor without storing it.
    pub fn successor_token(&self, token: &str) -> Secret {
        let tag = hmac::sign(&self.mac, format!("refresh-successor\0{token}").as_bytes());
        Secret(URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_purpose_binding() {
        let k = MasterKey::parse(&MasterKey::generate_hex()).unwrap();
        let s = k.seal("a", b"hello").unwrap();
        assert_eq!(k.open("a", &s).unwrap(), b"hello");
        assert!(k.open("b", &s).is_err());
        let mut t = s.clone();
        t[15] ^= 1;
        assert!(k.open("a", &t).is_err());
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = random_code();
            assert_eq!(c.expose().len(), 6);
            assert!(c.expose().chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn tokens_are_256_bits() {
        let t = random_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(t.expose()).unwrap().len(), 32);
        assert_ne!(t, random_token());
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn successor_is_deterministic() {
        let k = MasterKey::parse(&MasterKey::generate_hex()).unwrap();
        assert_eq!(k.successor_token("x"), k.successor_token("x"));
        assert_ne!(k.successor_token("x"), k.successor_token("y"));
    }
}
