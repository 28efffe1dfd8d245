//! What an account sees and ends of its own: its sessions (with the device they came
//! from), the export of everything held about it, and deleting it.

use gatehouse_tests::siwe_key::SiweKey;
use gatehouse_tests::{Answer, Gateway, World, node_client, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;
use crate::admin::sub_of;

crate::tests!(
    sessions_are_listed_with_their_device_and_ended,
    the_export_holds_everything_but_secrets,
    accounts_are_deleted_by_their_owner,
    the_account_page_ends_sessions_and_deletes_the_account,
);

const PW: &str = "correct horse battery";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

async fn count(w: &World, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&w.db().await?).await?.get(0))
}

/// A password sign-in sent with `user_agent`: its token set.
async fn sign_in_as(gw: &Gateway, email: &str, user_agent: &str) -> anyhow::Result<Value> {
    let r = gw
        .http
        .post(format!("{}/v1/sessions/password", gw.api))
        .header("user-agent", user_agent)
        .json(&json!({ "email": email, "password": PW }))
        .send()
        .await?;
    anyhow::ensure!(r.status() == StatusCode::OK, "sign-in: {}", r.status());
    Ok(r.json().await?)
}

fn token(set: &Value, name: &str) -> String {
    set[name].as_str().unwrap_or_default().to_string()
}

async fn delete(gw: &Gateway, path: &str, bearer: &str) -> anyhow::Result<Answer> {
    gw.call(Method::DELETE, path, None, Some(bearer)).await
}

async fn sessions_are_listed_with_their_device_and_ended(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("devices");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let laptop = sign_in_as(&gw, &email, FIREFOX).await?;
    let phone = sign_in_as(&gw, &email, "curl/8.5.0").await?;
    let r = gw
        .get_auth("/v1/me/sessions", &token(&laptop, "access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let sessions = r.body["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 2, "{r:?}");
    let of = |device: &str| {
        sessions
            .iter()
            .find(|s| s["device"] == device)
            .cloned()
            .unwrap_or_default()
    };
    let (mine, other) = (of("Firefox on Linux"), of("curl on unknown system"));
    assert_eq!(
        (mine["current"].as_bool(), other["current"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(
        (mine["method"].clone(), mine["user_agent"].as_str()),
        (json!(["pwd"]), Some(FIREFOX))
    );
    assert!(mine["client_id"].is_null() && mine["last_used_at"].as_i64() > Some(0));

    // Another account cannot end it; the owner can.
    let stranger = gw.signed_in(&w.mail, &unique_email("stranger"), PW).await?;
    let other_id = other["id"].as_str().unwrap();
    let r = delete(
        &gw,
        &format!("/v1/me/sessions/{other_id}"),
        &token(&stranger, "access_token"),
    )
    .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "session_not_found"),
        "{r:?}"
    );
    let r = delete(
        &gw,
        &format!("/v1/me/sessions/{other_id}"),
        &token(&laptop, "access_token"),
    )
    .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = gw
        .get_auth("/v1/me", &token(&phone, "access_token"))
        .await?;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "its access token died with it"
    );
    let r = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": phone["refresh_token"] }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for gone in [
        other_id.to_string(),
        uuid::Uuid::new_v4().to_string(),
        "x".into(),
    ] {
        let r = delete(
            &gw,
            &format!("/v1/me/sessions/{gone}"),
            &token(&laptop, "access_token"),
        )
        .await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "session_not_found"),
            "{gone}"
        );
    }
    let r = gw
        .get_auth("/v1/me/sessions", &token(&laptop, "access_token"))
        .await?;
    assert_eq!(r.body["sessions"].as_array().map(Vec::len), Some(1));
    let ended = format!(
        "SELECT COUNT(*) FROM audit_event WHERE kind = 'session_ended' AND account_id = '{}'",
        sub_of(&token(&laptop, "access_token"))
    );
    assert_eq!(count(&w, &ended).await?, 1);
    let r = gw.call(Method::GET, "/v1/me/sessions", None, None).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    gw.stop().await?;
    Ok(())
}

async fn the_export_holds_everything_but_secrets(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("export");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let access = token(&set, "access_token");
    let key = SiweKey::new();
    let body = key.sign_in_body("gatehouse.test", &gw.siwe_nonce().await?);
    let r = gw.post_auth("/v1/me/wallets", body, &access).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = gw.get_auth("/v1/me/export", &access).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let e = &r.body;
    assert_eq!(e["account"]["sub"].as_str(), Some(sub_of(&access).as_str()));
    assert_eq!(e["account"]["email"].as_str(), Some(email.as_str()));
    assert_eq!(
        e["account"]["wallets"][0].as_str(),
        Some(format!("eip155:1:{}", key.address).as_str())
    );
    assert_eq!(e["sessions"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (e["mfa"]["mode"].clone(), e["passkeys"].clone()),
        (json!("off"), json!([]))
    );
    let kinds: Vec<&str> = e["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    for kind in ["signup", "signup_confirmed", "sign_in", "wallet_linked"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    // Secrets never: the password hash, refresh tokens, codes.
    let hash: String = sqlx::query("SELECT hash FROM password_credential")
        .fetch_one(&w.db().await?)
        .await?
        .get(0);
    let text = e.to_string();
    for secret in [
        hash.as_str(),
        set["refresh_token"].as_str().unwrap(),
        "$argon2",
    ] {
        assert!(!text.contains(secret), "the export leaks a secret");
    }
    gw.stop().await?;
    Ok(())
}

async fn accounts_are_deleted_by_their_owner(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("leaving");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let access = token(&set, "access_token");
    let sub = sub_of(&access);
    let key = SiweKey::new();
    let body = key.sign_in_body("gatehouse.test", &gw.siwe_nonce().await?);
    assert_eq!(
        gw.post_auth("/v1/me/wallets", body, &access).await?.status,
        StatusCode::CREATED
    );

    // A sign-in older than 15 minutes is not enough.
    gw.clock.advance(16 * 60);
    let r = delete(&gw, "/v1/me", &access).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "reauthentication_required")
    );
    assert_eq!(
        count(
            &w,
            &format!("SELECT COUNT(*) FROM account WHERE id = '{sub}'")
        )
        .await?,
        1
    );

    let fresh = sign_in_as(&gw, &email, "curl/8").await?;
    let r = delete(&gw, "/v1/me", &token(&fresh, "access_token")).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let notice = w.mail.wait(&email, "deleted").await?;
    assert!(notice.subject().contains("deleted"));
    for table in [
        "account WHERE id",
        "email_credential WHERE account_id",
        "wallet_credential WHERE account_id",
        "session WHERE account_id",
    ] {
        assert_eq!(
            count(&w, &format!("SELECT COUNT(*) FROM {table} = '{sub}'")).await?,
            0,
            "{table}"
        );
    }
    let kept = format!(
        "SELECT COUNT(*) FROM audit_event WHERE account_id = '{sub}' AND kind = 'account_deleted'"
    );
    assert_eq!(count(&w, &kept).await?, 1);
    let r = gw
        .get_auth("/v1/me", &token(&fresh, "access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The email is free for a new sign-up (the wallet's row is gone above; re-linking a
    // freed wallet is covered by the admin deletion test, whose clock is not moved).
    let r = gw
        .post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let pending = "SELECT COUNT(*) FROM account a JOIN email_credential e ON e.account_id = a.id \
        WHERE a.status = 'pending'";
    assert_eq!(count(&w, pending).await?, 1);
    gw.stop().await?;
    Ok(())
}

/// The hosted account page in headless Chromium: the sessions listed with their device, one
/// signed out, the account deleted (after a refused attempt without the box ticked).
async fn the_account_page_ends_sessions_and_deletes_the_account(w: Arc<World>) -> TestResult {
    // Public at its own address, so the browser's forms are same-origin.
    let gw = w
        .start_with(|c| {
            c.public_url =
                url::Url::parse(&format!("http://{}", c.listen)).expect("listen address");
        })
        .await?;
    let email = unique_email("page");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let phone = sign_in_as(&gw, &email, "curl/8.5.0").await?;
    let out: Value = node_client(
        "account-page.mjs",
        &json!({
            "issuer": gw.api, "email": email, "password": PW,
            "new_password": "violet tractor umbrella",
        }),
    )
    .await?;
    assert_eq!(out["sessions_before"], 2, "{out}");
    let devices = out["devices"].to_string();
    assert!(
        devices.contains("curl on unknown system") && devices.contains("Chrome on Linux"),
        "{devices}"
    );
    assert_eq!(out["sessions_after"], 1, "{out}");
    assert!(
        out["ended_notice"]
            .as_str()
            .unwrap_or_default()
            .contains("signed out"),
        "{out}"
    );
    let said = |k: &str| out[k].as_str().unwrap_or_default().to_string();
    assert!(
        said("wrong_password_error").contains("don't match"),
        "{out}"
    );
    assert!(
        said("password_notice").contains("password was changed"),
        "{out}"
    );
    w.mail.wait(&email, "password was changed").await?;
    assert!(
        out["unconfirmed_error"]
            .as_str()
            .unwrap_or_default()
            .contains("Tick the box"),
        "{out}"
    );
    assert_eq!(out["deleted_title"], "Account deleted");
    assert!(
        out["after_delete_url"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/login"),
        "{out}"
    );
    // The phone's session was the one signed out; then the whole account went.
    let r = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": phone["refresh_token"] }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 0);
    w.mail.wait(&email, "deleted").await?;
    gw.stop().await?;
    Ok(())
}
