//! OAuth 2.0 / OpenID Connect: the authorization code flow with PKCE through the hosted
//! pages, driven by openid-client and by headless Chromium, and every refusal the flow owes:
//! unregistered redirect URIs (never redirected to), missing or `plain` PKCE, a wrong
//! verifier, code replay (what the first redemption issued is revoked), wrong secrets,
//! another client's refresh token, scope escalation, forged CSRF tokens and open redirects
//! through logout.

use accounts::secret::Secret;
use gatehouse_tests::{Gateway, World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;
use url::Url;

mod flows;
mod refusals;

pub fn all() -> Vec<(&'static str, crate::TestFnPub)> {
    let mut all = flows::all();
    all.extend(refusals::all());
    all
}

pub(crate) const ADMIN: &str = "test-admin-token-0123456789abcdef";
pub(crate) const CALLBACK: &str = "http://127.0.0.1:9/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

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
pub(crate) async fn client(gw: &Gateway, body: Value) -> anyhow::Result<Value> {
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

pub(crate) async fn web_app(gw: &Gateway, extra: Value) -> anyhow::Result<Value> {
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
pub(crate) struct Browser<'a> {
    pub(crate) gw: &'a Gateway,
    pub(crate) jar: HashMap<String, String>,
}

pub(crate) struct Seen {
    pub(crate) status: StatusCode,
    pub(crate) location: String,
    pub(crate) body: String,
    pub(crate) set_cookies: Vec<String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(gw: &'a Gateway) -> Self {
        Browser {
            gw,
            jar: HashMap::new(),
        }
    }

    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> anyhow::Result<Seen> {
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

    pub(crate) async fn get(&mut self, url: &str) -> anyhow::Result<Seen> {
        let req = self.gw.http.get(url);
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Seen> {
        let req = self.gw.http.post(url).form(form);
        self.send(req).await
    }

    /// Follows an authorization request through the login page with a password: the
    /// callback URL.
    pub(crate) async fn authorize(
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
pub(crate) fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            // The template engine writes numeric entities; named ones are decoded too.
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&#60;", "<")
            .replace("&gt;", ">")
            .replace("&#62;", ">")
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

pub(crate) fn param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub(crate) fn auth_query(client_id: &str, extra: &[(&str, &str)]) -> String {
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
pub(crate) async fn token(
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

pub(crate) async fn redeem(
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

pub(crate) fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

async fn person(w: &World, gw: &Gateway, tag: &str) -> anyhow::Result<(String, String)> {
    let email = unique_email(tag);
    let password = "correct horse battery staple".to_string();
    gw.signup_confirmed(&w.mail, &email, &password).await?;
    Ok((email, password))
}

/// The hidden fields of the form `id` on a page, plus `extra`, posted to its action.
pub(crate) async fn submit(
    b: &mut Browser<'_>,
    page: &Seen,
    id: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<Seen> {
    let start = page
        .body
        .find(&format!(r#"<form id="{id}""#))
        .ok_or_else(|| anyhow::anyhow!("no form {id}: {}", page.body))?;
    let form = &page.body[start..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let action = hidden_attr(form, "action").unwrap_or_default();
    let mut fields: Vec<(String, String)> = Vec::new();
    for tag in form
        .split('<')
        .filter(|t| t.starts_with(r#"input type="hidden""#))
    {
        let name = hidden_attr(tag, "name").unwrap_or_default();
        let value = hidden(tag, &name).unwrap_or_default();
        fields.push((name, value));
    }
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    let url = format!("{}{action}", b.gw.base);
    b.post(&url, &all).await
}

fn hidden_attr(html: &str, attr: &str) -> Option<String> {
    let marker = format!(r#"{attr}=""#);
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_string())
}
