//! `user_migration`: an email unknown here is looked up in the old system; the account it
//! vouches for is created on the first sign-in (argon2id here, its attributes, verified
//! email and groups) and the hook is never asked about it again.

use gatehouse_tests::{World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use super::{Receiver, add_hook, count, gateway, password_sign_in};
use crate::TestResult;
use crate::oauth::ADMIN;

crate::tests!(
    user_migration_moves_an_account_once,
    user_migration_answers_a_recovery,
);

async fn user_migration_moves_an_account_once(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let rx = Receiver::start().await?;
    let r = gw
        .call(
            Method::POST,
            "//admin/v1/pools/main/groups",
            Some(json!({ "name": "legacy-admins" })),
            Some(ADMIN),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    add_hook(&gw, &rx, "oldsys", "user_migration", json!({})).await?;
    let email = unique_email("Legacy");
    let old_password = "short1"; // the old system's rule, not this pool's

    // The old system refuses the password: the same answer as any wrong password, and no
    // account.
    rx.script("oldsys", json!([{ "body": { "action": "unknown" } }]))
        .await?;
    let r = password_sign_in(&gw, &email, "wrong password here").await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let accounts = "SELECT COUNT(*) FROM email_credential WHERE email_normalized = $1";
    assert_eq!(count(&w, accounts, &email.to_lowercase()).await?, 0);
    let call = &rx.checked_calls("oldsys").await?[0];
    assert_eq!(call["body"]["data"]["email"], email, "the address as given");
    assert_eq!(call["body"]["data"]["password"], "wrong password here");

    // It vouches: the account is created and signed in, in the same request.
    rx.script(
        "oldsys",
        json!([{ "body": {
            "action": "migrate", "email_verified": true,
            "attributes": { "name": "Lee Gacy", "custom:plan": "gold" },
            "groups": ["legacy-admins", "no-such-group"],
        } }]),
    )
    .await?;
    let r = password_sign_in(&gw, &email, old_password).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let claims = gatehouse_tests::verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(
        claims["groups"],
        json!(["legacy-admins"]),
        "groups the pool has"
    );
    let db = w.db().await?;
    let row = sqlx::query(
        "SELECT a.id, a.status, a.attributes, e.verified_at, p.hash FROM account a \
         JOIN email_credential e ON e.account_id = a.id JOIN password_credential p ON p.account_id = a.id \
         WHERE e.email_normalized = $1",
    )
    .bind(email.to_lowercase())
    .fetch_one(&db)
    .await?;
    assert_eq!(
        row.get::<String, _>("id"),
        claims["sub"].as_str().unwrap_or_default()
    );
    assert_eq!(row.get::<String, _>("status"), "active");
    assert!(row.get::<Option<i64>, _>("verified_at").is_some());
    let hash: String = row.get("hash");
    assert!(hash.starts_with("$argon2id$v=19$"), "hashed here: {hash}");
    assert!(!hash.contains(old_password));
    let attributes: serde_json::Value = serde_json::from_str(&row.get::<String, _>("attributes"))?;
    assert_eq!(
        attributes,
        json!({ "name": "Lee Gacy", "custom:plan": "gold" })
    );
    let migrated = count(
        &w,
        "SELECT COUNT(*) FROM audit_event WHERE kind = 'user_migrated' AND account_id = $1",
        &row.get::<String, _>("id"),
    )
    .await?;
    assert_eq!(migrated, 1);

    // From now on the account is ours: the hook is not asked again, whatever it would say.
    rx.script("oldsys", json!([{ "status": 500 }])).await?;
    let calls_before = rx.calls("oldsys").await?.len();
    assert_eq!(
        password_sign_in(&gw, &email, old_password).await?.status,
        StatusCode::OK
    );
    let r = password_sign_in(&gw, &email, "wrong password here").await?;
    assert_eq!(r.code(), "invalid_credentials");
    assert_eq!(rx.calls("oldsys").await?.len(), calls_before);

    // Spelled differently, the same address is the same account.
    let upper = email.to_uppercase();
    assert_eq!(
        password_sign_in(&gw, &format!("  {upper} "), old_password)
            .await?
            .status,
        StatusCode::OK
    );
    assert_eq!(count(&w, accounts, &email.to_lowercase()).await?, 1);

    // Another unknown address while the old system is down: fail_closed, nothing created.
    let other = unique_email("down");
    let r = password_sign_in(&gw, &other, old_password).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_GATEWAY, "hook_failed")
    );
    assert_eq!(count(&w, accounts, &other.to_lowercase()).await?, 0);

    // Many parallel first sign-ins of one migrating address make one account, and each
    // sign-in either succeeds or answers as a wrong password would: never a 500.
    rx.script("oldsys", json!([{ "body": { "action": "migrate" } }]))
        .await?;
    let racing = unique_email("race");
    let answers = futures_util::future::join_all(
        (0..4).map(|_| password_sign_in(&gw, &racing, old_password)),
    )
    .await;
    for a in answers {
        let a = a?;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
    }
    assert_eq!(count(&w, accounts, &racing.to_lowercase()).await?, 1);
    Ok(())
}

async fn user_migration_answers_a_recovery(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let rx = Receiver::start().await?;
    add_hook(&gw, &rx, "oldsys", "user_migration", json!({})).await?;
    let accounts = "SELECT COUNT(*) FROM email_credential WHERE email_normalized = $1";

    // Unknown to the old system too: the usual 202, nothing created, nothing mailed.
    rx.script("oldsys", json!([{ "body": { "action": "unknown" } }]))
        .await?;
    let nobody = unique_email("nobody");
    let r = gw.post("/v1/recovery", json!({ "email": nobody })).await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    rx.wait_calls("oldsys", 1, std::time::Duration::from_secs(10))
        .await?;
    let call = &rx.checked_calls("oldsys").await?[0];
    let data = &call["body"]["data"];
    assert_eq!(
        (data["method"].clone(), data["password"].clone()),
        (json!("recovery"), json!(null))
    );
    assert_eq!(data["email"], nobody);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(count(&w, accounts, &nobody).await?, 0);
    assert!(w.mail.to(&nobody).is_empty());

    // Known there: the account is created without a password, the code is mailed, and
    // confirming it with a new password signs in.
    rx.script("oldsys", json!([{ "body": { "action": "migrate", "email_verified": true, "attributes": { "name": "Rec" } } }]))
        .await?;
    let email = unique_email("recover");
    let r = gw.post("/v1/recovery", json!({ "email": email })).await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = w.mail.wait_code(&email, "recovery code").await?;
    assert_eq!(count(&w, accounts, &email).await?, 1);
    let passwords = count(
        &w,
        "SELECT COUNT(*) FROM password_credential p JOIN email_credential e ON e.account_id = p.account_id WHERE e.email_normalized = $1",
        &email,
    )
    .await?;
    assert_eq!(passwords, 0, "no password until the recovery sets one");
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": "a brand new passphrase" }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        password_sign_in(&gw, &email, "a brand new passphrase")
            .await?
            .status,
        StatusCode::OK
    );
    assert_eq!(
        rx.calls("oldsys").await?.len(),
        2,
        "asked once per unknown address"
    );
    Ok(())
}
