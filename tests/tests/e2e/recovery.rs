//! Recovery by email: the code proves the email, sets a new password, ends every session,
//! cancels pending email changes and notifies.

use gatehouse_tests::{World, unique_email, verified_claims};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    recovery_sets_password_ends_sessions_and_notifies,
    recovery_answers_alike_for_unknown_and_unverified,
    recovery_with_a_wrong_code_changes_nothing,
    recovery_without_new_password_keeps_it,
    recovery_cancels_pending_email_change,
);

const PW: &str = "correct horse battery";
const NEW_PW: &str = "a brand new passphrase";

async fn recovery_sets_password_ends_sessions_and_notifies(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("recover");
    let old = gw.signed_in(&w.mail, &email, PW).await?;
    let r = gw.post("/v1/recovery", json!({ "email": email })).await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = w.mail.wait_code(&email, "recovery code").await?;
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": NEW_PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.header("cache-control"), "no-store");
    let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(at["amr"], json!(["email"]));
    let me = gw.get_auth("/v1/me", &r.str("access_token")).await?;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(at["sub"], me.body["sub"]);

    // The old session is over; the old password no longer works, the new one does.
    let rr = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": old["refresh_token"] }),
        )
        .await?;
    assert_eq!(rr.code(), "invalid_grant");
    assert_eq!(
        gw.get_auth("/v1/me", old["access_token"].as_str().unwrap())
            .await?
            .status,
        StatusCode::UNAUTHORIZED
    );
    let s = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(s.status, StatusCode::UNAUTHORIZED);
    let s = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": NEW_PW }),
        )
        .await?;
    assert_eq!(s.status, StatusCode::OK);
    // The recovery session itself continues.
    let rr = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": r.str("refresh_token") }),
        )
        .await?;
    assert_eq!(rr.status, StatusCode::OK);

    w.mail.wait(&email, "was recovered").await?;
    let account = me.body["sub"].as_str().unwrap();
    let kinds: Vec<String> =
        sqlx::query("SELECT kind FROM audit_event WHERE account_id = $1 ORDER BY id")
            .bind(account)
            .fetch_all(&db)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert!(
        kinds.ends_with(&[
            "recovery_requested".into(),
            "recovery_completed".into(),
            "sign_in_failed".into(),
            "sign_in".into()
        ]),
        "{kinds:?}"
    );
    let reason: String = sqlx::query(
        "SELECT revoked_reason FROM session WHERE account_id = $1 AND revoked_at IS NOT NULL",
    )
    .bind(account)
    .fetch_one(&db)
    .await?
    .get(0);
    assert_eq!(reason, "recovery");
    // The code is single use.
    let again = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code }),
        )
        .await?;
    assert_eq!(again.code(), "code_invalid");
    gw.stop().await
}

async fn recovery_answers_alike_for_unknown_and_unverified(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let known = unique_email("known");
    gw.signup_confirmed(&w.mail, &known, PW).await?;
    let pending = unique_email("pending");
    gw.post("/v1/signup", json!({ "email": pending, "password": PW }))
        .await?;
    let unknown = unique_email("unknown");
    let a = gw.post("/v1/recovery", json!({ "email": known })).await?;
    let b = gw.post("/v1/recovery", json!({ "email": pending })).await?;
    let c = gw.post("/v1/recovery", json!({ "email": unknown })).await?;
    let d = gw
        .post("/v1/recovery", json!({ "email": "not an email" }))
        .await?;
    for r in [&b, &c, &d] {
        assert_eq!((r.status, &r.body), (a.status, &a.body));
    }
    assert_eq!(a.status, StatusCode::ACCEPTED);
    // The look-up happens in the mail worker: wait for the one code.
    w.mail.wait_code(&known, "recovery code").await?;
    let queued: Vec<String> = sqlx::query(
        "SELECT kind FROM mail_outbox WHERE recipient IN ($1, $2, $3) ORDER BY created_at",
    )
    .bind(&known)
    .bind(&pending)
    .bind(&unknown)
    .fetch_all(&db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let recovery = queued
        .iter()
        .filter(|k| k.as_str() == "recovery_code")
        .count();
    assert_eq!(
        recovery, 1,
        "only the verified address gets a code: {queued:?}"
    );
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": unknown, "code": "123456", "new_password": NEW_PW }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "code_invalid")
    );
    gw.stop().await
}

async fn recovery_with_a_wrong_code_changes_nothing(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("wrongcode");
    let session = gw.signed_in(&w.mail, &email, PW).await?;
    gw.post("/v1/recovery", json!({ "email": email })).await?;
    let code = w.mail.wait_code(&email, "recovery code").await?;
    let wrong = format!("{:06}", (code.parse::<u32>()? + 7) % 1_000_000);
    let hash_before: String = sqlx::query("SELECT hash FROM password_credential")
        .fetch_one(&db)
        .await?
        .get(0);
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": wrong, "new_password": NEW_PW }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "code_invalid")
    );
    let hash_after: String = sqlx::query("SELECT hash FROM password_credential")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(hash_before, hash_after);
    assert_eq!(
        gw.get_auth("/v1/me", session["access_token"].as_str().unwrap())
            .await?
            .status,
        StatusCode::OK
    );
    // A weak new password is refused before the code is spent.
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": "password" }),
        )
        .await?;
    assert_eq!(r.code(), "password_policy");
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": NEW_PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    gw.stop().await
}

async fn recovery_without_new_password_keeps_it(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("keep");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let r = gw.recovered(&w.mail, &email).await?;
    assert_eq!(r.status, StatusCode::OK);
    let s = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(s.status, StatusCode::OK);
    // The recovery session may set a password without the current one (DESIGN rule 6).
    let fresh = "picked after recovery";
    let set = gw
        .post_auth(
            "/v1/me/password",
            json!({ "new_password": fresh }),
            &r.str("access_token"),
        )
        .await?;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{set:?}");
    assert_eq!(
        gw.post(
            "/v1/sessions/password",
            json!({ "email": email, "password": fresh })
        )
        .await?
        .status,
        StatusCode::OK
    );
    // A password session still needs the current password.
    let s2 = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": fresh }),
        )
        .await?;
    let r2 = gw
        .post_auth(
            "/v1/me/password",
            json!({ "new_password": "yet another phrase" }),
            &s2.str("access_token"),
        )
        .await?;
    assert_eq!(r2.code(), "current_password_required");
    gw.stop().await
}

async fn recovery_cancels_pending_email_change(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("cancel");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let new_email = unique_email("cancel-new");
    let r = gw
        .post_auth(
            "/v1/me/email",
            json!({ "email": new_email }),
            set["access_token"].as_str().unwrap(),
        )
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let change_code = w.mail.wait_code(&new_email, "confirm this address").await?;
    gw.post("/v1/recovery", json!({ "email": email })).await?;
    let code = w.mail.wait_code(&email, "recovery code").await?;
    let rec = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": NEW_PW }),
        )
        .await?;
    let r = gw
        .post_auth(
            "/v1/me/email/confirm",
            json!({ "code": change_code }),
            &rec.str("access_token"),
        )
        .await?;
    assert_eq!(r.code(), "code_invalid", "the pending change was cancelled");
    let me = gw.get_auth("/v1/me", &rec.str("access_token")).await?;
    assert_eq!(me.body["email"], email.as_str());
    gw.stop().await
}
