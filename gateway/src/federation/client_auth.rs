//! Signed client credentials at an IdP's token endpoint: a `private_key_jwt` assertion
//! (RFC 7523 §2.2, OIDC Core §9) and Apple's client secret (an ES256 JWT from the team's
//! key, `iss` the team, `sub` the client, `aud` Apple). Both are signed with the IdP's sealed
//! P-256 key and live a few minutes.

use accounts::idp::{IdpConfig, IdpSecrets};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::Error;

/// How long a signed client credential lives, seconds.
const LIFETIME: i64 = 300;
/// Apple's audience for client secrets.
const APPLE_AUDIENCE: &str = "https://appleid.apple.com";

fn sign(c: &IdpConfig, secrets: &IdpSecrets, claims: &serde_json::Value) -> Result<String, Error> {
    let pem = secrets
        .private_key
        .as_deref()
        .ok_or_else(|| Error::Refused("no private key configured".into()))?;
    let key = accounts::idp::pkcs8_der(pem)
        .map(|der| EncodingKey::from_ec_der(&der))
        .ok_or_else(|| {
            Error::Refused("the configured private key is not a PEM PKCS#8 key".into())
        })?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid.clone_from(&c.key_id);
    jsonwebtoken::encode(&header, claims, &key)
        .map_err(|_| Error::Refused("the client credential could not be signed".into()))
}

/// A `private_key_jwt` client assertion for `token_url`.
pub fn assertion(
    c: &IdpConfig,
    secrets: &IdpSecrets,
    token_url: &str,
    now: i64,
) -> Result<String, Error> {
    let claims = json!({
        "iss": c.client_id,
        "sub": c.client_id,
        "aud": token_url,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "exp": now + LIFETIME,
    });
    sign(c, secrets, &claims)
}

/// Apple's client secret.
pub fn apple_secret(c: &IdpConfig, secrets: &IdpSecrets, now: i64) -> Result<String, Error> {
    let claims = json!({
        "iss": c.team_id,
        "sub": c.client_id,
        "aud": APPLE_AUDIENCE,
        "iat": now,
        "exp": now + LIFETIME,
    });
    sign(c, secrets, &claims)
}
