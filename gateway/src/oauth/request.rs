//! An authorization request (`GET /oauth2/authorize`), checked against its client in the
//! order that decides where an error may go: an unknown client or a redirect URI that is not
//! registered exactly is shown to the person and never redirected (RFC 6749 §4.1.2.1,
//! RFC 9700 §4.1); any later error is redirected to the client with `state` and `iss`
//! (RFC 9207).

use accounts::clients::{ClientRecord, GrantType};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use url::Url;

use super::pkce;

/// `prompt` (OIDC Core §3.1.2.1), as far as supported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// Reuse a browser session if there is one.
    Default,
    /// Ask for credentials even with a session.
    Login,
    /// Never show a page: a session or `login_required`.
    None,
}

/// A checked authorization request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether the request named the redirect URI (then the token request must too,
    /// RFC 6749 §4.1.3).
    #[serde(default)]
    pub redirect_uri_given: bool,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// S256 code challenge; required of public clients.
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// Seconds since the last authentication the client accepts.
    pub max_age: Option<i64>,
    /// `acr_values` asked for `mfa` (OIDC Core §3.1.2.1): a second factor before the code.
    #[serde(default)]
    pub acr_mfa: bool,
}

/// An error the person sees on the gateway's page: the client cannot be trusted with it.
#[derive(Debug, PartialEq, Eq)]
pub enum ShownError {
    /// No such client, or the `client_id` is missing.
    UnknownClient,
    /// The redirect URI is not one of the client's.
    UnregisteredRedirect,
}

/// An error sent back to the client's (registered) redirect URI.
#[derive(Debug, PartialEq, Eq)]
pub struct RedirectedError {
    pub redirect_uri: String,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

impl RedirectedError {
    /// `redirect_uri?error=…&error_description=…&state=…&iss=…`.
    pub fn location(&self, issuer: &str) -> String {
        response_location(
            &self.redirect_uri,
            &[
                ("error", self.error),
                ("error_description", &self.description),
            ],
            self.state.as_deref(),
            issuer,
        )
    }
}

/// An authorization response (RFC 6749 §4.1.2): `redirect_uri` with `params`, `state`
/// when the request had one, and `iss` (RFC 9207), keeping the URI's own query.
pub fn response_location(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    // Redirect URIs are checked absolute URIs when registered, so this always parses.
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    {
        let mut q = url.query_pairs_mut();
        q.extend_pairs(params);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    url.to_string()
}

pub enum Refused {
    Shown(ShownError),
    Redirected(RedirectedError),
}

/// Checks the query of an authorization request against `client` (`None`: no such client).
/// Repeated parameters are refused (RFC 6749 §3.1).
pub fn check(
    params: &[(String, String)],
    client: Option<&ClientRecord>,
) -> Result<AuthRequest, Refused> {
    let shown = |e: ShownError| Err(Refused::Shown(e));
    let mut map: HashMap<&str, &str> = HashMap::new();
    let mut repeated = None;
    for (k, v) in params {
        if map.insert(k.as_str(), v.as_str()).is_some() {
            repeated = Some(k.clone());
        }
    }
    let Some(client) = client else {
        return shown(ShownError::UnknownClient);
    };
    if map.get("client_id") != Some(&client.id.as_str()) {
        return shown(ShownError::UnknownClient);
    }
    // The redirect URI must be one of the client's, exactly; it may be left out only when
    // the client has exactly one.
    let redirect_uri = match map.get("redirect_uri") {
        Some(r) if client.redirect_uris.iter().any(|u| u == r) => r.to_string(),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        _ => return shown(ShownError::UnregisteredRedirect),
    };
    let state = map.get("state").map(|s| s.to_string());
    let fail = |error: &'static str, description: &str| {
        Err(Refused::Redirected(RedirectedError {
            redirect_uri: redirect_uri.clone(),
            error,
            description: description.to_string(),
            state: state.clone(),
        }))
    };
    if let Some(k) = repeated {
        return fail("invalid_request", &format!("the parameter {k} is repeated"));
    }
    if map.get("response_type") != Some(&"code") {
        return fail(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        );
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return fail(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }
    if map.contains_key("request") || map.contains_key("request_uri") {
        return fail("request_not_supported", "request objects are not supported");
    }
    let code_challenge = match (map.get("code_challenge"), map.get("code_challenge_method")) {
        (Some(c), Some(&"S256")) if pkce::is_challenge(c) => Some(c.to_string()),
        (Some(_), Some(&"S256")) => return fail("invalid_request", "malformed code_challenge"),
        (Some(_), Some(_)) | (Some(_), None) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is refused)",
            );
        }
        (None, Some(_)) => return fail("invalid_request", "code_challenge is missing"),
        (None, None) if client.public => {
            return fail(
                "invalid_request",
                "a public client must use PKCE (code_challenge, S256)",
            );
        }
        (None, None) => None,
    };
    let scope: Vec<String> = map
        .get("scope")
        .map(|s| {
            s.split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = scope.iter().find(|s| !client.allows_scope(s)) {
        return fail(
            "invalid_scope",
            &format!("the client may not ask for the scope {bad:?}"),
        );
    }
    let prompt = match map.get("prompt").copied() {
        None | Some("") => Prompt::Default,
        Some("login") => Prompt::Login,
        Some("none") => Prompt::None,
        Some(_) => return fail("invalid_request", "prompt: login or none"),
    };
    let max_age = match map.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return fail("invalid_request", "max_age: a number of seconds"),
        },
    };
    // Voluntary (OIDC Core §5.5.1.1): a value this pool does not define is ignored, and the
    // ID token's `acr` says what was reached.
    let acr_mfa = map
        .get("acr_values")
        .is_some_and(|v| v.split(' ').any(|a| a == "mfa"));
    let nonce = map.get("nonce").map(|s| s.to_string());
    // RFC 9700 §2.1.1: a client must prevent code injection, with PKCE or, for OpenID
    // Connect, with a nonce; a confidential client that skips PKCE must send one.
    if code_challenge.is_none() && scope.iter().any(|s| s == "openid") && nonce.is_none() {
        return fail(
            "invalid_request",
            "without PKCE, an OpenID Connect request needs a nonce",
        );
    }
    if nonce.as_ref().is_some_and(|n| n.len() > 512)
        || state.as_ref().is_some_and(|s| s.len() > 2048)
    {
        return fail("invalid_request", "state or nonce too long");
    }
    Ok(AuthRequest {
        client_id: client.id.clone(),
        redirect_uri,
        redirect_uri_given: map.contains_key("redirect_uri"),
        scope,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        acr_mfa,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use accounts::clients::ClientConfig;

    fn client(public: bool) -> ClientRecord {
        ClientRecord {
            id: "c1".into(),
            pool_id: accounts::PoolId::new(),
            name: "app".into(),
            public,
            secret_hash: None,
            redirect_uris: vec!["https://app.example/cb".into()],
            config: ClientConfig::default(),
            created_at: 0,
        }
    }

    fn params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", "c1"),
            ("redirect_uri", "https://app.example/cb"),
            ("scope", "openid email"),
            ("state", "xyz"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            p.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                p.push((k, v));
            }
        }
        p.into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error_of(r: Result<AuthRequest, Refused>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(Refused::Shown(_)) => "shown".into(),
            Err(Refused::Redirected(e)) => e.error.into(),
        }
    }

    #[test]
    fn a_good_request() {
        let r = check(&params(&[]), Some(&client(true))).ok().unwrap();
        assert_eq!(r.scope, ["openid", "email"]);
        assert_eq!(r.state.as_deref(), Some("xyz"));
        assert_eq!(r.prompt, Prompt::Default);
    }

    #[test]
    fn never_redirects_to_an_unregistered_uri() {
        let c = client(true);
        assert_eq!(error_of(check(&params(&[]), None)), "shown");
        for uri in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://evil.example/cb",
            "https://app.example/CB",
        ] {
            assert_eq!(
                error_of(check(&params(&[("redirect_uri", uri)]), Some(&c))),
                "shown",
                "{uri}"
            );
        }
        assert_eq!(
            error_of(check(&params(&[("client_id", "other")]), Some(&c))),
            "shown"
        );
    }

    #[test]
    fn pkce_and_other_refusals_go_back_to_the_client() {
        let public = client(true);
        let confidential = client(false);
        let cases: [(&[(&str, &str)], &str); 9] = [
            (
                &[("code_challenge", ""), ("code_challenge_method", "")],
                "invalid_request",
            ),
            (&[("code_challenge_method", "plain")], "invalid_request"),
            (&[("code_challenge_method", "")], "invalid_request"),
            (&[("code_challenge", "short")], "invalid_request"),
            (&[("response_type", "token")], "unsupported_response_type"),
            (
                &[("response_type", "code id_token")],
                "unsupported_response_type",
            ),
            (&[("scope", "openid admin")], "invalid_scope"),
            (&[("prompt", "consent")], "invalid_request"),
            (&[("max_age", "-1")], "invalid_request"),
        ];
        for (extra, error) in cases {
            assert_eq!(
                error_of(check(&params(extra), Some(&public))),
                error,
                "{extra:?}"
            );
        }
        // A confidential client may leave PKCE out (never a public one), but then an
        // OpenID request needs a nonce against code injection (RFC 9700 §2.1.1).
        let no_pkce = [("code_challenge", ""), ("code_challenge_method", "")];
        assert_eq!(
            error_of(check(&params(&no_pkce), Some(&confidential))),
            "invalid_request"
        );
        let with_nonce = [no_pkce[0], no_pkce[1], ("nonce", "n-1")];
        assert_eq!(
            error_of(check(&params(&with_nonce), Some(&confidential))),
            "ok"
        );
        let r = check(&params(&with_nonce), Some(&confidential))
            .ok()
            .unwrap();
        assert!(r.redirect_uri_given);
        let mut twice = params(&[]);
        twice.push(("state".into(), "again".into()));
        assert_eq!(error_of(check(&twice, Some(&public))), "invalid_request");
    }

    #[test]
    fn redirected_errors_carry_state_and_issuer() {
        let e = RedirectedError {
            redirect_uri: "https://app.example/cb?keep=1".into(),
            error: "invalid_scope",
            description: "no".into(),
            state: Some("s t".into()),
        };
        let loc = e.location("https://id.example/pools/main");
        assert!(loc.starts_with("https://app.example/cb?keep=1&error=invalid_scope"));
        assert!(loc.contains("state=s+t"));
        assert!(loc.contains("iss=https%3A%2F%2Fid.example%2Fpools%2Fmain"));
    }
}
