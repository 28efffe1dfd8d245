//! SAML 2.0: sign-in through pysaml2 (`tests/clients/saml-idp.py`) on loopback, the SP's
//! metadata, and every refusal: unsigned, tampered and wrapped Responses, SHA-1 (unless the
//! IdP allows it), an assertion replayed, one for another SP, one expired, a `RelayState`
//! carried to another browser; each writing no account, identity or session. The `state`
//! and the replay cache hold across instances.

use gatehouse_tests::{Backend, Gateway, PUBLIC_URL, World};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

use super::{IDENTITIES_OF, account_of, admin, count, gateway, nothing_written, person};
use crate::oauth::{Browser, Seen, hidden};
use crate::{TestResult, tests};

tests!(
    a_saml_idp_signs_in_and_the_sp_metadata_is_served,
    saml_responses_that_do_not_hold_write_nothing,
    a_saml_sign_in_finishes_on_another_instance_once,
);

const SESSIONS: &str = "SELECT COUNT(*) FROM session WHERE $1 = $1";

/// The test IdP (pysaml2), running until dropped.
struct SamlIdp {
    _child: tokio::process::Child,
    metadata_url: String,
    http: reqwest::Client,
}

impl SamlIdp {
    /// An IdP that knows the SPs `saml` and `samlb` of the gateway at `base`.
    async fn start(base: &str) -> anyhow::Result<Self> {
        let urls: Vec<String> = ["saml", "samlb"]
            .iter()
            .map(|i| format!("{base}/pools/main/saml/{i}/metadata"))
            .collect();
        let dir = gatehouse_tests::clients_dir()?;
        let mut cmd = tokio::process::Command::new(dir.join(".venv/bin/python"));
        cmd.arg(dir.join("saml-idp.py"))
            .arg(json!({ "sp_metadata_urls": urls }).to_string())
            .current_dir(&dir)
            // pysaml2 imports a cipher mode `cryptography` deprecates: not ours to fix.
            .env("PYTHONWARNINGS", "ignore");
        let (child, line) = gatehouse_tests::spawn_listening(cmd).await?;
        let info: Value = serde_json::from_str(&line)?;
        Ok(SamlIdp {
            _child: child,
            metadata_url: info["metadata_url"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            http: reqwest::Client::new(),
        })
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let base = self.metadata_url.trim_end_matches("/metadata");
        let r = self
            .http
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(())
    }

    async fn next(&self, person: &Value) -> anyhow::Result<()> {
        self.post("/test/next", person.clone()).await
    }

    async fn tamper(&self, mode: &str) -> anyhow::Result<()> {
        self.post("/test/tamper", json!({ "mode": mode })).await
    }
}

/// Configures `name` as a SAML IdP at the test IdP.
async fn saml_idp(gw: &Gateway, idp: &SamlIdp, name: &str) -> anyhow::Result<()> {
    let r = admin(
        gw,
        Method::POST,
        "",
        Some(json!({
            "name": name, "kind": "saml", "display_name": "Corp SAML",
            "metadata_url": idp.metadata_url, "trust_email": true, "email_field": "mail",
            "attribute_mapping": { "name": "displayName" },
        })),
    )
    .await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "create SAML IdP: {r:?}");
    Ok(())
}

/// The IdP's answer to a sign-in started at `gw` through `name`: the page's
/// `SAMLResponse` and `RelayState`, not yet posted.
async fn response_for(
    b: &mut Browser<'_>,
    gw: &Gateway,
    name: &str,
) -> anyhow::Result<(String, String)> {
    b.jar.retain(|k, _| !k.starts_with('_'));
    let start = b
        .get(&format!("{}/federation/{name}/start", gw.api))
        .await?;
    anyhow::ensure!(
        start.status == StatusCode::SEE_OTHER,
        "start: {}",
        start.body
    );
    let page = b.get(&start.location).await?;
    anyhow::ensure!(page.status == StatusCode::OK, "IdP: {}", page.body);
    let field = |f: &str| hidden(&page.body, f).unwrap_or_default();
    Ok((field("SAMLResponse"), field("RelayState")))
}

/// Posts a Response to `name`'s ACS at `gw`.
async fn post(
    b: &mut Browser<'_>,
    gw: &Gateway,
    name: &str,
    response: &str,
    relay: &str,
) -> anyhow::Result<Seen> {
    let acs = format!("{}/saml/{name}/acs", gw.api);
    b.post(&acs, &[("SAMLResponse", response), ("RelayState", relay)])
        .await
}

async fn a_saml_idp_signs_in_and_the_sp_metadata_is_served(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let idp = SamlIdp::start(&gw.base).await?;
    saml_idp(&gw, &idp, "saml").await?;
    let md = reqwest::get(format!("{}/saml/saml/metadata", gw.api)).await?;
    assert_eq!(md.headers()["content-type"], "application/samlmetadata+xml");
    let md = md.text().await?;
    assert!(
        md.contains(&format!(r#"entityID="{PUBLIC_URL}/pools/main/saml/saml""#)),
        "{md}"
    );
    assert!(md.contains(&format!(
        r#"Location="{PUBLIC_URL}/pools/main/saml/saml/acs""#
    )));

    for mode in ["", "assertion_only", "response_only"] {
        idp.tamper(mode).await?;
        let (sub, email, p) = person("saml", true);
        idp.next(&p).await?;
        let mut b = Browser::new(&gw);
        let (response, relay) = response_for(&mut b, &gw, "saml").await?;
        let done = post(&mut b, &gw, "saml", &response, &relay).await?;
        assert_eq!(done.status, StatusCode::OK, "{mode}: {}", done.body);
        assert!(b.jar.contains_key("gh_session_main"), "{mode}");
        let account = account_of(&w, &sub).await?;
        let verified = format!(
            "SELECT COUNT(*) FROM email_credential WHERE account_id = '{account}' AND email = $1 \
             AND verified_at IS NOT NULL"
        );
        assert_eq!(count(&w, &verified, &email).await?, 1, "{mode}");
        let named =
            "SELECT COUNT(*) FROM account WHERE attributes LIKE '%Person saml%' AND id = $1";
        assert_eq!(count(&w, named, &account).await?, 1, "{mode}");
    }
    gw.stop().await
}

async fn saml_responses_that_do_not_hold_write_nothing(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let idp = SamlIdp::start(&gw.base).await?;
    saml_idp(&gw, &idp, "saml").await?;
    saml_idp(&gw, &idp, "samlb").await?;
    let sessions = count(&w, SESSIONS, "").await?;
    for mode in [
        "unsigned",
        "tampered",
        "wrap_sibling",
        "wrap_nested",
        "sha1",
    ] {
        idp.tamper(mode).await?;
        let (sub, email, p) = person(mode, true);
        idp.next(&p).await?;
        let mut b = Browser::new(&gw);
        let (response, relay) = response_for(&mut b, &gw, "saml").await?;
        let done = post(&mut b, &gw, "saml", &response, &relay).await?;
        assert_eq!(
            done.status,
            StatusCode::UNAUTHORIZED,
            "{mode}: {}",
            done.body
        );
        nothing_written(&w, &sub, &email).await?;
        // "mallory", the wrapped assertions' subject, got nothing either.
        assert_eq!(count(&w, IDENTITIES_OF, "mallory").await?, 0, "{mode}");
    }
    assert_eq!(count(&w, SESSIONS, "").await?, sessions);

    // SHA-1, once the IdP's configuration allows it.
    let r = admin(
        &gw,
        Method::PATCH,
        "/saml",
        Some(json!({ "allow_sha1": true })),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let (sub, _, p) = person("sha1ok", true);
    idp.next(&p).await?;
    let mut b = Browser::new(&gw);
    let (response, relay) = response_for(&mut b, &gw, "saml").await?;
    assert_eq!(
        post(&mut b, &gw, "saml", &response, &relay).await?.status,
        StatusCode::OK
    );
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);
    idp.tamper("").await?;

    // A good Response, used once; then replayed with a new sign-in's RelayState: refused.
    let (sub, _, p) = person("replay", true);
    idp.next(&p).await?;
    let mut b = Browser::new(&gw);
    let (response, relay) = response_for(&mut b, &gw, "saml").await?;
    assert_eq!(
        post(&mut b, &gw, "saml", &response, &relay).await?.status,
        StatusCode::OK
    );
    let after = count(&w, SESSIONS, "").await?;
    let again = post(&mut b, &gw, "saml", &response, &relay).await?;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "the RelayState is spent"
    );
    let (_, fresh_relay) = response_for(&mut b, &gw, "saml").await?;
    let replayed = post(&mut b, &gw, "saml", &response, &fresh_relay).await?;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        replayed.body
    );
    assert_eq!(count(&w, SESSIONS, "").await?, after, "no second session");
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);

    // A Response for another SP (`samlb`), posted with a sign-in of `saml`.
    let (sub, email, p) = person("elsewhere", true);
    idp.next(&p).await?;
    let mut b = Browser::new(&gw);
    let (for_b, _) = response_for(&mut b, &gw, "samlb").await?;
    let (_, relay) = response_for(&mut b, &gw, "saml").await?;
    let r = post(&mut b, &gw, "saml", &for_b, &relay).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    nothing_written(&w, &sub, &email).await?;

    // Expired by the time it arrives (the gateway's clock ten minutes on).
    let (sub, email, p) = person("late", true);
    idp.next(&p).await?;
    let mut b = Browser::new(&gw);
    let (response, relay) = response_for(&mut b, &gw, "saml").await?;
    gw.clock.advance(600);
    let r = post(&mut b, &gw, "saml", &response, &relay).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    nothing_written(&w, &sub, &email).await?;
    gw.clock.advance(-600);

    // A RelayState carried to another browser: refused there, and spent.
    let (sub, email, p) = person("carried", true);
    idp.next(&p).await?;
    let mut mine = Browser::new(&gw);
    let (response, relay) = response_for(&mut mine, &gw, "saml").await?;
    let mut theirs = Browser::new(&gw);
    let r = post(&mut theirs, &gw, "saml", &response, &relay).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = post(&mut mine, &gw, "saml", &response, &relay).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    nothing_written(&w, &sub, &email).await?;
    gw.stop().await
}

async fn a_saml_sign_in_finishes_on_another_instance_once(w: Arc<World>) -> TestResult {
    let a = gateway(&w).await?;
    let b_gw = gateway(&w).await?;
    let idp = SamlIdp::start(&a.base).await?;
    saml_idp(&a, &idp, "saml").await?;
    let (sub, _, p) = person("twin", true);
    idp.next(&p).await?;
    let mut browser = Browser::new(&a);
    let (response, relay) = response_for(&mut browser, &a, "saml").await?;
    let jar = browser.jar.clone();
    let at_b = post(&mut browser, &b_gw, "saml", &response, &relay).await?;
    // The same browser, as it was before B answered.
    browser.jar = jar;
    let again_a = post(&mut browser, &a, "saml", &response, &relay).await?;
    match w.backend {
        // One Redis: B finishes what A started; the state is spent for A too.
        Backend::Postgres { .. } => {
            assert_eq!(at_b.status, StatusCode::OK, "{}", at_b.body);
            assert_eq!(again_a.status, StatusCode::BAD_REQUEST);
            assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);
        }
        // In-process stores are per instance: B never saw it; A finishes it once.
        Backend::Sqlite => {
            assert_eq!(at_b.status, StatusCode::BAD_REQUEST, "{}", at_b.body);
            assert_eq!(again_a.status, StatusCode::OK, "{}", again_a.body);
        }
    }
    a.stop().await?;
    b_gw.stop().await
}
