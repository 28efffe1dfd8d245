//! OAuth 2.0 / OpenID Connect: the authorization code flow with PKCE through the hosted
//! pages, driven by openid-client and by headless Chromium, and every refusal the flow owes:
//! unregistered redirect URIs (never redirected to), missing or `plain` PKCE, a wrong
//! verifier, code replay (what the first redemption issued is revoked), wrong secrets,
//! another client's refresh token, scope escalation, forged CSRF tokens and open redirects
//! through logout.

use accounts::secret::Secret;
use gatehouse_tests::{Gateway, World, node_client, unique_email, verified_claims};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use url::Url;

use crate::TestResult;

crate::tests!(
    openid_client_code_flow,
    chromium_signs_in_with_email_and_wallet,
    authorization_requests_refused,
    token_requests_refused,
    hosted_pages_refuse_forged_forms,
    logout_never_redirects_elsewhere,
);

const ADMIN: &str = "test-admin-token-0123456789abcdef";
const CALLBACK: &str = "http://127.0.0.1:9/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A gateway whose public URL is its own address, so that real clients can follow the
/// issuer's links, with the admin API on.
async fn gateway(w: &World) -> anyhow::Result<Gateway> {
    w.start_with(|c| {
        c.admin_token = Some(Secret::new(ADMIN));
        c.public_url = Url::parse(&format!("http://{}", c.listen)).expect("listen address");
    })
    .await
}

/// Registers a client; `{client_id, client_secret?}`.
async fn client(gw: &Gateway, body: Value) -> anyhow::Result<Value> {
    let r = gw
        .call(
            Method::POST,
            "//admin/v1/pools/main/clients",
            Some(body),
            Some(ADMIN),
        )
        .await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "create client: {r:?}");
    Ok(r.body)
}

async fn web_app(gw: &Gateway, extra: Value) -> anyhow::Result<Value> {
    let mut body = json!({
        "name": "Web app", "public": false, "redirect_uris": [CALLBACK],
        "post_logout_redirect_uris": [AFTER_LOGOUT],
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    client(gw, body).await
}

async fn count(w: &World, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&w.db().await?).await?.get(0))
}

/// A browser without JavaScript: follows nothing by itself, keeps cookies.
struct Browser<'a> {
    gw: &'a Gateway,
    jar: HashMap<String, String>,
}

struct Seen {
    status: StatusCode,
    location: String,
    body: String,
    set_cookies: Vec<String>,
}

impl<'a> Browser<'a> {
    fn new(gw: &'a Gateway) -> Self {
        Browser {
            gw,
            jar: HashMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> anyhow::Result<Seen> {
        let cookie: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie.join("; "))
        };
        let res = req.send().await?;
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.jar.remove(k);
                } else {
                    self.jar.insert(k.to_string(), v.to_string());
                }
            }
        }
        Ok(Seen {
            status,
            location,
            body: res.text().await?,
            set_cookies,
        })
    }

    async fn get(&mut self, url: &str) -> anyhow::Result<Seen> {
        let req = self.gw.http.get(url);
        self.send(req).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Seen> {
        let req = self.gw.http.post(url).form(form);
        self.send(req).await
    }

    /// Follows an authorization request through the login page with a password: the
    /// callback URL.
    async fn authorize(
        &mut self,
        query: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<String> {
        let first = self
            .get(&format!("{}/oauth2/authorize?{query}", self.gw.api))
            .await?;
        anyhow::ensure!(
            first.status == StatusCode::SEE_OTHER,
            "authorize: {}",
            first.body
        );
        if first.location.starts_with(CALLBACK) {
            return Ok(first.location);
        }
        let page = self.get(&first.location).await?;
        anyhow::ensure!(page.status == StatusCode::OK, "login page: {}", page.body);
        let csrf = hidden(&page.body, "csrf").unwrap_or_default();
        let authz = hidden(&page.body, "authz").unwrap_or_default();
        let done = self
            .post(
                &format!("{}/login", self.gw.api),
                &[
                    ("csrf", &csrf),
                    ("authz", &authz),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await?;
        anyhow::ensure!(
            done.status == StatusCode::SEE_OTHER && done.location.starts_with(CALLBACK),
            "login: {} {}",
            done.status,
            done.body
        );
        Ok(done.location)
    }
}

/// The value of the first hidden input named `name`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn auth_query(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("scope", "openid email offline_access"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `POST /oauth2/token` with a form and optional Basic credentials.
async fn token(
    gw: &Gateway,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut req = gw.http.post(format!("{}/oauth2/token", gw.api)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await?;
    assert_eq!(res.headers()["cache-control"], "no-store");
    Ok((res.status(), res.json().await.unwrap_or(Value::Null)))
}

async fn redeem(
    gw: &Gateway,
    app: &Value,
    code: &str,
    verifier: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    token(
        gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
        Some((&s(app, "client_id"), &s(app, "client_secret"))),
    )
    .await
}

/// A fresh authorization code through the login page (or the browser session).
async fn code(
    b: &mut Browser<'_>,
    query: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    Ok(param(&b.authorize(query, email, password).await?, "code").unwrap_or_default())
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

async fn person(w: &World, gw: &Gateway, tag: &str) -> anyhow::Result<(String, String)> {
    let email = unique_email(tag);
    let password = "correct horse battery staple".to_string();
    gw.signup_confirmed(&w.mail, &email, &password).await?;
    Ok((email, password))
}

async fn openid_client_code_flow(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "oidc").await?;
    for public in [false, true] {
        let app = web_app(&gw, json!({ "public": public })).await?;
        let out: Value = node_client(
            "oidc.mjs",
            &json!({
                "issuer": gw.api, "client_id": app["client_id"], "client_secret": app["client_secret"],
                "redirect_uri": CALLBACK, "post_logout_redirect_uri": AFTER_LOGOUT,
                "email": email, "password": password,
            }),
        )
        .await?;
        assert!(out.get("failed_at").is_none(), "public={public}: {out:#}");
        assert_eq!(out["issuer_ok"], true);
        assert_eq!(out["callback_iss"], gw.api.as_str());
        // openid-client checked the ID token's signature, iss, aud and nonce; these are its claims.
        let id = &out["id_claims"];
        assert_eq!(id["aud"], app["client_id"]);
        assert_eq!(id["email"], email.as_str());
        assert_eq!(id["email_verified"], true);
        assert_eq!(id["amr"], json!(["pwd"]));
        assert!(id["nonce"].as_str().is_some_and(|n| !n.is_empty()));
        assert_eq!(out["token_scope"], "openid email offline_access");
        assert_eq!(out["has_refresh"], true);
        assert_eq!(out["userinfo"]["email"], email.as_str());
        assert_eq!(out["userinfo"]["sub"], id["sub"]);
        assert_eq!(out["refreshed"], json!({ "access": true, "rotated": true }));
        // Replay: refused, and both access tokens of the first redemption are dead.
        assert_eq!(out["replay_error"]["error"], "invalid_grant");
        assert_eq!(out["after_replay"]["first_access"]["ok"], false, "{out:#}");
        assert_eq!(out["after_replay"]["refreshed_access"]["ok"], false);
        // The browser session made the second authorization a single sign-on.
        assert_eq!(out["sso"], true, "{out:#}");
        assert_eq!(out["revoked_refresh_error"]["error"], "invalid_grant");
        assert_eq!(out["logout"]["status"], 303);
        assert_eq!(
            out["logout"]["location"],
            format!("{AFTER_LOGOUT}?state=bye")
        );
        assert_eq!(out["prompt_none_error"], "login_required");
        // In the database: the replayed session was revoked as such, the client sessions
        // were bound to the client and scope, and everything left is ended.
        let client_id = s(&app, "client_id");
        let replayed = count(
            &w,
            &format!("SELECT COUNT(*) FROM session WHERE client_id = '{client_id}' AND revoked_reason = 'sessions_revoked' AND scope = 'openid email offline_access'"),
        )
        .await?;
        assert!(replayed >= 1);
        let live = count(
            &w,
            &format!("SELECT COUNT(*) FROM session WHERE client_id = '{client_id}' AND revoked_at IS NULL"),
        )
        .await?;
        assert_eq!(live, 0, "logout ended every session of the client");
        let authorized = count(
            &w,
            &format!("SELECT COUNT(*) FROM audit_event WHERE kind = 'authorized' AND detail LIKE '%{client_id}%'"),
        )
        .await?;
        assert_eq!(authorized, 2, "two redemptions opened sessions");
    }
    gw.stop().await?;
    Ok(())
}

async fn chromium_signs_in_with_email_and_wallet(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "chromium").await?;
    let app = web_app(&gw, json!({ "public": true })).await?;
    let client_id = s(&app, "client_id");
    let (key, _) = gatehouse_tests::chain::new_key();
    let screenshot = gatehouse_tests::workspace_root().join("target/test-artifacts/login-page.png");
    std::fs::create_dir_all(screenshot.parent().unwrap())?;
    let authorize_url = format!(
        "{}/oauth2/authorize?{}",
        gw.api,
        auth_query(&client_id, &[])
    );
    let out: Value = node_client(
        "browser.mjs",
        &json!({
            "issuer": gw.api, "authorize_url": authorize_url, "redirect_uri": CALLBACK,
            "email": email, "password": password, "wallet_key": key,
            "screenshot": screenshot.display().to_string(),
        }),
    )
    .await?;
    // The wrong password was told in words, not a code.
    let error = out["email"]["error_text"].as_str().unwrap_or_default();
    assert!(error.contains("don't match"), "{error}");
    assert!(!error.contains("invalid_credentials"));
    assert!(std::fs::metadata(&screenshot)?.len() > 1000, "a screenshot");
    for (how, amr) in [("email", "pwd"), ("wallet", "siwe")] {
        let callback = out[how]["callback"].as_str().unwrap_or_default();
        assert_eq!(param(callback, "state").as_deref(), Some("st-1"));
        assert_eq!(param(callback, "iss").as_deref(), Some(gw.api.as_str()));
        let code = param(callback, "code").unwrap_or_default();
        let (status, tokens) = token(
            &gw,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{how}: {tokens}");
        let id = verified_claims(&gw, &s(&tokens, "id_token"), &client_id).await?;
        assert_eq!(id["amr"], json!([amr]));
        assert_eq!(id["nonce"], "n-1");
        let access = verified_claims(&gw, &s(&tokens, "access_token"), &gw.api).await?;
        assert_eq!(access["client_id"], client_id.as_str());
        if how == "wallet" {
            let address = out["wallet"]["address"].as_str().unwrap_or_default();
            assert_eq!(access["wallet"], format!("eip155:1:{address}"));
        } else {
            assert_eq!(id["email"], email.as_str());
        }
    }
    let wallets = count(&w, "SELECT COUNT(*) FROM wallet_credential").await?;
    assert_eq!(wallets, 1, "the wallet's first sign-in made its account");
    gw.stop().await?;
    Ok(())
}

async fn authorization_requests_refused(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let public = client(
        &gw,
        json!({ "name": "SPA", "public": true, "redirect_uris": [CALLBACK] }),
    )
    .await?;
    let id = s(&public, "client_id");
    let mut b = Browser::new(&gw);
    // Never redirected: an unknown client, or a redirect URI that isn't registered exactly.
    for query in [
        auth_query("no-such-client", &[]),
        auth_query(&id, &[("redirect_uri", "http://127.0.0.1:9/callback/")]),
        auth_query(&id, &[("redirect_uri", "http://127.0.0.1:9/callback?x=1")]),
        auth_query(&id, &[("redirect_uri", "https://evil.example/callback")]),
    ] {
        let r = b
            .get(&format!("{}/oauth2/authorize?{query}", gw.api))
            .await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(r.location, "", "{query}");
        assert!(r.body.contains("not registered"), "{}", r.body);
    }
    // Redirected back with an error: no PKCE from a public client, `plain`, a verifier
    // shape as challenge method; a scope the client may not have; prompt=none unsigned.
    for (extra, error) in [
        (
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none")], "login_required"),
    ] {
        let r = b
            .get(&format!(
                "{}/oauth2/authorize?{}",
                gw.api,
                auth_query(&id, &extra)
            ))
            .await?;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{extra:?}");
        assert!(
            r.location.starts_with(CALLBACK),
            "{extra:?}: {}",
            r.location
        );
        assert_eq!(
            param(&r.location, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(param(&r.location, "state").as_deref(), Some("st-1"));
        assert_eq!(param(&r.location, "iss").as_deref(), Some(gw.api.as_str()));
        assert!(param(&r.location, "code").is_none());
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM session").await?, 0);
    gw.stop().await?;
    Ok(())
}

async fn token_requests_refused(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "tokens").await?;
    let app = web_app(
        &gw,
        json!({ "scopes": ["openid", "email", "profile", "offline_access"] }),
    )
    .await?;
    let other = web_app(&gw, json!({})).await?;
    let (id, secret) = (s(&app, "client_id"), s(&app, "client_secret"));
    let mut b = Browser::new(&gw);
    let q = auth_query(&id, &[]);

    // A wrong verifier, and a code presented by another client, are refused.
    let c = code(&mut b, &q, &email, &password).await?;
    let (st, body) = redeem(&gw, &app, &c, &format!("{VERIFIER}x")).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let c = code(&mut b, &q, &email, &password).await?;
    let (st, body) = redeem(&gw, &other, &c, VERIFIER).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    // A wrong secret: 401 with a challenge, and the code is not spent on it.
    let c = code(&mut b, &q, &email, &password).await?;
    let (st, body) = token(
        &gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
        Some((&id, "wrong-secret")),
    )
    .await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    // Another redirect URI than the request's.
    let (st, body) = token(
        &gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", AFTER_LOGOUT),
            ("code_verifier", VERIFIER),
        ],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // PKCE downgrade: no challenge in the request, a verifier at the token endpoint.
    let plain = auth_query(
        &id,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let c = code(&mut b, &plain, &email, &password).await?;
    let (st, body) = redeem(&gw, &app, &c, VERIFIER).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert!(s(&body, "error_description").contains("code_challenge"));

    // Replay: the first redemption works; the second fails and revokes the first's session.
    let c = code(&mut b, &q, &email, &password).await?;
    let (st, first) = redeem(&gw, &app, &c, VERIFIER).await?;
    assert_eq!(st, StatusCode::OK, "{first}");
    assert_eq!(s(&first, "scope"), "openid email offline_access");
    let r = gw
        .get_auth("/oauth2/userinfo", &s(&first, "access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    let (st, body) = redeem(&gw, &app, &c, VERIFIER).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let r = gw
        .get_auth("/oauth2/userinfo", &s(&first, "access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let refresh = s(&first, "refresh_token");
    let (st, _) = token(
        &gw,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "the replayed code's refresh token is dead"
    );

    // A live session's refresh token: not for another client, not for the direct API,
    // and both refusals leave it usable; no scope beyond the grant.
    let c = code(&mut b, &q, &email, &password).await?;
    let (_, set) = redeem(&gw, &app, &c, VERIFIER).await?;
    let refresh = s(&set, "refresh_token");
    let (st, body) = token(
        &gw,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&s(&other, "client_id"), &s(&other, "client_secret"))),
    )
    .await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let r = gw
        .post("/v1/sessions/refresh", json!({ "refresh_token": refresh }))
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let (st, body) = token(
        &gw,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "openid profile"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
    // The escalation attempt rotated the token (it was presented); its successor is not
    // known to the client, so the repeat within the grace period yields it again.
    let (st, narrowed) = token(
        &gw,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "openid"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(st, StatusCode::OK, "{narrowed}");
    assert_eq!(s(&narrowed, "scope"), "openid");
    let access = verified_claims(&gw, &s(&narrowed, "access_token"), &gw.api).await?;
    assert_eq!(access["scope"], "openid");
    // RFC 7009: revoking answers 200, and the token is dead; unknown tokens answer alike.
    let next = s(&narrowed, "refresh_token");
    for t in [next.as_str(), "unknown-token"] {
        let res = gw
            .http
            .post(format!("{}/oauth2/revoke", gw.api))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", t)])
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (st, _) = token(
        &gw,
        &[("grant_type", "refresh_token"), ("refresh_token", &next)],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    gw.stop().await?;
    Ok(())
}

async fn hosted_pages_refuse_forged_forms(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "csrf").await?;
    let mut b = Browser::new(&gw);
    let page = b.get(&format!("{}/login", gw.api)).await?;
    assert_eq!(page.status, StatusCode::OK);
    let csp = gw
        .http
        .get(format!("{}/login", gw.api))
        .send()
        .await?
        .headers()["content-security-policy"]
        .to_str()?
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(page.body.contains(r#"<label for="email">Email</label>"#));
    let csrf = hidden(&page.body, "csrf").unwrap_or_default();
    let before = count(&w, "SELECT COUNT(*) FROM session").await?;
    // A forged token, a missing one, a token without its cookie, a cross-site origin.
    for (token, cookies, origin) in [
        ("forged", true, None),
        ("", true, None),
        (csrf.as_str(), false, None),
        (csrf.as_str(), true, Some("https://evil.example")),
    ] {
        let mut req = gw.http.post(format!("{}/login", gw.api)).form(&[
            ("csrf", token),
            ("email", email.as_str()),
            ("password", password.as_str()),
        ]);
        if cookies {
            let jar: Vec<String> = b.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", jar.join("; "));
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.send().await?;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{token} {cookies} {origin:?}"
        );
        assert!(res.headers().get("set-cookie").is_none());
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM session").await?, before);
    // The genuine form signs in: a browser session cookie, HttpOnly, SameSite=Lax.
    let ok = b
        .post(
            &format!("{}/login", gw.api),
            &[("csrf", &csrf), ("email", &email), ("password", &password)],
        )
        .await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("You are signed in"));
    let cookie = ok
        .set_cookies
        .iter()
        .find(|c| c.starts_with("gh_session_main="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM session").await?, before + 1);
    // A tampered cookie is no session: the next authorization asks to sign in.
    let value = b.jar["gh_session_main"].clone();
    b.jar
        .insert("gh_session_main".into(), value.replace('.', ".0"));
    let app = web_app(&gw, json!({})).await?;
    let r = b
        .get(&format!(
            "{}/oauth2/authorize?{}",
            gw.api,
            auth_query(&s(&app, "client_id"), &[])
        ))
        .await?;
    assert!(r.location.contains("/login?authz="), "{}", r.location);
    // Sign-up and recovery forms are protected the same way.
    for path in ["/signup", "/recover", "/signup/confirm", "/recover/confirm"] {
        let res = gw
            .http
            .post(format!("{}{path}", gw.api))
            .form(&[
                ("csrf", "forged"),
                ("email", "x@example.com"),
                ("password", "pw"),
                ("code", "1"),
            ])
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    gw.stop().await?;
    Ok(())
}

async fn logout_never_redirects_elsewhere(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "logout").await?;
    let app = web_app(&gw, json!({})).await?;
    let id = s(&app, "client_id");
    let mut b = Browser::new(&gw);
    let callback = b
        .authorize(&auth_query(&id, &[]), &email, &password)
        .await?;
    let (_, set) = redeem(
        &gw,
        &app,
        &param(&callback, "code").unwrap_or_default(),
        VERIFIER,
    )
    .await?;
    let id_token = s(&set, "id_token");
    let logout = |extra: &[(&str, &str)]| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(extra)
            .finish();
        format!("{}/oauth2/logout?{q}", gw.api)
    };
    // Open-redirect attempts: an unregistered URI, one registered for another client, a
    // hint from another pool's issuer (forged).
    let other = web_app(
        &gw,
        json!({ "post_logout_redirect_uris": ["http://127.0.0.1:9/other"] }),
    )
    .await?;
    for q in [
        vec![
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![
            ("client_id", id.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/other"),
        ],
        vec![("post_logout_redirect_uri", AFTER_LOGOUT)],
        vec![
            ("id_token_hint", "eyJhbGciOiJub25lIn0.e30."),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
        ],
        vec![
            ("id_token_hint", id_token.as_str()),
            ("client_id", &s(&other, "client_id")),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
        ],
    ] {
        let r = b.get(&logout(&q)).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q:?}");
        assert_eq!(r.location, "", "{q:?}");
    }
    let live = format!(
        "SELECT COUNT(*) FROM session WHERE revoked_at IS NULL AND account_id IN (SELECT account_id FROM email_credential WHERE email = '{email}')"
    );
    assert_eq!(
        count(&w, &live).await?,
        2,
        "browser and client sessions still live"
    );
    // Without a hint the person is asked; with the client's hint it happens at once.
    let r = b
        .get(&logout(&[
            ("client_id", id.as_str()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
        ]))
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("logout-form"));
    let r = b
        .get(&logout(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "s1"),
        ]))
        .await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location, format!("{AFTER_LOGOUT}?state=s1"));
    assert!(
        r.set_cookies
            .iter()
            .any(|c| c.starts_with("gh_session_main=;"))
    );
    assert_eq!(count(&w, &live).await?, 0, "logout ended both sessions");
    let r = gw
        .get_auth("/oauth2/userinfo", &s(&set, "access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    gw.stop().await?;
    Ok(())
}
