//! Hooks on a federated sign-in (the npm `oidc-provider` as the upstream IdP): a first
//! sign-in is a sign-up, vetted by `pre_sign_up` with the upstream subject; every sign-in
//! passes `pre_authentication` with the IdP named; a denial is the hook's words on the page
//! and writes nothing.

use gatehouse_tests::World;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;

use super::{Receiver, add_hook, gateway};
use crate::TestResult;
use crate::federation::{Idp, nothing_written, oidc_idp, person, through};
use crate::oauth::Browser;

crate::tests!(federated_sign_ins_pass_the_hooks);

async fn federated_sign_ins_pass_the_hooks(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    let rx = Receiver::start().await?;
    add_hook(
        &gw,
        &rx,
        "vet",
        "pre_sign_up",
        json!({ "methods": ["federated"] }),
    )
    .await?;
    rx.script(
        "vet",
        json!([{ "body": { "action": "deny", "message": "Corp accounts need an invitation" } }]),
    )
    .await?;

    let (sub, email, p) = person("fedhook", true);
    idp.next(p.clone()).await?;
    let mut b = Browser::new(&gw);
    let (seen, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(seen.status, StatusCode::FORBIDDEN, "{}", seen.body);
    assert!(
        seen.body.contains("Corp accounts need an invitation"),
        "{}",
        seen.body
    );
    nothing_written(&w, &sub, &email).await?;
    let call = &rx.checked_calls("vet").await?[0];
    let data = &call["body"]["data"];
    assert_eq!(
        (data["method"].clone(), data["idp"].clone()),
        (json!("federated"), json!("corp"))
    );
    assert_eq!(data["upstream"]["subject"], sub);
    assert_eq!(data["email"], email);

    // Allowed to sign up; then pre_authentication refuses, in its own words.
    rx.script("vet", json!([{ "body": { "action": "allow" } }]))
        .await?;
    add_hook(&gw, &rx, "gate", "pre_authentication", json!({})).await?;
    rx.script(
        "gate",
        json!([{ "body": { "action": "deny", "message": "Sign-ins are paused" } }]),
    )
    .await?;
    idp.next(p.clone()).await?;
    let mut b = Browser::new(&gw);
    let (seen, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(seen.status, StatusCode::UNAUTHORIZED, "{}", seen.body);
    assert!(seen.body.contains("Sign-ins are paused"), "{}", seen.body);
    nothing_written(&w, &sub, &email).await?;
    let gate = rx.checked_calls("gate").await?;
    assert_eq!(gate[0]["body"]["data"]["idp"], "corp");

    // Both allow: the account is made, and a second sign-in is no sign-up.
    rx.script("gate", json!([{ "body": {} }])).await?;
    idp.next(p.clone()).await?;
    let mut b = Browser::new(&gw);
    let (seen, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(
        super::count(&w, crate::federation::IDENTITIES_OF, &sub).await?,
        1
    );
    let vetted = rx.calls("vet").await?.len();
    idp.next(p).await?;
    let mut b = Browser::new(&gw);
    let (seen, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(
        rx.calls("vet").await?.len(),
        vetted,
        "not a sign-up any more"
    );
    assert_eq!(rx.calls("gate").await?.len(), 3);
    Ok(())
}
