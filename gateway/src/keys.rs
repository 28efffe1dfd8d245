//! Signing keys: per pool an ES256 and an RS256 key, generated on first start, sealed with
//! the master key, published in the JWKS before they sign anything and kept there until every
//! token they signed has expired. JWTs are signed and verified here with aws-lc directly.

use accounts::secret::MasterKey;
use accounts::store::{DynStore, PoolRecord, SigningKeyRecord};
use accounts::{Error, PoolId};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The algorithms every pool signs with. ES256 is the default; RS256 is what OIDC requires
/// every provider to offer for ID tokens.
pub const ALGORITHMS: [Alg; 2] = [Alg::Es256, Alg::Rs256];

/// The longest a token signed by a key can live (the pool policy caps lifetimes at one day),
/// plus clock skew: how long a superseded key stays in the JWKS after its successor starts.
pub const RETIRE_AFTER: i64 = 86_400 + 300;

/// How long the JWKS may be cached by verifiers, and so how early a new key is published
/// before it signs, by default.
pub const DEFAULT_ACTIVATION_DELAY: i64 = 600;

/// How often an instance re-reads the pool's keys (to see rotations and revocations done
/// elsewhere).
pub const RELOAD_EVERY: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    Es256,
    Rs256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Alg::Es256),
            "RS256" => Some(Alg::Rs256),
            _ => None,
        }
    }
}

enum Signer {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

enum Verifier {
    Es256(Vec<u8>),
    Rs256 { n: Vec<u8>, e: Vec<u8> },
}

/// One pool's keys as loaded at one moment.
pub struct PoolKeys {
    signers: HashMap<Alg, (String, Signer)>,
    verifiers: HashMap<String, (Alg, Verifier)>,
    jwks: Value,
    loaded_at: i64,
    /// The earliest future moment the signing choice changes (a key activates or retires).
    next_change: i64,
}

impl PoolKeys {
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Signs `claims` as a JWT with the pool's current key for `alg`.
    pub fn sign(&self, alg: Alg, typ: &str, claims: &impl Serialize) -> Result<String, Error> {
        self.sign_with_header(alg, json!({ "typ": typ }), claims)
    }

    /// Signs `claims` with `header`'s fields beside `alg` and `kid` (which are the key's).
    pub fn sign_with_header(
        &self,
        alg: Alg,
        mut header: Value,
        claims: &impl Serialize,
    ) -> Result<String, Error> {
        let (kid, signer) = self.signers.get(&alg).ok_or(Error::Crypto)?;
        if let Some(h) = header.as_object_mut() {
            h.insert("alg".into(), json!(alg.as_str()));
            h.insert("kid".into(), json!(kid));
        }
        let mut out = String::with_capacity(1024);
        out.push_str(&B64.encode(serde_json::to_vec(&header).map_err(|_| Error::Crypto)?));
        out.push('.');
        out.push_str(&B64.encode(serde_json::to_vec(claims).map_err(|_| Error::Crypto)?));
        let rng = SystemRandom::new();
        let sig = match signer {
            Signer::Es256(k) => k
                .sign(&rng, out.as_bytes())
                .map_err(|_| Error::Crypto)?
                .as_ref()
                .to_vec(),
            Signer::Rs256(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, out.as_bytes(), &mut sig)
                    .map_err(|_| Error::Crypto)?;
                sig
            }
        };
        out.push('.');
        out.push_str(&B64.encode(sig));
        Ok(out)
    }

    /// Verifies a compact JWT signed by one of this pool's published keys and returns its
    /// header and claims. The algorithm is pinned by the key, never taken from the token.
    pub fn verify(&self, token: &str) -> Option<(Value, Value)> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || token.len() > 16_384 {
            return None;
        }
        let header: Value = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
        let kid = header.get("kid")?.as_str()?;
        let (alg, verifier) = self.verifiers.get(kid)?;
        if header.get("alg")?.as_str()? != alg.as_str() {
            return None;
        }
        let sig = B64.decode(s).ok()?;
        let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
        let ok = match verifier {
            Verifier::Es256(point) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed, &sig)
                    .is_ok()
            }
            Verifier::Rs256 { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &sig)
                .is_ok(),
        };
        if !ok {
            return None;
        }
        let claims: Value = serde_json::from_slice(&B64.decode(p).ok()?).ok()?;
        Some((header, claims))
    }
}

/// Generates a key pair: the sealed PKCS#8 private key and the public JWK.
fn generate(alg: Alg, master: &MasterKey) -> Result<(String, Vec<u8>, Value), Error> {
    let kid = B64.encode(accounts::secret::random_bytes::<12>());
    let (pkcs8, jwk) = match alg {
        Alg::Es256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| Error::Crypto)?;
            let pair =
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                    .map_err(|_| Error::Crypto)?;
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(Error::Crypto);
            }
            let jwk = json!({ "kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]) });
            (doc.as_ref().to_vec(), jwk)
        }
        Alg::Rs256 => {
            let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| Error::Crypto)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                .map_err(|_| Error::Crypto)?;
            let public = pair.public_key();
            let jwk = json!({
                "kty": "RSA",
                "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
                "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
            });
            (der.as_ref().to_vec(), jwk)
        }
    };
    let mut jwk = jwk;
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(alg.as_str());
    jwk["use"] = json!("sig");
    let sealed = master.seal(&format!("signing-key:{kid}"), &pkcs8)?;
    Ok((kid, sealed, jwk))
}

fn load_signer(alg: Alg, pkcs8: &[u8]) -> Result<Signer, Error> {
    Ok(match alg {
        Alg::Es256 => Signer::Es256(
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map_err(|_| Error::Crypto)?,
        ),
        Alg::Rs256 => Signer::Rs256(RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| Error::Crypto)?),
    })
}

fn load_verifier(alg: Alg, jwk: &Value) -> Result<Verifier, Error> {
    let field = |k: &str| -> Result<Vec<u8>, Error> {
        B64.decode(jwk.get(k).and_then(Value::as_str).ok_or(Error::Crypto)?)
            .map_err(|_| Error::Crypto)
    };
    Ok(match alg {
        Alg::Es256 => {
            let mut point = vec![4u8];
            point.extend(field("x")?);
            point.extend(field("y")?);
            Verifier::Es256(point)
        }
        Alg::Rs256 => Verifier::Rs256 {
            n: field("n")?,
            e: field("e")?,
        },
    })
}

/// Every pool's keys, cached per instance and re-read periodically.
pub struct KeyRing {
    store: DynStore,
    master: Arc<MasterKey>,
    cache: RwLock<HashMap<PoolId, Arc<PoolKeys>>>,
}

impl KeyRing {
    pub fn new(store: DynStore, master: Arc<MasterKey>) -> Self {
        Self {
            store,
            master,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Makes sure the pool has a key for every algorithm (first start). Instances starting
    /// together race here; the store keeps one live key per algorithm, the first written, and
    /// every instance then reads the same keys (one JWKS).
    pub async fn ensure(&self, pool: &PoolRecord, now: i64) -> Result<(), Error> {
        let existing = self.store.list_signing_keys(pool.id).await?;
        for alg in ALGORITHMS {
            if !existing
                .iter()
                .any(|k| k.alg == alg.as_str() && k.retires_at.is_none())
            {
                self.insert(pool.id, alg, now, None, now).await?;
            }
        }
        Ok(())
    }

    async fn insert(
        &self,
        pool: PoolId,
        alg: Alg,
        activates_at: i64,
        supersede: Option<i64>,
        now: i64,
    ) -> Result<String, Error> {
        let (kid, sealed, jwk) = generate(alg, &self.master)?;
        let rec = SigningKeyRecord {
            kid: kid.clone(),
            pool_id: pool,
            alg: alg.as_str().into(),
            private_sealed: sealed,
            public_jwk: jwk,
            created_at: now,
            activates_at,
            retires_at: None,
        };
        self.store.insert_signing_key(&rec, supersede).await?;
        self.cache.write().map_err(|_| Error::Crypto)?.remove(&pool);
        Ok(kid)
    }

    /// Emergency revocation (`gatehouse keys revoke`, the admin API): the key leaves the
    /// JWKS now and verifies nothing more: at once on this instance, within
    /// [`RELOAD_EVERY`] seconds on every other. When it was its algorithm's live key, a new
    /// one signs from now (no publication delay: tokens are re-issued under it at their
    /// next refresh). False when the pool has no such key.
    pub async fn revoke(
        &self,
        pool: &PoolRecord,
        kid: &str,
        actor: &serde_json::Value,
        now: i64,
    ) -> Result<bool, Error> {
        let Some(alg) = self
            .store
            .list_signing_keys(pool.id)
            .await?
            .into_iter()
            .find(|k| k.kid == kid)
            .and_then(|k| Alg::parse(&k.alg))
        else {
            return Ok(false);
        };
        let (new_kid, sealed, jwk) = generate(alg, &self.master)?;
        let replacement = SigningKeyRecord {
            kid: new_kid.clone(),
            pool_id: pool.id,
            alg: alg.as_str().into(),
            private_sealed: sealed,
            public_jwk: jwk,
            created_at: now,
            activates_at: now,
            retires_at: None,
        };
        let audit = accounts::store::AuditEvent {
            pool_id: pool.id,
            account_id: None,
            kind: "signing_key_revoked",
            detail: json!({ "kid": kid, "actor": actor, "replacement": new_kid }),
            created_at: now,
        };
        let revoked = self
            .store
            .revoke_signing_key(pool.id, kid, &replacement, &audit)
            .await?;
        self.cache
            .write()
            .map_err(|_| Error::Crypto)?
            .remove(&pool.id);
        Ok(revoked)
    }

    /// `gatehouse keys rotate`: new keys are published now and sign from `now + delay`; the
    /// old ones keep verifying until every token they signed has expired.
    pub async fn rotate(
        &self,
        pool: &PoolRecord,
        delay: i64,
        now: i64,
    ) -> Result<Vec<String>, Error> {
        let activates_at = now + delay.max(0);
        let mut kids = Vec::new();
        for alg in ALGORITHMS {
            kids.push(
                self.insert(
                    pool.id,
                    alg,
                    activates_at,
                    Some(activates_at + RETIRE_AFTER),
                    now,
                )
                .await?,
            );
        }
        self.cache
            .write()
            .map_err(|_| Error::Crypto)?
            .remove(&pool.id);
        Ok(kids)
    }

    /// The pool's keys as of `now`, from the cache unless it is stale.
    pub async fn keys(&self, pool: PoolId, now: i64) -> Result<Arc<PoolKeys>, Error> {
        if let Some(k) = self.cache.read().map_err(|_| Error::Crypto)?.get(&pool)
            && now < k.loaded_at + RELOAD_EVERY
            && now < k.next_change
        {
            return Ok(k.clone());
        }
        let keys = Arc::new(self.load(pool, now).await?);
        self.cache
            .write()
            .map_err(|_| Error::Crypto)?
            .insert(pool, keys.clone());
        Ok(keys)
    }

    async fn load(&self, pool: PoolId, now: i64) -> Result<PoolKeys, Error> {
        self.store.delete_retired_keys(pool, now).await?;
        let records = self.store.list_signing_keys(pool).await?;
        let mut signers: HashMap<Alg, ((bool, i64), String, Signer)> = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        let mut next_change = i64::MAX;
        for r in records {
            let Some(alg) = Alg::parse(&r.alg) else {
                continue;
            };
            if let Some(retires) = r.retires_at {
                if retires <= now {
                    continue;
                }
                next_change = next_change.min(retires);
            }
            verifiers.insert(r.kid.clone(), (alg, load_verifier(alg, &r.public_jwk)?));
            published.push(r.public_jwk.clone());
            if r.activates_at > now {
                next_change = next_change.min(r.activates_at);
                continue;
            }
            // The newest active key signs; a key that a rotation superseded never beats one
            // that none did (which settles a rotation within the same second).
            let rank = (r.retires_at.is_none(), r.activates_at);
            if signers.get(&alg).is_none_or(|(best, _, _)| *best <= rank) {
                let pkcs8 = self
                    .master
                    .open(&format!("signing-key:{}", r.kid), &r.private_sealed)?;
                signers.insert(alg, (rank, r.kid.clone(), load_signer(alg, &pkcs8)?));
            }
        }
        Ok(PoolKeys {
            signers: signers
                .into_iter()
                .map(|(alg, (_, kid, s))| (alg, (kid, s)))
                .collect(),
            verifiers,
            jwks: json!({ "keys": published }),
            loaded_at: now,
            next_change,
        })
    }
}
