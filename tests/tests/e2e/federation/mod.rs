//! Federation: sign-in through upstream IdPs that run on loopback (the npm `oidc-provider`,
//! `tests/clients/oidc-idp.mjs`), as OIDC, as an OAuth 2.0 provider in GitHub's shape, with
//! `private_key_jwt` and with Apple's signed client secret and `form_post`; the linking
//! rules (nothing links silently); the admin API; and every refusal, each asserting that no
//! account, identity or session was written.

use gatehouse_tests::{Gateway, PUBLIC_URL, World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use url::Url;

use crate::oauth::{ADMIN, Browser, CALLBACK, Seen};

mod flows;
mod linking;
mod refusals;
mod saml;

pub fn all() -> Vec<(&'static str, crate::TestFnPub)> {
    let mut all = flows::all();
    all.extend(linking::all());
    all.extend(refusals::all());
    all.extend(saml::all());
    all
}

/// The IdP names the tests configure; each has its callback registered at the test IdP.
const IDPS: &[&str] = &["corp", "gh", "jwtcorp", "apple", "notrust", "slow"];

/// The test IdP (`oidc-idp.mjs`), running until dropped.
pub(crate) struct Idp {
    _child: tokio::process::Child,
    pub(crate) issuer: String,
    pub(crate) info: Value,
    http: reqwest::Client,
}

impl Idp {
    /// For gateways behind the shared public URL.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        Self::start_for(PUBLIC_URL).await
    }

    /// For a gateway public at `base` (the callbacks registered there).
    pub(crate) async fn start_for(base: &str) -> anyhow::Result<Self> {
        let redirect_uris: Vec<String> = IDPS
            .iter()
            .map(|i| format!("{base}/pools/main/federation/{i}/callback"))
            .collect();
        let dir = gatehouse_tests::clients_dir()?;
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(dir.join("oidc-idp.mjs"))
            .arg(json!({ "redirect_uris": redirect_uris }).to_string())
            .current_dir(&dir)
            .stderr(std::process::Stdio::null());
        let (child, line) = gatehouse_tests::spawn_listening(cmd).await?;
        let info: Value = serde_json::from_str(&line)?;
        Ok(Idp {
            _child: child,
            issuer: info["issuer"].as_str().unwrap_or_default().to_string(),
            info,
            http: reqwest::Client::new(),
        })
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(())
    }

    /// Registers a person at the IdP (they sign in on its form).
    pub(crate) async fn register(&self, person: Value) -> anyhow::Result<()> {
        self.post("/test/accounts", person).await
    }

    /// Registers a person at the IdP; the next sign-in there is theirs, with no form.
    pub(crate) async fn next(&self, person: Value) -> anyhow::Result<()> {
        self.register(person.clone()).await?;
        self.post("/test/next", json!({ "sub": person["sub"] }))
            .await
    }

    pub(crate) async fn tamper(&self, mode: &str) -> anyhow::Result<()> {
        self.post("/test/tamper", json!({ "mode": mode })).await
    }

    pub(crate) fn discovery(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }
}

/// A gateway with the admin API on and upstream calls that time out after a second.
pub(crate) async fn gateway(w: &World) -> anyhow::Result<Gateway> {
    w.start_with(|c| {
        c.admin_token = Some(accounts::secret::Secret::new(ADMIN));
        c.federation_timeout_ms = 1000;
    })
    .await
}

pub(crate) async fn admin(
    gw: &Gateway,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<gatehouse_tests::Answer> {
    gw.call(
        method,
        &format!("//admin/v1/pools/main/identity-providers{path}"),
        body,
        Some(ADMIN),
    )
    .await
}

/// Configures `name` as an OIDC IdP at the test IdP (client `gatehouse`, Basic), with
/// `extra` fields over the defaults.
pub(crate) async fn oidc_idp(
    gw: &Gateway,
    idp: &Idp,
    name: &str,
    extra: Value,
) -> anyhow::Result<()> {
    let mut body = json!({
        "name": name, "kind": "oidc", "display_name": "Corp SSO",
        "discovery_url": idp.discovery(), "client_id": "gatehouse",
        "client_secret": "gatehouse-secret", "scopes": ["openid", "email", "profile"],
        "trust_email": true, "attribute_mapping": { "name": "name" },
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let r = admin(gw, Method::POST, "", Some(body)).await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "create IdP: {r:?}");
    Ok(())
}

/// Where a response sends the browser next, absolute.
fn next_url(current: &str, location: &str) -> anyhow::Result<String> {
    Ok(Url::parse(current)?.join(location)?.to_string())
}

/// Follows redirects from `url` through the gateway (its public URL mapped to `gw`) and the
/// IdP, until a page answers or the browser is sent to the app's `CALLBACK`: the last
/// answer and the URL it came from (or the callback URL).
pub(crate) async fn follow(
    b: &mut Browser<'_>,
    gw: &Gateway,
    mut url: String,
) -> anyhow::Result<(Seen, String)> {
    // Each round is a fresh sign-in at the IdP (the person `Idp::next` named): the IdP's
    // own session cookies (`_session`, `_interaction`…) are forgotten.
    b.jar.retain(|k, _| !k.starts_with('_'));
    for _ in 0..16 {
        let local = url.replace(PUBLIC_URL, &gw.base);
        let seen = b.get(&local).await?;
        if !seen.status.is_redirection() {
            return Ok((seen, url));
        }
        let next = next_url(&local, &seen.location)?;
        if next.starts_with(CALLBACK) {
            return Ok((seen, next));
        }
        url = next;
    }
    anyhow::bail!("too many redirects from {url}")
}

/// Signs in through `idp_name` from the start URL: the page the browser lands on.
pub(crate) async fn through(
    b: &mut Browser<'_>,
    gw: &Gateway,
    idp_name: &str,
    query: &str,
) -> anyhow::Result<(Seen, String)> {
    follow(
        b,
        gw,
        format!("{}/federation/{idp_name}/start{query}", gw.api),
    )
    .await
}

pub(crate) async fn count(w: &World, sql: &str, bind: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql)
        .bind(bind.to_string())
        .fetch_one(&w.db().await?)
        .await?
        .get(0))
}

/// Identities of an upstream subject.
pub(crate) const IDENTITIES_OF: &str = "SELECT COUNT(*) FROM federated_identity WHERE subject = $1";
/// The account an upstream subject signs in to.
pub(crate) const ACCOUNT_OF: &str = "SELECT account_id FROM federated_identity WHERE subject = $1";

pub(crate) async fn account_of(w: &World, subject: &str) -> anyhow::Result<String> {
    Ok(sqlx::query(ACCOUNT_OF)
        .bind(subject.to_string())
        .fetch_one(&w.db().await?)
        .await?
        .get(0))
}

/// A fresh person at the IdP.
pub(crate) fn person(tag: &str, verified: bool) -> (String, String, Value) {
    let sub = format!("{tag}-{}", uuid::Uuid::new_v4().simple());
    let email = unique_email(tag);
    let v = json!({ "sub": sub, "email": email, "email_verified": verified, "name": format!("Person {tag}") });
    (sub, email, v)
}

/// What every refusal leaves: no identity for `subject`, no account with `email`.
pub(crate) async fn nothing_written(w: &World, subject: &str, email: &str) -> anyhow::Result<()> {
    assert_eq!(
        count(w, IDENTITIES_OF, subject).await?,
        0,
        "identity of {subject}"
    );
    assert_eq!(
        count(
            w,
            "SELECT COUNT(*) FROM email_credential WHERE email = $1",
            email
        )
        .await?,
        0,
        "account of {email}"
    );
    Ok(())
}
