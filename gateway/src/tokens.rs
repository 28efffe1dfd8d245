//! Unified tokens: RFC 9068 access tokens and OIDC Core ID tokens, the same claims whichever
//! credential signed the account in, and verification of access tokens presented to
//! `/v1/me`.

use accounts::store::{PoolRecord, SessionRecord};
use accounts::{AccountId, Error, Issued, SessionId};
use gatehouse_verify::{self as claims, Caip10 as Caip10Claim};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::hooks::triggers::TokenCustom;

use crate::keys::{Alg, PoolKeys};

/// Tokens issued by the direct `/v1` API (no OAuth client) name this client.
pub const DIRECT_CLIENT: &str = "direct";

/// Clock skew tolerated when checking `exp` and `iat` of presented tokens: a token issued by
/// an instance up to this far ahead or behind validates on every other (`/readyz` fails an
/// instance whose clock is further off the database's).
pub const LEEWAY: i64 = 60;

/// A token set, as every sign-in answers it. The OAuth token endpoint leaves out what the
/// grant does not give (no `id_token` without `openid`, no `refresh_token` for a client
/// that may not refresh) and adds the granted `scope` (RFC 6749 §5.1).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenSet {
    /// An RFC 9068 JWT.
    pub access_token: String,
    /// An OpenID Connect ID token (JWT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Opaque; rotated on every use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    #[schema(value_type = String, pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The granted scope, space-separated (the token endpoint's answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSet(<redacted>)")
    }
}

/// How a token set is cut: the direct API's defaults, or an OAuth client's settings.
#[derive(Clone, Debug)]
pub struct IssueOptions<'a> {
    /// Space-separated granted scope.
    pub scope: &'a str,
    /// The authorization request's `nonce`, echoed in the ID token (OIDC Core §3.1.3.6).
    pub nonce: Option<&'a str>,
    pub id_alg: Alg,
    pub access_ttl: i64,
    pub id_ttl: i64,
    /// Whether the answer carries the refresh token.
    pub refresh: bool,
    /// Whether `scope` goes into the answer (the token endpoint's).
    pub echo_scope: bool,
}

/// The direct `/v1` API's scope: everything about the account.
const DIRECT_SCOPE: &str = "openid email profile";

impl IssueOptions<'static> {
    pub fn direct(pool: &PoolRecord) -> Self {
        IssueOptions {
            scope: DIRECT_SCOPE,
            nonce: None,
            id_alg: Alg::Es256,
            access_ttl: pool.config.access_token_ttl,
            id_ttl: pool.config.id_token_ttl,
            refresh: true,
            echo_scope: false,
        }
    }
}

/// Builds and signs a token set. The ID token exists only with `openid` in scope and says
/// `email` only with `email` (OIDC Core §5.4); the access token's claims are the same
/// whichever credential was used, plus what a `pre_token` hook added (`custom`, whose
/// claims were checked never to touch the gateway's own).
pub fn issue_with(
    keys: &PoolKeys,
    issuer: &str,
    issued: &Issued,
    opt: &IssueOptions<'_>,
    custom: Option<&TokenCustom>,
    now: i64,
) -> Result<TokenSet, Error> {
    let s: &SessionRecord = &issued.session;
    let a = &issued.account;
    let groups = match custom {
        Some(c) => {
            let mut g: Vec<String> = a
                .groups
                .iter()
                .filter(|n| !c.groups.remove.contains(n))
                .cloned()
                .collect();
            for n in &c.groups.add {
                if !g.contains(n) {
                    g.push(n.clone());
                }
            }
            g
        }
        None => a.groups.clone(),
    };
    let client_id = s.client_id.as_deref().unwrap_or(DIRECT_CLIENT);
    let has = |scope: &str| opt.scope.split(' ').any(|x| x == scope);
    let wallets: Vec<Caip10Claim> = a.wallets.iter().map(wallet_claim).collect();
    let access = claims::AccessClaims {
        iss: issuer.to_string(),
        sub: a.sub.to_string(),
        aud: vec![issuer.to_string()],
        client_id: client_id.to_string(),
        iat: now,
        exp: now + opt.access_ttl,
        jti: uuid::Uuid::new_v4().to_string(),
        scope: scope_list(opt.scope),
        auth_time: Some(s.auth_time),
        amr: s.methods(),
        groups,
        wallets: wallets.clone(),
        wallet: s.wallet.as_ref().map(wallet_claim),
        idp: s.idp().map(str::to_string),
        sid: Some(s.id.to_string()),
    };
    let id_token = if has("openid") {
        let email = has("email");
        let id = claims::IdClaims {
            iss: issuer.to_string(),
            sub: a.sub.to_string(),
            aud: vec![client_id.to_string()],
            iat: now,
            exp: now + opt.id_ttl,
            auth_time: Some(s.auth_time),
            nonce: opt.nonce.map(str::to_string),
            amr: s.methods(),
            acr: s.amr.iter().any(|m| m == "mfa").then(|| "mfa".to_string()),
            idp: s.idp().map(str::to_string),
            email: a.email.clone().filter(|_| email),
            email_verified: email.then_some(a.email_verified),
            wallets,
            sid: Some(s.id.to_string()),
        };
        let id = with_claims(&id, custom.map(|c| &c.id_token.claims))?;
        Some(keys.sign(opt.id_alg, "JWT", &id)?)
    } else {
        None
    };
    let access = with_claims(&access, custom.map(|c| &c.access_token.claims))?;
    Ok(TokenSet {
        access_token: keys.sign(Alg::Es256, "at+jwt", &access)?,
        id_token,
        refresh_token: opt
            .refresh
            .then(|| issued.refresh_token.expose().to_string()),
        token_type: "Bearer",
        expires_in: opt.access_ttl,
        scope: opt.echo_scope.then(|| opt.scope.to_string()),
    })
}

/// The claims as JSON with a hook's `extra` claims added (they never name one of the
/// gateway's: [`crate::hooks::triggers::PROTECTED_CLAIMS`] was checked when they came).
fn with_claims(
    claims: &impl Serialize,
    extra: Option<&Map<String, Value>>,
) -> Result<Value, Error> {
    let mut v = serde_json::to_value(claims).map_err(|_| Error::Crypto)?;
    if let (Value::Object(m), Some(extra)) = (&mut v, extra) {
        for (k, x) in extra {
            if !crate::hooks::triggers::PROTECTED_CLAIMS.contains(&k.as_str()) {
                m.insert(k.clone(), x.clone());
            }
        }
    }
    Ok(v)
}

/// A granted scope (space-separated) as the claims hold it; serialized back the same way.
fn scope_list(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A linked wallet as a claim: the same CAIP-10 text, in the verifier's own type.
fn wallet_claim(w: &wallet::Caip10) -> Caip10Claim {
    Caip10Claim {
        namespace: "eip155".into(),
        chain_id: w.chain_id.to_string(),
        address: w.address.to_string(),
    }
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
    let claims = claims::AccessClaims {
        iss: issuer.to_string(),
        sub: client_id.to_string(),
        aud: vec![issuer.to_string()],
        client_id: client_id.to_string(),
        iat: now,
        exp: now + ttl,
        jti: uuid::Uuid::new_v4().to_string(),
        scope: scope_list(scope),
        auth_time: None,
        amr: Vec::new(),
        groups: Vec::new(),
        wallets: Vec::new(),
        wallet: None,
        idp: None,
        sid: None,
    };
    keys.sign(Alg::Es256, "at+jwt", &claims)
}

/// What a valid access token says about its bearer: its claims in the model `verify`
/// validates with (one claims model for issuing and checking), with the account and session
/// ids parsed.
#[derive(Clone, Debug)]
pub struct AccessClaims {
    pub sub: AccountId,
    pub sid: SessionId,
    pub auth_time: i64,
    pub token: claims::AccessClaims,
}

/// Checks an access token from this pool: signature by a published key, `typ: at+jwt`
/// (RFC 9068 §4; an ID token is refused), issuer, audience and lifetime. Its claims, a
/// user's or a client's own (`client_credentials`).
pub fn verify_access_jwt(keys: &PoolKeys, issuer: &str, token: &str, now: i64) -> Option<Value> {
    let (header, claims) = keys.verify(token)?;
    if header.get("typ")?.as_str()? != "at+jwt" {
        return None;
    }
    // RFC 7515 §4.1.11: a critical extension this verifier does not understand makes the
    // token invalid; the gateway understands none.
    if header.get("crit").is_some() {
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
    // RFC 7519 §4.1.5: not before `nbf` (with the same small skew); a malformed one refuses.
    if let Some(nbf) = claims.get("nbf")
        && nbf.as_i64()? - LEEWAY > now
    {
        return None;
    }
    Some(claims)
}

impl AccessClaims {
    /// A user's access token: `sub`, `sid`, `amr` and `auth_time` present, every claim of
    /// the type `verify` expects. None for a client's own token.
    pub fn of_user(claims: Value) -> Option<AccessClaims> {
        claims.get("amr")?.as_array()?;
        let token: claims::AccessClaims = serde_json::from_value(claims).ok()?;
        Some(AccessClaims {
            sub: AccountId::parse(&token.sub)?,
            sid: SessionId::parse(token.sid.as_deref()?)?,
            auth_time: token.auth_time?,
            token,
        })
    }
}

/// A user's access token from this pool (see [`verify_access_jwt`]).
pub fn verify_access(keys: &PoolKeys, issuer: &str, token: &str, now: i64) -> Option<AccessClaims> {
    AccessClaims::of_user(verify_access_jwt(keys, issuer, token, now)?)
}
