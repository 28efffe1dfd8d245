//! Unified tokens: RFC 9068 access tokens and OIDC Core ID tokens, the same claims whichever
//! credential signed the account in, and verification of access tokens presented to
//! `/v1/me`.

use accounts::store::{PoolRecord, SessionRecord};
use accounts::{AccountId, Error, Issued, SessionId};
use serde::Serialize;
use serde_json::{Value, json};

use crate::keys::{Alg, PoolKeys};

/// Tokens issued by the direct `/v1` API (no OAuth client) name this client.
pub const DIRECT_CLIENT: &str = "direct";

/// Clock skew tolerated when checking `exp` and `iat` of presented tokens.
const LEEWAY: i64 = 60;

/// A token set, as every sign-in answers it.
#[derive(Serialize)]
pub struct TokenSet {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSet(<redacted>)")
    }
}

/// Builds and signs the token set for a sign-in or refresh.
pub fn issue(
    keys: &PoolKeys,
    issuer: &str,
    pool: &PoolRecord,
    issued: &Issued,
    now: i64,
) -> Result<TokenSet, Error> {
    let s: &SessionRecord = &issued.session;
    let a = &issued.account;
    let client_id = s.client_id.as_deref().unwrap_or(DIRECT_CLIENT);
    let access_ttl = pool.config.access_token_ttl;
    let jti = uuid::Uuid::new_v4().to_string();
    let mut access = json!({
        "iss": issuer,
        "sub": a.sub,
        "aud": issuer,
        "client_id": client_id,
        "iat": now,
        "exp": now + access_ttl,
        "jti": jti,
        "scope": "openid email profile",
        "auth_time": s.auth_time,
        "amr": s.amr,
        "sid": s.id,
        "groups": a.groups,
        "wallets": a.wallets,
    });
    if let Some(w) = &s.wallet {
        access["wallet"] = json!(w);
    }
    let id = json!({
        "iss": issuer,
        "sub": a.sub,
        "aud": client_id,
        "iat": now,
        "exp": now + pool.config.id_token_ttl,
        "auth_time": s.auth_time,
        "amr": s.amr,
        "sid": s.id,
        "email": a.email,
        "email_verified": a.email_verified,
        "wallets": a.wallets,
    });
    Ok(TokenSet {
        access_token: keys.sign(Alg::Es256, "at+jwt", &access)?,
        id_token: keys.sign(Alg::Es256, "JWT", &id)?,
        refresh_token: issued.refresh_token.expose().to_string(),
        token_type: "Bearer",
        expires_in: access_ttl,
    })
}

/// An access token for a client acting on its own behalf (`client_credentials`, RFC 6749
/// §4.4): `sub` is the client id (RFC 9068 §2.2), no user claims, no session.
pub fn issue_client_token(
    keys: &PoolKeys,
    issuer: &str,
    client_id: &str,
    scope: &str,
    ttl: i64,
    now: i64,
) -> Result<String, Error> {
    let claims = json!({
        "iss": issuer,
        "sub": client_id,
        "aud": issuer,
        "client_id": client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid::Uuid::new_v4().to_string(),
        "scope": scope,
    });
    keys.sign(Alg::Es256, "at+jwt", &claims)
}

/// What a valid access token says about its bearer.
#[derive(Clone, Debug)]
pub struct AccessClaims {
    pub sub: AccountId,
    pub sid: SessionId,
    pub amr: Vec<String>,
    pub auth_time: i64,
    pub claims: Value,
}

/// Checks an access token from this pool: signature by a published key, `typ: at+jwt`
/// (RFC 9068 §4; an ID token is refused), issuer, audience and lifetime. Its claims, a
/// user's or a client's own (`client_credentials`).
pub fn verify_access_jwt(keys: &PoolKeys, issuer: &str, token: &str, now: i64) -> Option<Value> {
    let (header, claims) = keys.verify(token)?;
    if header.get("typ")?.as_str()? != "at+jwt" {
        return None;
    }
    let str_claim = |k: &str| claims.get(k).and_then(Value::as_str);
    let int_claim = |k: &str| claims.get(k).and_then(Value::as_i64);
    if str_claim("iss")? != issuer || str_claim("aud")? != issuer {
        return None;
    }
    if int_claim("exp")? + LEEWAY <= now || int_claim("iat")? - LEEWAY > now {
        return None;
    }
    Some(claims)
}

impl AccessClaims {
    /// A user's access token: `sub`, `sid`, `amr` and `auth_time` present. None for a
    /// client's own token.
    pub fn of_user(claims: Value) -> Option<AccessClaims> {
        let str_claim = |k: &str| claims.get(k).and_then(Value::as_str);
        Some(AccessClaims {
            sub: AccountId::parse(str_claim("sub")?)?,
            sid: SessionId::parse(str_claim("sid")?)?,
            amr: claims
                .get("amr")?
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            auth_time: claims.get("auth_time").and_then(Value::as_i64)?,
            claims,
        })
    }
}

/// A user's access token from this pool (see [`verify_access_jwt`]).
pub fn verify_access(keys: &PoolKeys, issuer: &str, token: &str, now: i64) -> Option<AccessClaims> {
    AccessClaims::of_user(verify_access_jwt(keys, issuer, token, now)?)
}
