//! Hooks through the admin API: the secret shown once, refused settings, one hook per
//! trigger; the signature checked by the receiver's library (a wrong secret makes it refuse,
//! and the sign-in fails closed); a rotation signing with both secrets during its overlap.

use gatehouse_tests::{World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

use super::{PW, Receiver, add_hook, admin, gateway, hook_failures, password_sign_in};
use crate::TestResult;

crate::tests!(
    hooks_are_configured_through_the_admin_api,
    a_wrong_secret_is_refused_and_a_rotation_overlaps,
);

async fn hooks_are_configured_through_the_admin_api(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let rx = Receiver::start().await?;
    let url = rx.hook_url("tokens");
    let r = admin(
        &gw,
        Method::POST,
        "",
        Some(
            json!({ "name": "tokens", "trigger": "pre_token", "url": url, "clients": ["direct"] }),
        ),
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let secret = r.str("secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(r.body["timeout_ms"], 2000);
    assert_eq!(r.body["failure_policy"], "fail_closed");
    assert_eq!(r.body["enabled"], true);

    // Shown once: never in a read or a list, and sealed in the database.
    let got = admin(&gw, Method::GET, "/tokens", None).await?;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.get("secret").is_none(), "{got:?}");
    let list = admin(&gw, Method::GET, "", None).await?;
    assert_eq!(list.body["hooks"].as_array().map(Vec::len), Some(1));
    assert!(!list.body.to_string().contains(&secret));
    let sealed = super::count(
        &w,
        "SELECT COUNT(*) FROM hook WHERE name = $1 AND config NOT LIKE '%whsec_%'",
        "tokens",
    )
    .await?;
    assert_eq!(sealed, 1);

    // One hook per trigger; names are unique; bad settings are 400 with a stable code.
    let r = admin(
        &gw,
        Method::POST,
        "",
        Some(json!({ "name": "other", "trigger": "pre_token", "url": url })),
    )
    .await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "hook_exists"));
    for bad in [
        json!({ "name": "x", "trigger": "pre_token", "url": "http://hooks.example.com/t" }),
        json!({ "name": "x", "trigger": "pre_token", "url": url, "timeout_ms": 20000 }),
        json!({ "name": "x", "trigger": "post_authentication", "url": url, "failure_policy": "fail_closed" }),
        json!({ "name": "x", "trigger": "on_coffee", "url": url }),
        json!({ "name": "Bad Name", "trigger": "pre_sign_up", "url": url }),
    ] {
        let r = admin(&gw, Method::POST, "", Some(bad.clone())).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_hook_config"),
            "{bad}"
        );
    }
    let hooks = super::count(&w, "SELECT COUNT(*) FROM hook WHERE pool_id <> $1", "").await?;
    assert_eq!(hooks, 1, "nothing refused was written");

    // A merge patch changes settings, never the name or the secret.
    let r = admin(
        &gw,
        Method::PATCH,
        "/tokens",
        Some(json!({ "timeout_ms": 500, "clients": null })),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.body["timeout_ms"].clone(), r.body["clients"].clone()),
        (json!(500), json!([]))
    );
    let r = admin(
        &gw,
        Method::PATCH,
        "/tokens",
        Some(json!({ "secret": "whsec_x" })),
    )
    .await?;
    assert_eq!(r.code(), "invalid_hook_config");
    let r = admin(&gw, Method::GET, "/nope", None).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "hook_not_found")
    );

    // Every change is audited with its actor.
    let audited = super::count(
        &w,
        "SELECT COUNT(*) FROM audit_event WHERE kind IN ('hook_created', 'hook_updated') AND detail LIKE $1",
        "%\"actor\":\"root\"%",
    )
    .await?;
    assert_eq!(audited, 2);

    let r = admin(&gw, Method::DELETE, "/tokens", None).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        admin(&gw, Method::DELETE, "/tokens", None).await?.status,
        StatusCode::NOT_FOUND
    );
    Ok(())
}

async fn a_wrong_secret_is_refused_and_a_rotation_overlaps(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let rx = Receiver::start().await?;
    let email = unique_email("sig");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let secret = add_hook(&gw, &rx, "auth", "pre_authentication", json!({})).await?;

    // The receiver knows another secret: it refuses the call (401), and the sign-in fails
    // closed with nothing issued.
    rx.accept("auth", &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        .await?;
    let r = password_sign_in(&gw, &email, PW).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_GATEWAY, "hook_failed"),
        "{r:?}"
    );
    let calls = rx.calls("auth").await?;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["verified"], false,
        "the library refused the signature"
    );
    let sessions = super::count(&w, "SELECT COUNT(*) FROM session WHERE pool_id <> $1", "").await?;
    assert_eq!(sessions, 0);
    let failures = hook_failures(&w).await?;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["policy"], "fail_closed");
    assert_eq!(failures[0]["error"], "answered HTTP 401");
    assert!(!failures.iter().any(|f| f.to_string().contains("whsec_")));

    // With the right secret the library verifies it.
    rx.accept("auth", &[&secret]).await?;
    assert_eq!(
        password_sign_in(&gw, &email, PW).await?.status,
        StatusCode::OK
    );

    // A rotation: two signatures during the overlap, so a receiver that knows either the
    // old or the new secret accepts the call.
    let r = admin(
        &gw,
        Method::POST,
        "/auth/rotate-secret",
        Some(json!({ "overlap_seconds": 600 })),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let fresh = r.str("secret");
    assert!(fresh.starts_with("whsec_") && fresh != secret);
    assert!(r.body["previous_secret_until"].as_i64().is_some());
    for known in [&secret, &fresh] {
        rx.accept("auth", &[known]).await?;
        assert_eq!(
            password_sign_in(&gw, &email, PW).await?.status,
            StatusCode::OK
        );
    }
    let calls = rx.calls("auth").await?;
    let signatures = calls[3]["signature"].as_str().unwrap_or_default();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(calls.iter().skip(1).all(|c| c["verified"] == true));

    // Ending the overlap: the old secret no longer signs.
    let r = admin(
        &gw,
        Method::POST,
        "/auth/rotate-secret",
        Some(json!({ "overlap_seconds": 0 })),
    )
    .await?;
    let newest = r.str("secret");
    rx.accept("auth", &[&fresh]).await?;
    assert_eq!(
        password_sign_in(&gw, &email, PW).await?.code(),
        "hook_failed"
    );
    rx.accept("auth", &[&newest]).await?;
    assert_eq!(
        password_sign_in(&gw, &email, PW).await?.status,
        StatusCode::OK
    );
    // Every call had its own id.
    let calls = rx.calls("auth").await?;
    let mut ids: Vec<&str> = calls.iter().filter_map(|c| c["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), calls.len());
    Ok(())
}
