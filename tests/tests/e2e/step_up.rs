//! Step-up and the sign-ins a pool may challenge beyond the password: the API's
//! `POST /v1/sessions/step-up`, `acr_values=mfa` through openid-client in Chromium, and a
//! wallet sign-in under `challenge_wallet`.

use gatehouse_tests::{World, node_client, unique_email, verified_claims};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::TestResult;
use crate::admin::{ADMIN, with_admin};
use crate::mfa::{PW, answer, app_codes, enrol_app, jose_claims, mid_step, set_policy};

crate::tests!(
    step_up_asks_only_for_the_second_factor,
    a_pool_may_challenge_wallet_sign_ins,
);

#[derive(Deserialize)]
struct StepUpRun {
    plain_claims: Value,
    challenge_title: String,
    id_claims: Value,
    sso_claims: Value,
}

/// Step-up: the API's `POST /v1/sessions/step-up`, and an OAuth authorization with
/// `acr_values=mfa` (openid-client in Chromium) that asks a signed-in browser only for the
/// second factor; the ID token's `acr` says `mfa`.
async fn step_up_asks_only_for_the_second_factor(w: Arc<World>) -> TestResult {
    let gw = w
        .start_with(|c| {
            c.admin_token = Some(accounts::secret::Secret::new(ADMIN));
            c.public_url = url::Url::parse(&format!("http://{}", c.listen)).expect("listen");
        })
        .await?;
    let email = unique_email("stepup");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let token = set["access_token"].as_str().unwrap_or_default().to_string();
    // Off: there is nothing to step up with.
    let r = gw
        .post_auth("/v1/sessions/step-up", json!({}), &token)
        .await?;
    assert_eq!(r.code(), "factor_not_allowed", "{r:?}");
    set_policy(&gw, json!({ "mode": "optional", "factors": ["totp"] })).await?;
    // No factor yet: the step-up enrols one, and answers a new token set.
    let r = gw
        .post_auth("/v1/sessions/step-up", json!({}), &token)
        .await?;
    assert_eq!(
        (r.str("challenge"), r.body["factors"].clone()),
        ("mfa_setup".to_string(), json!(["totp"])),
        "{r:?}"
    );
    let session = r.str("session");
    let r = gw
        .post("/v1/sessions/mfa/totp", json!({ "session": session }))
        .await?;
    mid_step(&gw).await;
    let code = app_codes(&r.str("otpauth_uri"), &[gw.clock.now()])
        .await?
        .codes
        .remove(0);
    let r = answer(&gw, &session, "totp", &code).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(at["amr"], json!(["pwd", "otp", "mfa"]));
    let id = verified_claims(&gw, &r.str("id_token"), "direct").await?;
    assert_eq!(
        (id["acr"].clone(), id["amr"].clone()),
        (json!("mfa"), json!(["pwd", "otp", "mfa"]))
    );
    // Without a second factor the ID token says no `acr`.
    let plain =
        verified_claims(&gw, set["id_token"].as_str().unwrap_or_default(), "direct").await?;
    assert!(plain.get("acr").is_none(), "{plain}");

    // A web app: the browser signed in with a password steps up for `acr_values=mfa` only.
    let app = gw
        .call(
            Method::POST,
            "//admin/v1/pools/main/clients",
            Some(json!({ "name": "Bank", "public": true, "redirect_uris": ["http://127.0.0.1:65531/callback"] })),
            Some(ADMIN),
        )
        .await?;
    assert_eq!(app.status, StatusCode::CREATED, "{app:?}");
    let other = unique_email("stepup-web");
    gw.signup_confirmed(&w.mail, &other, PW).await?;
    let run: StepUpRun = node_client(
        "step-up.mjs",
        &json!({
            "issuer": gw.api, "client_id": app.str("client_id"),
            "redirect_uri": "http://127.0.0.1:65531/callback", "email": other, "password": PW,
        }),
    )
    .await?;
    assert_eq!(run.plain_claims["amr"], json!(["pwd"]));
    assert!(run.plain_claims.get("acr").is_none());
    assert_eq!(run.challenge_title, "Confirm it's you");
    assert_eq!(run.id_claims["acr"], "mfa");
    assert_eq!(run.id_claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(run.sso_claims["acr"], "mfa");
    assert_eq!(run.id_claims["sub"], run.plain_claims["sub"]);
    gw.stop().await?;
    Ok(())
}

/// A pool with `challenge_wallet`: a wallet sign-in of an account with an app answers the
/// challenge too; `amr` holds the signature, the code and `mfa`, and `wallet` the signer.
async fn a_pool_may_challenge_wallet_sign_ins(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    set_policy(&gw, json!({ "mode": "optional", "challenge_wallet": true })).await?;
    // Anvil's first well-known test key: one wallet throughout.
    let key = Some("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
    // The wallet's first sign-in creates its account (never challenged).
    let r = gw.siwe_sign_in(key, json!({})).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let (uri, _, _) = enrol_app(&gw, &r.str("access_token")).await?;
    let r = gw.siwe_sign_in(key, json!({})).await?;
    assert_eq!(
        (r.str("challenge"), r.body["factors"].clone()),
        ("mfa".to_string(), json!(["totp", "backup_code"])),
        "{r:?}"
    );
    let session = r.str("session");
    // A later step than the enrolment's.
    gw.clock.advance(30);
    mid_step(&gw).await;
    let code = app_codes(&uri, &[gw.clock.now()]).await?.codes.remove(0);
    let r = answer(&gw, &session, "totp", &code).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let claims = jose_claims(&gw, &r.str("access_token"), &gw.issuer, Some("at+jwt")).await?;
    assert_eq!(claims["amr"], json!(["siwe", "otp", "mfa"]));
    assert!(
        claims["wallet"]
            .as_str()
            .is_some_and(|w| w.starts_with("eip155:")),
        "{claims}"
    );
    // Without `challenge_wallet` (a merge patch: set it false), the signature alone again.
    set_policy(&gw, json!({ "challenge_wallet": false })).await?;
    let r = gw.siwe_sign_in(key, json!({})).await?;
    assert!(r.body["access_token"].is_string(), "{r:?}");
    gw.stop().await?;
    Ok(())
}
