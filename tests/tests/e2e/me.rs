//! The signed-in account: reading and patching it, changing its email and its password.

use gatehouse_tests::{World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    me_shows_account_and_patch_merges_attributes,
    email_change_needs_the_new_address_code,
    email_change_to_a_taken_address_conflicts,
    password_change_needs_current_and_ends_other_sessions
);

const PW: &str = "correct horse battery";

async fn me_shows_account_and_patch_merges_attributes(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("me");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let token = set["access_token"].as_str().unwrap();
    let me = gw.get_auth("/v1/me", token).await?;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.header("cache-control"), "no-store");
    assert_eq!(me.body["email"], email.as_str());
    assert_eq!(me.body["email_verified"], true);
    assert_eq!(me.body["status"], "active");
    assert_eq!(me.body["credentials"]["email"]["verified"], true);
    assert!(me.body["credentials"]["password"]["last_used_at"].is_i64());
    assert!(me.body["credentials"]["email"]["last_used_at"].is_i64());
    assert!(me.body["credentials"]["password"].get("hash").is_none());
    assert_eq!(me.body["wallets"], json!([]));

    let patch = |body| gw.call(Method::PATCH, "/v1/me", Some(body), Some(token));
    let r = patch(
        json!({ "attributes": { "name": "Grace", "locale": "en-GB", "custom:plan": "pro" } }),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.body["attributes"],
        json!({ "name": "Grace", "locale": "en-GB", "custom:plan": "pro" })
    );
    let r = patch(json!({ "attributes": { "locale": null } })).await?;
    assert_eq!(
        r.body["attributes"],
        json!({ "name": "Grace", "custom:plan": "pro" })
    );
    for bad in [
        json!({ "attributes": { "email": "x@example.com" } }),
        json!({ "attributes": { "name": 7 } }),
        json!({ "attributes": { "sub": "x" } }),
    ] {
        let r = patch(bad).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_attributes")
        );
    }
    let stored: String = sqlx::query("SELECT attributes FROM account")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stored)?,
        json!({ "name": "Grace", "custom:plan": "pro" })
    );
    let audits: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_event WHERE kind = 'attributes_updated'")
            .fetch_one(&db)
            .await?
            .get(0);
    assert_eq!(audits, 2);
    gw.stop().await
}

async fn email_change_needs_the_new_address_code(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("old");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let token = set["access_token"].as_str().unwrap();
    let new_email = unique_email("new");
    let r = gw
        .post_auth("/v1/me/email", json!({ "email": new_email }), token)
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = w.mail.wait_code(&new_email, "confirm this address").await?;
    // Until confirmed, nothing changed.
    assert_eq!(
        gw.get_auth("/v1/me", token).await?.body["email"],
        email.as_str()
    );
    let wrong = format!("{:06}", (code.parse::<u32>()? + 3) % 1_000_000);
    assert_eq!(
        gw.post_auth("/v1/me/email/confirm", json!({ "code": wrong }), token)
            .await?
            .code(),
        "code_invalid"
    );
    let r = gw
        .post_auth("/v1/me/email/confirm", json!({ "code": code }), token)
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["email"], new_email.as_str());
    assert_eq!(r.body["email_verified"], true);
    w.mail.wait(&email, "email address of your").await?;
    let old = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": new_email, "password": PW }),
        )
        .await?;
    assert_eq!(new.status, StatusCode::OK);
    // Unauthenticated callers cannot start one.
    let r = gw
        .post("/v1/me/email", json!({ "email": unique_email("x") }))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    gw.stop().await
}

async fn email_change_to_a_taken_address_conflicts(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let a = unique_email("a");
    let b = unique_email("b");
    let set = gw.signed_in(&w.mail, &a, PW).await?;
    gw.signup_confirmed(&w.mail, &b, PW).await?;
    let token = set["access_token"].as_str().unwrap();
    let r = gw
        .post_auth("/v1/me/email", json!({ "email": b.to_uppercase() }), token)
        .await?;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "starting does not tell whether the address is taken"
    );
    let code = w
        .mail
        .wait_code(&b.to_uppercase(), "confirm this address")
        .await?;
    let r = gw
        .post_auth("/v1/me/email/confirm", json!({ "code": code }), token)
        .await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "email_taken"));
    let emails: Vec<String> =
        sqlx::query("SELECT email_normalized FROM email_credential ORDER BY email_normalized")
            .fetch_all(&db)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    let mut expected = vec![a.to_lowercase(), b.to_lowercase()];
    expected.sort();
    assert_eq!(emails, expected, "nothing changed");
    gw.stop().await
}

async fn password_change_needs_current_and_ends_other_sessions(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("pwchange");
    let this = gw.signed_in(&w.mail, &email, PW).await?;
    let other = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?
        .body;
    let token = this["access_token"].as_str().unwrap();
    let new_pw = "an entirely new phrase";
    let r = gw
        .post_auth("/v1/me/password", json!({ "new_password": new_pw }), token)
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "current_password_required")
    );
    let r = gw
        .post_auth(
            "/v1/me/password",
            json!({ "current_password": "wrong one here", "new_password": new_pw }),
            token,
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let r = gw
        .post_auth(
            "/v1/me/password",
            json!({ "current_password": PW, "new_password": "password" }),
            token,
        )
        .await?;
    assert_eq!(r.code(), "password_policy");
    let r = gw
        .post_auth(
            "/v1/me/password",
            json!({ "current_password": PW, "new_password": new_pw }),
            token,
        )
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");

    assert_eq!(
        gw.get_auth("/v1/me", token).await?.status,
        StatusCode::OK,
        "this session goes on"
    );
    assert_eq!(
        gw.get_auth("/v1/me", other["access_token"].as_str().unwrap())
            .await?
            .status,
        StatusCode::UNAUTHORIZED
    );
    let rr = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": other["refresh_token"] }),
        )
        .await?;
    assert_eq!(rr.code(), "invalid_grant");
    w.mail.wait(&email, "password was changed").await?;
    assert_eq!(
        gw.post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW })
        )
        .await?
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        gw.post(
            "/v1/sessions/password",
            json!({ "email": email, "password": new_pw })
        )
        .await?
        .status,
        StatusCode::OK
    );
    gw.stop().await
}
