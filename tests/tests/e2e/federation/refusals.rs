//! What a federated sign-in refuses, each time writing no account, identity or session: a
//! forged, replayed or foreign `state`; an ID token with the wrong nonce, for another
//! audience, expired, signed by another key, unsigned or HMAC-signed; an IdP that says no;
//! an IdP that does not answer in time.

use gatehouse_tests::World;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;

use super::{IDENTITIES_OF, Idp, count, gateway, nothing_written, oidc_idp, person, through};
use crate::oauth::{Browser, param};
use crate::{TestResult, tests};

tests!(
    forged_replayed_and_foreign_states_are_refused,
    id_tokens_that_do_not_hold_are_refused,
    an_idp_that_says_no_or_does_not_answer_makes_no_account,
);

const SESSIONS: &str = "SELECT COUNT(*) FROM session WHERE revoked_at IS NULL AND $1 = $1";

async fn forged_replayed_and_foreign_states_are_refused(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    let sessions = count(&w, SESSIONS, "").await?;
    let callback = format!("{}/federation/corp/callback", gw.api);

    // A state the gateway never issued.
    let mut b = Browser::new(&gw);
    let r = b.get(&format!("{callback}?state=forged&code=x")).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // A real state carried to another browser (login CSRF): refused there, and spent.
    let (sub, email, p) = person("carried", true);
    idp.next(p).await?;
    let mut a = Browser::new(&gw);
    let mut victim = Browser::new(&gw);
    let callback_url = to_the_callback(&mut a, &gw).await?;
    let r = victim.get(&callback_url).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    nothing_written(&w, &sub, &email).await?;
    // The rightful browser now finds it spent.
    let r = a.get(&callback_url).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    nothing_written(&w, &sub, &email).await?;

    // A replay after a sign-in: the state was taken once.
    let (sub, _, p) = person("replay", true);
    idp.next(p).await?;
    let mut c = Browser::new(&gw);
    let callback_url = to_the_callback(&mut c, &gw).await?;
    assert!(param(&callback_url, "state").is_some());
    let first = c.get(&callback_url).await?;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);
    let sessions_after = count(&w, SESSIONS, "").await?;
    let again = c.get(&callback_url).await?;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert_eq!(
        count(&w, SESSIONS, "").await?,
        sessions_after,
        "no second session"
    );
    assert!(sessions_after > sessions);
    gw.stop().await
}

/// Starts a sign-in through `corp` and follows it to the IdP and back, stopping before the
/// gateway's callback: its URL (on this instance).
async fn to_the_callback(
    b: &mut Browser<'_>,
    gw: &gatehouse_tests::Gateway,
) -> anyhow::Result<String> {
    let start = b.get(&format!("{}/federation/corp/start", gw.api)).await?;
    let mut url = start.location.clone();
    for _ in 0..10 {
        let seen = b.get(&url).await?;
        let next = super::next_url(&url, &seen.location)?;
        if next.contains("/federation/corp/callback") {
            return Ok(next.replace(gatehouse_tests::PUBLIC_URL, &gw.base));
        }
        url = next;
    }
    anyhow::bail!("the IdP never sent the browser back")
}

async fn id_tokens_that_do_not_hold_are_refused(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    let sessions = count(&w, SESSIONS, "").await?;
    for mode in [
        "wrong_nonce",
        "other_audience",
        "expired",
        "other_key",
        "unknown_kid",
        "alg_none",
        "alg_hs256",
    ] {
        idp.tamper(mode).await?;
        let (sub, email, p) = person(mode, true);
        idp.next(p).await?;
        let mut b = Browser::new(&gw);
        let (page, _) = through(&mut b, &gw, "corp", "").await?;
        assert_eq!(
            page.status,
            StatusCode::UNAUTHORIZED,
            "{mode}: {}",
            page.body
        );
        assert!(
            page.body.contains("couldn&#39;t confirm")
                || page.body.contains("couldn't confirm")
                || page.body.contains("couldn&#x27;t confirm"),
            "{mode}: {}",
            page.body
        );
        assert!(!b.jar.contains_key("gh_session_main"), "{mode}");
        nothing_written(&w, &sub, &email).await?;
    }
    assert_eq!(count(&w, SESSIONS, "").await?, sessions);
    // The same IdP, honest again, signs in.
    idp.tamper("").await?;
    let (sub, _, p) = person("honest", true);
    idp.next(p).await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);
    gw.stop().await
}

async fn an_idp_that_says_no_or_does_not_answer_makes_no_account(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    // The IdP sends the person back with an error (they cancelled).
    let mut b = Browser::new(&gw);
    let start = b.get(&format!("{}/federation/corp/start", gw.api)).await?;
    let state = param(&start.location, "state").unwrap_or_default();
    let r = b
        .get(&format!(
            "{}/federation/corp/callback?state={state}&error=access_denied",
            gw.api
        ))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    // The token endpoint answers after 3 s; the gateway waits 1 s: "unavailable", nothing
    // written, and the IdP's answer arriving later changes nothing.
    idp.tamper("slow").await?;
    let (sub, email, p) = person("slow", true);
    idp.next(p).await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    assert!(
        page.body.contains("can&#39;t be reached")
            || page.body.contains("can't be reached")
            || page.body.contains("can&#x27;t be reached"),
        "{}",
        page.body
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    nothing_written(&w, &sub, &email).await?;

    // An IdP whose discovery cannot be fetched: the start says so, nothing is stored.
    oidc_idp(
        &gw,
        &idp,
        "slow",
        json!({ "discovery_url": "http://127.0.0.1:9/.well-known/openid-configuration" }),
    )
    .await?;
    let r = b.get(&format!("{}/federation/slow/start", gw.api)).await?;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    gw.stop().await
}
