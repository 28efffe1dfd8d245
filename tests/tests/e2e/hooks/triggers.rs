//! The synchronous triggers: `pre_sign_up` (deny, auto-confirm; email and wallet sign-ups),
//! `pre_authentication` (deny; timeouts, 500s and nonsense under each policy) and
//! `pre_token` (claims jose sees, groups, a protected claim refused, refresh asked before the
//! rotation).

use gatehouse_tests::{World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

use super::{PW, Receiver, add_hook, admin, count, gateway, hook_failures, password_sign_in};
use crate::TestResult;
use crate::mfa::jose_claims;

crate::tests!(
    pre_sign_up_denies_or_confirms,
    pre_authentication_denies_and_policies_hold,
    pre_token_shapes_tokens_and_guards_claims,
);

const ACCOUNTS: &str = "SELECT COUNT(*) FROM account WHERE pool_id <> $1";

async fn pre_sign_up_denies_or_confirms(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let rx = Receiver::start().await?;
    add_hook(&gw, &rx, "vet", "pre_sign_up", json!({})).await?;
    let confirmed = add_hook(&gw, &rx, "welcome", "post_confirmation", json!({})).await?;
    assert!(!confirmed.is_empty());

    // Denied: the hook's words, and nothing written or mailed.
    rx.script(
        "vet",
        json!([{ "body": { "action": "deny", "message": "Invitation only" } }]),
    )
    .await?;
    let denied = unique_email("denied");
    let r = gw
        .post(
            "/v1/signup",
            json!({ "email": denied, "password": PW, "attributes": { "name": "Dee" } }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "sign_up_denied"),
        "{r:?}"
    );
    assert_eq!(r.body["detail"], "Invitation only");
    assert_eq!(count(&w, ACCOUNTS, "").await?, 0);
    let call = &rx.checked_calls("vet").await?[0];
    assert_eq!(call["body"]["type"], "pre_sign_up");
    let data = &call["body"]["data"];
    assert_eq!(
        (data["pool"].clone(), data["method"].clone()),
        (json!("main"), json!("password"))
    );
    assert_eq!(
        (data["client_id"].clone(), data["email"].clone()),
        (json!("direct"), json!(denied))
    );
    assert_eq!(data["attributes"]["name"], "Dee");
    assert!(data["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    // A wallet's first sign-in is a sign-up too.
    let r = gw.siwe_sign_in(None, json!({})).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "sign_up_denied"),
        "{r:?}"
    );
    assert_eq!(count(&w, ACCOUNTS, "").await?, 0);
    let calls = rx.checked_calls("vet").await?;
    assert_eq!(calls[1]["body"]["data"]["method"], "siwe");
    assert!(
        calls[1]["body"]["data"]["wallet"]
            .as_str()
            .is_some_and(|c| c.starts_with("eip155:1:0x"))
    );

    // Auto-confirmed: active at once with a verified email, no code mailed, and the
    // post_confirmation notification delivered through the outbox.
    rx.script("vet", json!([{ "body": { "action": "auto_confirm" } }]))
        .await?;
    let email = unique_email("auto");
    let r = gw
        .post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let active = count(
        &w,
        "SELECT COUNT(*) FROM account a JOIN email_credential e ON e.account_id = a.id \
         JOIN password_credential p ON p.account_id = a.id \
         WHERE e.email_normalized = $1 AND a.status = 'active' AND e.verified_at IS NOT NULL",
        &email.to_lowercase(),
    )
    .await?;
    assert_eq!(active, 1);
    assert_eq!(
        password_sign_in(&gw, &email, PW).await?.status,
        StatusCode::OK
    );
    let welcome = rx
        .wait_calls("welcome", 1, std::time::Duration::from_secs(10))
        .await?;
    rx.checked_calls("welcome").await?;
    assert_eq!(welcome[0]["body"]["data"]["auto_confirmed"], true);
    assert_eq!(welcome[0]["body"]["data"]["email"], email.to_lowercase());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(w.mail.to(&email).is_empty(), "no code mailed");

    // Allowed: the usual code, and post_confirmation once the code is confirmed.
    rx.script("vet", json!([{ "body": {} }])).await?;
    let plain = unique_email("plain");
    gw.signup_confirmed(&w.mail, &plain, PW).await?;
    let welcome = rx
        .wait_calls("welcome", 2, std::time::Duration::from_secs(10))
        .await?;
    assert_eq!(welcome[1]["body"]["data"]["auto_confirmed"], false);
    assert_eq!(welcome[1]["body"]["data"]["email"], plain.to_lowercase());
    Ok(())
}

async fn pre_authentication_denies_and_policies_hold(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let rx = Receiver::start().await?;
    let email = unique_email("preauth");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    add_hook(
        &gw,
        &rx,
        "gate",
        "pre_authentication",
        json!({ "timeout_ms": 400 }),
    )
    .await?;

    // A denial answers as a wrong password would.
    rx.script(
        "gate",
        json!([{ "body": { "action": "deny", "message": "Blocked by policy" } }]),
    )
    .await?;
    let r = password_sign_in(&gw, &email, PW).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        "{r:?}"
    );
    assert!(!r.body.to_string().contains("Blocked by policy"));
    let call = &rx.checked_calls("gate").await?[0];
    assert_eq!(call["body"]["data"]["email"], email.to_lowercase());
    assert_eq!(call["body"]["data"]["method"], "password");
    assert!(
        call["body"]["data"].get("password").is_none(),
        "no password to this hook"
    );

    // fail_closed: a timeout and a 500 each refuse the sign-in, quickly; each audited.
    for answer in [
        json!({ "delay_ms": 1500 }),
        json!({ "status": 500 }),
        json!({ "raw": "not json" }),
    ] {
        rx.script("gate", json!([answer])).await?;
        let started = Instant::now();
        let r = password_sign_in(&gw, &email, PW).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_GATEWAY, "hook_failed"),
            "{answer}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1400),
            "the hook's timeout bounds it"
        );
    }
    let failures = hook_failures(&w).await?;
    let errors: Vec<&str> = failures
        .iter()
        .filter_map(|f| f["error"].as_str())
        .collect();
    assert_eq!(
        errors,
        [
            "timed out",
            "answered HTTP 500",
            "answered something other than JSON"
        ]
    );
    assert!(
        failures
            .iter()
            .all(|f| f["policy"] == "fail_closed" && f["trigger"] == "pre_authentication")
    );
    assert_eq!(
        count(&w, "SELECT COUNT(*) FROM session WHERE pool_id <> $1", "").await?,
        0
    );

    // fail_open: the same failures let the sign-in through, audited as such.
    let r = admin(
        &gw,
        Method::PATCH,
        "/gate",
        Some(json!({ "failure_policy": "fail_open" })),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK);
    for answer in [json!({ "delay_ms": 1500 }), json!({ "status": 500 })] {
        rx.script("gate", json!([answer])).await?;
        assert_eq!(
            password_sign_in(&gw, &email, PW).await?.status,
            StatusCode::OK
        );
    }
    let failures = hook_failures(&w).await?;
    assert_eq!(failures.len(), 5);
    assert!(failures[3..].iter().all(|f| f["policy"] == "fail_open"));

    // A hook narrowed to other methods is not called for passwords.
    let before = rx.calls("gate").await?.len();
    admin(
        &gw,
        Method::PATCH,
        "/gate",
        Some(json!({ "methods": ["siwe"] })),
    )
    .await?;
    rx.script("gate", json!([{ "body": { "action": "deny" } }]))
        .await?;
    assert_eq!(
        password_sign_in(&gw, &email, PW).await?.status,
        StatusCode::OK
    );
    assert_eq!(rx.calls("gate").await?.len(), before);
    let r = gw.siwe_sign_in(None, json!({})).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );

    // The calls are counted in /metrics.
    let metrics = gw
        .http
        .get(format!("{}/metrics", gw.base))
        .send()
        .await?
        .text()
        .await?;
    for series in [
        r#"gatehouse_hook_calls_total{trigger="pre_authentication",result="timeout"} 2"#,
        r#"gatehouse_hook_calls_total{trigger="pre_authentication",result="denied"} 2"#,
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
    Ok(())
}

async fn pre_token_shapes_tokens_and_guards_claims(w: Arc<World>) -> TestResult {
    // Public at its own address: the code flow below follows the gateway's redirects, and
    // they must stay on loopback.
    let gw = w
        .start_with(|c| {
            c.admin_token = Some(accounts::secret::Secret::new(crate::oauth::ADMIN));
            c.public_url =
                url::Url::parse(&format!("http://{}", c.listen)).expect("listen address");
        })
        .await?;
    let rx = Receiver::start().await?;
    let email = unique_email("tokens");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    add_hook(&gw, &rx, "claims", "pre_token", json!({})).await?;
    rx.script(
        "claims",
        json!([{ "body": {
            "access_token": { "claims": { "tenant": "acme", "roles": ["editor"] } },
            "id_token": { "claims": { "plan": "pro" } },
            "groups": { "add": ["beta"] },
        } }]),
    )
    .await?;
    let r = password_sign_in(&gw, &email, PW).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let access = jose_claims(&gw, &r.str("access_token"), &gw.issuer, Some("at+jwt")).await?;
    assert_eq!(
        (access["tenant"].clone(), access["roles"].clone()),
        (json!("acme"), json!(["editor"]))
    );
    assert_eq!(access["groups"], json!(["beta"]));
    assert!(
        access.get("plan").is_none(),
        "ID-token claims stay in the ID token"
    );
    let id = jose_claims(&gw, &r.str("id_token"), "direct", None).await?;
    assert_eq!(id["plan"], "pro");
    assert_eq!(id["sub"], access["sub"]);
    let call = &rx.checked_calls("claims").await?[0];
    let data = &call["body"]["data"];
    assert_eq!(
        (data["reason"].clone(), data["sub"].clone()),
        (json!("sign_in"), access["sub"].clone())
    );
    assert_eq!(data["amr"], json!(["pwd"]));
    assert!(
        data["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{data}"
    );

    // A refresh asks again (before rotating); a hook that fails then leaves the presented
    // refresh token usable.
    let refresh = r.str("refresh_token");
    rx.script("claims", json!([{ "status": 503 }])).await?;
    let r = gw
        .post("/v1/sessions/refresh", json!({ "refresh_token": refresh }))
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_GATEWAY, "hook_failed")
    );
    rx.script(
        "claims",
        json!([{ "body": { "access_token": { "claims": { "tenant": "acme-2" } } } }]),
    )
    .await?;
    let r = gw
        .post("/v1/sessions/refresh", json!({ "refresh_token": refresh }))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "the token was not spent: {r:?}");
    let access = jose_claims(&gw, &r.str("access_token"), &gw.issuer, Some("at+jwt")).await?;
    assert_eq!(access["tenant"], "acme-2");
    let calls = rx.calls("claims").await?;
    assert_eq!(
        calls.last().map(|c| c["body"]["data"]["reason"].clone()),
        Some(json!("refresh"))
    );

    // Overriding `sub` (or any claim the gateway vouches for) fails the sign-in whatever the
    // policy, and is audited; no token reaches the caller.
    admin(
        &gw,
        Method::PATCH,
        "/claims",
        Some(json!({ "failure_policy": "fail_open" })),
    )
    .await?;
    for claim in ["sub", "iss", "amr", "email_verified"] {
        rx.script(
            "claims",
            json!([{ "invalid": true, "body": { "access_token": { "claims": { claim: "x" } } } }]),
        )
        .await?;
        let r = password_sign_in(&gw, &email, PW).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_GATEWAY, "hook_failed"),
            "{claim}: {r:?}"
        );
        assert!(r.body.get("access_token").is_none());
    }
    let failures = hook_failures(&w).await?;
    let refused: Vec<_> = failures
        .iter()
        .filter(|f| {
            f["error"]
                .as_str()
                .is_some_and(|e| e.contains("may never be changed"))
        })
        .collect();
    assert_eq!(refused.len(), 4);
    assert!(refused.iter().all(|f| f["policy"] == "fail_closed"));
    // The sessions those sign-ins opened were ended: no live session lacks its tokens.
    let live = count(
        &w,
        "SELECT COUNT(*) FROM session WHERE revoked_at IS NULL AND pool_id <> $1",
        "",
    )
    .await?;
    assert_eq!(live, 1, "only the refreshed session lives");

    // At a code redemption too: the client session made for the code is ended, nothing
    // issued (the token endpoint says 503 temporarily_unavailable).
    let app = crate::oauth::web_app(&gw, json!({})).await?;
    let client_id = app["client_id"].as_str().unwrap_or_default().to_string();
    let mut b = crate::oauth::Browser::new(&gw);
    let query = crate::oauth::auth_query(&client_id, &[]);
    let back = b.authorize(&query, &email, PW).await?;
    let code = crate::oauth::param(&back, "code").unwrap_or_default();
    assert!(!code.is_empty(), "{back}");
    rx.script(
        "claims",
        json!([{ "invalid": true, "body": { "id_token": { "claims": { "nonce": "x" } } } }]),
    )
    .await?;
    let (status, body) = crate::oauth::redeem(&gw, &app, &code, crate::oauth::VERIFIER).await?;
    assert_eq!(
        (status, body["error"].clone()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!("temporarily_unavailable")
        ),
        "{body}"
    );
    let client_sessions = count(
        &w,
        "SELECT COUNT(*) FROM session WHERE revoked_at IS NULL AND client_id = $1",
        &client_id,
    )
    .await?;
    assert_eq!(client_sessions, 0);
    let calls = rx.calls("claims").await?;
    assert_eq!(
        calls.last().map(|c| c["body"]["data"]["reason"].clone()),
        Some(json!("authorization_code"))
    );

    // An answer over the size bound is refused (fail_open: the tokens go out unchanged).
    rx.script("claims", json!([{ "invalid": true, "body": { "access_token": { "claims": { "blob": "x".repeat(70_000) } } } }]))
        .await?;
    let r = password_sign_in(&gw, &email, PW).await?;
    assert_eq!(r.status, StatusCode::OK);
    let access = jose_claims(&gw, &r.str("access_token"), &gw.issuer, Some("at+jwt")).await?;
    assert!(access.get("blob").is_none());
    assert!(
        hook_failures(&w)
            .await?
            .last()
            .is_some_and(|f| f["error"] == "answered more than 64 KiB")
    );
    Ok(())
}
