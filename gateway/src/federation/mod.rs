//! Upstream identity providers, the protocol side (DESIGN, Federation): OpenID Connect
//! (discovery, the authorization code with PKCE S256, `state` and `nonce`, the ID token
//! validated against the IdP's JWKS) and OAuth 2.0 without OIDC (the user-info URL, and
//! GitHub's `/user/emails` for a verified address).
//!
//! Every upstream call has a timeout, follows no redirect, reads at most 1 MiB, and goes over
//! TLS (webpki roots, `crate::outbound`), or plain HTTP to a loopback address only (the
//! tests' IdPs). An IdP
//! that cannot be reached is [`Error::Unavailable`]; one that answers what cannot be trusted
//! is [`Error::Refused`]. Neither ever makes an account.

mod client_auth;
mod id_token;
pub mod saml;

use crate::outbound::describe;
use accounts::idp::{ClientAuth, IdpConfig, IdpKind, IdpSecrets, upstream_url_ok};
use accounts::store::IdpRecord;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use id_token::JwksCache;

/// The longest answer read from an IdP.
const MAX_ANSWER: usize = 1024 * 1024;
/// How long a discovery document is trusted before it is fetched again, seconds.
const DISCOVERY_TTL: i64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The IdP did not answer, timed out, or failed on its side.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// What the IdP answered (or the browser brought back) cannot be trusted.
    #[error("the identity provider's answer was refused: {0}")]
    Refused(String),
}

/// The endpoints of one IdP, from its discovery document and the configuration's overrides.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub userinfo: Option<String>,
    pub jwks_uri: Option<String>,
    /// The issuer ID tokens carry (a template with `{tenantid}` for Microsoft's `common`).
    pub issuer: Option<String>,
    /// The ID token algorithms accepted.
    pub algs: Vec<String>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

/// What the token endpoint answered.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The upstream side of a sign-in in flight: what the callback must check.
pub struct Pending<'a> {
    pub code: &'a str,
    pub verifier: &'a str,
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
    /// Apple's `user` form field on a first sign-in (the name, once).
    pub apple_user: Option<&'a str>,
}

/// The gateway's client of upstream IdPs, with its caches (discovery documents, JWKS).
pub struct Federation {
    http: reqwest::Client,
    discovery: Mutex<HashMap<String, (Arc<Endpoints>, i64)>>,
    /// SAML IdPs' metadata fetched from their `metadata_url`, by URL.
    saml_metadata: Mutex<HashMap<String, (Arc<saml::Metadata>, i64)>>,
    pub jwks: JwksCache,
}

impl Federation {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let http = crate::outbound::client("identity providers", timeout)?;
        Ok(Self {
            http,
            discovery: Mutex::new(HashMap::new()),
            saml_metadata: Mutex::new(HashMap::new()),
            jwks: JwksCache::default(),
        })
    }

    /// Sends `req` to `url` (checked: https, or http to loopback) and reads a bounded JSON
    /// answer. A 5xx or no answer is `Unavailable`; a 4xx with a JSON body is handed back
    /// (an OAuth error answer), any other answer `Refused`.
    async fn json(&self, url: &str, req: reqwest::RequestBuilder) -> Result<Value, Error> {
        if !upstream_url_ok(url) {
            return Err(Error::Refused(
                "an IdP URL that is not https (or http to loopback)".into(),
            ));
        }
        let res = req
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| Error::Unavailable(describe(e)))?;
        let status = res.status();
        if status.is_server_error() {
            return Err(Error::Unavailable(format!("the IdP answered {status}")));
        }
        let body = read_bounded(res).await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| Error::Refused(format!("an answer that is not JSON ({status})")))?;
        if !status.is_success() && !status.is_client_error() {
            return Err(Error::Refused(format!("the IdP answered {status}")));
        }
        Ok(value)
    }

    /// A SAML IdP's metadata: its `metadata_xml`, or what its `metadata_url` answers
    /// (cached an hour, like a discovery document).
    pub async fn saml_metadata(
        &self,
        config: &IdpConfig,
        now: i64,
    ) -> Result<Arc<saml::Metadata>, Error> {
        if let Some(xml) = &config.metadata_xml {
            return Ok(Arc::new(saml::parse_metadata(xml)?));
        }
        let url = config
            .metadata_url
            .as_deref()
            .ok_or_else(|| Error::Refused("no metadata".into()))?;
        let cached = self
            .saml_metadata
            .lock()
            .ok()
            .and_then(|m| m.get(url).cloned())
            .filter(|(_, at)| now < at + DISCOVERY_TTL)
            .map(|(m, _)| m);
        if let Some(m) = cached {
            return Ok(m);
        }
        if !upstream_url_ok(url) {
            return Err(Error::Refused("a metadata URL that is not https".into()));
        }
        let res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| Error::Unavailable(describe(e)))?;
        if !res.status().is_success() {
            return Err(Error::Unavailable(format!(
                "the IdP answered {}",
                res.status()
            )));
        }
        let body = read_bounded(res).await?;
        let xml = std::str::from_utf8(&body)
            .map_err(|_| Error::Refused("metadata that is not UTF-8".into()))?;
        let meta = Arc::new(saml::parse_metadata(xml)?);
        if let Ok(mut m) = self.saml_metadata.lock() {
            m.insert(url.to_string(), (meta.clone(), now));
        }
        Ok(meta)
    }

    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<Value, Error> {
        let mut req = self.http.get(url);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        self.json(url, req).await
    }

    /// The IdP's endpoints (its discovery document cached an hour; fetched again when older).
    pub async fn endpoints(&self, config: &IdpConfig, now: i64) -> Result<Arc<Endpoints>, Error> {
        let Some(url) = &config.discovery_url else {
            // OAuth 2.0: the configuration has them all (checked when it was stored).
            return Ok(Arc::new(Endpoints {
                authorize: config.authorize_url.clone().unwrap_or_default(),
                token: config.token_url.clone().unwrap_or_default(),
                userinfo: config.userinfo_url.clone(),
                jwks_uri: None,
                issuer: None,
                algs: Vec::new(),
            }));
        };
        let cached = self
            .discovery
            .lock()
            .ok()
            .and_then(|m| m.get(url).cloned())
            .filter(|(_, at)| now < at + DISCOVERY_TTL)
            .map(|(e, _)| e);
        let discovered = match cached {
            Some(e) => e,
            None => {
                let value = self.get_json(url, None).await?;
                let d: Discovery = serde_json::from_value(value)
                    .map_err(|e| Error::Refused(format!("a discovery document without {e}")))?;
                let e = Arc::new(Endpoints {
                    authorize: d.authorization_endpoint,
                    token: d.token_endpoint,
                    userinfo: d.userinfo_endpoint,
                    jwks_uri: Some(d.jwks_uri),
                    issuer: Some(d.issuer),
                    algs: d.id_token_signing_alg_values_supported,
                });
                if let Ok(mut m) = self.discovery.lock() {
                    m.insert(url.clone(), (e.clone(), now));
                }
                e
            }
        };
        // The configuration's fields override the document's.
        let mut e = (*discovered).clone();
        let pick = |o: &Option<String>, d: &mut String| {
            if let Some(v) = o {
                d.clone_from(v);
            }
        };
        pick(&config.authorize_url, &mut e.authorize);
        pick(&config.token_url, &mut e.token);
        if config.userinfo_url.is_some() {
            e.userinfo.clone_from(&config.userinfo_url);
        }
        if config.issuer.is_some() {
            e.issuer.clone_from(&config.issuer);
        }
        // Algorithms: the configuration's, else the metadata's, only ever of those the
        // gateway can check (never `none`, never HMAC with a secret the IdP also holds).
        let listed = if config.id_token_algs.is_empty() {
            e.algs.clone()
        } else {
            config.id_token_algs.clone()
        };
        e.algs = listed
            .into_iter()
            .filter(|a| accounts::idp::ID_TOKEN_ALGS.contains(&a.as_str()))
            .collect();
        if e.algs.is_empty() {
            // OIDC Discovery §3: RS256 must be supported by every OP.
            e.algs.push("RS256".into());
        }
        Ok(Arc::new(e))
    }

    /// The URL the browser goes to at the IdP.
    pub fn authorize_url(
        &self,
        idp: &IdpRecord,
        endpoints: &Endpoints,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Result<String, Error> {
        let mut url = url::Url::parse(&endpoints.authorize)
            .map_err(|_| Error::Refused("an authorization endpoint that is not a URL".into()))?;
        if !upstream_url_ok(url.as_str()) {
            return Err(Error::Refused(
                "an authorization endpoint that is not https".into(),
            ));
        }
        {
            let c = &idp.config;
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &c.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &c.scopes.join(" "))
                .append_pair("state", state)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            if c.kind == IdpKind::Oidc {
                q.append_pair("nonce", nonce);
            }
            if let Some(mode) = &c.response_mode {
                q.append_pair("response_mode", mode);
            }
        }
        Ok(url.into())
    }

    /// Redeems the code at the IdP and says who signed in: the ID token's claims (OIDC),
    /// or the user-info answer (OAuth 2.0).
    pub async fn identify(
        &self,
        idp: &IdpRecord,
        secrets: &IdpSecrets,
        pending: &Pending<'_>,
        now: i64,
    ) -> Result<accounts::Upstream, Error> {
        let c = &idp.config;
        let endpoints = self.endpoints(c, now).await?;
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "authorization_code".into()),
            ("code", pending.code.into()),
            ("redirect_uri", pending.redirect_uri.into()),
            ("code_verifier", pending.verifier.into()),
        ];
        let mut req = self.http.post(&endpoints.token);
        match c.client_auth {
            ClientAuth::ClientSecretBasic => {
                // RFC 6749 §2.3.1: each part form-encoded before Basic.
                let enc = |s: &str| -> String {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
                };
                let secret = secrets.client_secret.as_deref().unwrap_or_default();
                let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(&c.client_id),
                    enc(secret)
                ));
                req = req.header("Authorization", format!("Basic {basic}"));
            }
            ClientAuth::ClientSecretPost => {
                form.push(("client_id", c.client_id.clone()));
                form.push((
                    "client_secret",
                    secrets.client_secret.clone().unwrap_or_default(),
                ));
            }
            ClientAuth::PrivateKeyJwt => {
                let assertion = client_auth::assertion(c, secrets, &endpoints.token, now)?;
                form.push(("client_id", c.client_id.clone()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion));
            }
            ClientAuth::AppleSecretJwt => {
                form.push(("client_id", c.client_id.clone()));
                form.push(("client_secret", client_auth::apple_secret(c, secrets, now)?));
            }
        }
        let answer = self.json(&endpoints.token, req.form(&form)).await?;
        let answer: TokenAnswer = serde_json::from_value(answer)
            .map_err(|_| Error::Refused("a token answer of the wrong shape".into()))?;
        if let Some(e) = answer.error {
            return Err(Error::Refused(format!("the token endpoint said {e}")));
        }
        match c.kind {
            IdpKind::Oidc => {
                let token = answer
                    .id_token
                    .ok_or_else(|| Error::Refused("no ID token".into()))?;
                let claims = self
                    .jwks
                    .validate(self, idp, &endpoints, &token, pending.nonce, now)
                    .await?;
                let mut up = upstream(c, claims, "sub")?;
                if let Some(user) = pending.apple_user {
                    apple_name(&mut up, user);
                }
                Ok(up)
            }
            IdpKind::Oauth2 => {
                let access = answer
                    .access_token
                    .ok_or_else(|| Error::Refused("no access token".into()))?;
                let url = endpoints
                    .userinfo
                    .clone()
                    .ok_or_else(|| Error::Refused("no user-info URL".into()))?;
                let Value::Object(info) = self.get_json(&url, Some(&access)).await? else {
                    return Err(Error::Refused(
                        "a user-info answer that is not an object".into(),
                    ));
                };
                let mut up = upstream(c, info, &c.subject_field)?;
                if let Some(emails) = &c.emails_url {
                    let list = self.get_json(emails, Some(&access)).await?;
                    (up.email, up.email_verified) = primary_verified(&list);
                }
                Ok(up)
            }
            IdpKind::Saml => Err(Error::Refused("SAML is not an OAuth flow".into())),
        }
    }
}

/// Reads at most [`MAX_ANSWER`] bytes.
async fn read_bounded(res: reqwest::Response) -> Result<Vec<u8>, Error> {
    crate::outbound::read_bounded(res, MAX_ANSWER)
        .await
        .map_err(|e| match e {
            crate::outbound::ReadError::TooLarge => Error::Refused("an answer too large".into()),
            crate::outbound::ReadError::Transport(e) => Error::Unavailable(describe(e)),
        })
}

/// The identity in `claims`: the subject (a string, or a number as GitHub's `id`), the
/// email and whether the IdP says it is verified (`true` or `"true"`, as some send it).
fn upstream(
    c: &IdpConfig,
    claims: Map<String, Value>,
    subject_field: &str,
) -> Result<accounts::Upstream, Error> {
    let subject = match claims.get(subject_field) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(Error::Refused(format!(
                "no `{subject_field}` in the answer"
            )));
        }
    };
    let email = claims
        .get(&c.email_field)
        .and_then(Value::as_str)
        .map(str::to_string);
    let email_verified = match claims.get(&c.email_verified_field) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    Ok(accounts::Upstream {
        subject,
        email,
        email_verified,
        claims,
    })
}

/// GitHub's `/user/emails`: the primary address, if verified.
fn primary_verified(list: &Value) -> (Option<String>, bool) {
    let found = list.as_array().and_then(|a| {
        a.iter().find(|e| {
            e.get("primary").and_then(Value::as_bool) == Some(true)
                && e.get("verified").and_then(Value::as_bool) == Some(true)
        })
    });
    match found.and_then(|e| e.get("email")).and_then(Value::as_str) {
        Some(email) => (Some(email.to_string()), true),
        None => (None, false),
    }
}

/// Apple sends the person's name once, on the first sign-in, as the `user` form field
/// (`{"name": {"firstName", "lastName"}}`): copied into the claims the mapping reads.
fn apple_name(up: &mut accounts::Upstream, user: &str) {
    let Ok(v) = serde_json::from_str::<Value>(user) else {
        return;
    };
    let name = v.get("name");
    let field = |k: &str| name.and_then(|n| n.get(k)).and_then(Value::as_str);
    if let Some(first) = field("firstName") {
        up.claims
            .insert("given_name".into(), Value::String(first.into()));
    }
    if let Some(last) = field("lastName") {
        up.claims
            .insert("family_name".into(), Value::String(last.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn github_emails_give_the_verified_primary_only() {
        let list = json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "me@example.com", "primary": true, "verified": true}
        ]);
        assert_eq!(
            primary_verified(&list),
            (Some("me@example.com".into()), true)
        );
        let unverified = json!([{"email": "me@example.com", "primary": true, "verified": false}]);
        assert_eq!(primary_verified(&unverified), (None, false));
    }

    #[test]
    fn apple_names_arrive_once_in_the_form() {
        let mut up = accounts::Upstream {
            subject: "x".into(),
            email: None,
            email_verified: false,
            claims: Map::new(),
        };
        apple_name(
            &mut up,
            r#"{"name":{"firstName":"Ada","lastName":"Lovelace"}}"#,
        );
        assert_eq!(up.claims["given_name"], "Ada");
        assert_eq!(up.claims["family_name"], "Lovelace");
    }
}
