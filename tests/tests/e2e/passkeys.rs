//! Passkeys with a browser's virtual authenticators (headless Chromium, the DevTools
//! protocol): registered (a discoverable credential, user verification required, the
//! account's own excluded), signing in alone (`amr`: key, `user`, `mfa`), answering a
//! second-factor challenge, and refused for another account, from another origin, replayed,
//! or with a signature counter that went backwards; listed, renamed and removed under the
//! rules of the last credential and the last factor.

use gatehouse_tests::{Gateway, World, node_client, unique_email, verified_claims};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;
use crate::admin::{ADMIN, admin};

crate::tests!(passkeys_sign_in_and_answer_challenges,);

const PW: &str = "correct horse battery";

async fn claims(gw: &Gateway, token: &Value) -> anyhow::Result<Value> {
    verified_claims(gw, token.as_str().unwrap_or_default(), &gw.issuer).await
}

async fn passkeys_sign_in_and_answer_challenges(w: Arc<World>) -> TestResult {
    // WebAuthn has no IP relying parties: the public URL is localhost.
    let gw = w
        .start_with(|c| {
            c.admin_token = Some(accounts::secret::Secret::new(ADMIN));
            c.public_url = url::Url::parse(&format!("http://localhost:{}", c.listen.port()))
                .expect("public url");
        })
        .await?;
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "mfa": { "mode": "optional", "factors": ["totp", "passkey"] } })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // A pre_authentication hook for passkey sign-ins: told each one, with its account.
    let rx = crate::hooks::Receiver::start().await?;
    crate::hooks::add_hook(
        &gw,
        &rx,
        "gate",
        "pre_authentication",
        json!({ "methods": ["passkey"] }),
    )
    .await?;
    let (email_a, email_b) = (unique_email("passkey-a"), unique_email("passkey-b"));
    let a = gw.signed_in(&w.mail, &email_a, PW).await?;
    let b = gw.signed_in(&w.mail, &email_b, PW).await?;
    let out: Value = node_client(
        "passkeys.mjs",
        &json!({
            "issuer": gw.issuer, "token_a": a["access_token"],
            "token_b": b["access_token"], "email_a": email_a, "password": PW,
        }),
    )
    .await?;
    assert_eq!(
        out["options_selection"]["residentKey"], "required",
        "{out:#}"
    );
    assert_eq!(out["options_selection"]["userVerification"], "required");
    assert_eq!(
        out["registered"],
        json!({ "status": 201, "name": "Laptop" })
    );
    assert_eq!(out["excluded"], 1);
    assert_eq!(out["create_again"], "InvalidStateError");
    assert_eq!(out["sign_in"]["status"], 200, "{out:#}");
    let signed = claims(&gw, &out["sign_in"]["access_token"]).await?;
    let sub_a = sub(&a)?;
    assert_eq!(signed["sub"], sub_a.as_str());
    assert_eq!(signed["amr"], json!(["hwk", "user", "mfa"]));
    let gate = rx.checked_calls("gate").await?;
    assert!(
        gate.iter()
            .any(|c| c["body"]["data"]["sub"] == sub_a.as_str()
                && c["body"]["data"]["method"] == "passkey"),
        "{gate:?}"
    );
    assert_eq!(out["replay_same_handle"], "passkey_invalid");
    assert_eq!(out["replay_new_handle"], "passkey_invalid");
    assert_eq!(out["registered_b"], 201);
    let signed_b = claims(&gw, &out["sign_in_b"]["access_token"]).await?;
    assert_eq!(signed_b["sub"], sub(&b)?.as_str());
    assert_eq!(out["challenge_factors"], json!(["passkey"]));
    assert_eq!(out["challenge_allow"], 1);
    assert_eq!(out["b_for_a_browser"], "NotAllowedError");
    assert_eq!(out["b_for_a"], "mfa_code_invalid");
    let answered = claims(&gw, &out["challenge_answer"]["access_token"]).await?;
    assert_eq!(answered["amr"], json!(["pwd", "hwk", "mfa"]));
    assert_eq!(out["other_origin"], "SecurityError");
    assert_eq!(out["page_sign_in"], "You are signed in");
    assert_eq!(
        out["page_challenge_code_form"], 0,
        "only a passkey answers: no code form"
    );
    assert_eq!(out["page_challenge"], "You are signed in");
    assert!(out["counter_before"].as_u64() > Some(1), "{out:#}");
    assert_eq!(out["regressed"], "passkey_invalid");

    // Listed, renamed; removing it under `required` with no other factor is refused, and
    // an account whose passkey is all it has keeps it.
    let token = a["access_token"].as_str().unwrap_or_default();
    let list = gw.get_auth("/v1/me/passkeys", token).await?;
    let id = list.body["passkeys"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        list.body["passkeys"][0]["last_used_at"].as_i64() > Some(0),
        "{list:?}"
    );
    let r = gw
        .call(
            Method::PATCH,
            &format!("/v1/me/passkeys/{id}"),
            Some(json!({ "name": "  Work laptop " })),
            Some(token),
        )
        .await?;
    assert_eq!(
        (r.status, r.str("name")),
        (StatusCode::OK, "Work laptop".into())
    );
    let r = gw
        .call(
            Method::PATCH,
            &format!("/v1/me/passkeys/{id}"),
            Some(json!({ "name": "" })),
            Some(token),
        )
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = gw
        .call(
            Method::DELETE,
            &format!("/v1/me/passkeys/{id}"),
            None,
            Some(sub_b_token(&b)),
        )
        .await?;
    assert_eq!(r.code(), "passkey_not_found", "another account's passkey");
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "mfa": { "mode": "required", "factors": ["totp", "passkey"] } })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = gw
        .call(
            Method::DELETE,
            &format!("/v1/me/passkeys/{id}"),
            None,
            Some(token),
        )
        .await?;
    assert_eq!(r.code(), "last_factor", "{r:?}");
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "mfa": { "mode": "optional", "factors": ["totp", "passkey"] } })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK);
    let r = gw
        .call(
            Method::DELETE,
            &format!("/v1/me/passkeys/{id}"),
            None,
            Some(token),
        )
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let db = w.db().await?;
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM passkey WHERE account_id = $1")
        .bind(&sub_a)
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(left, 0);
    let audited: i64 = sqlx::query(
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 \
         AND kind IN ('passkey_added', 'passkey_renamed', 'passkey_removed')",
    )
    .bind(&sub_a)
    .fetch_one(&db)
    .await?
    .get(0);
    assert_eq!(audited, 3);
    gw.stop().await?;
    Ok(())
}

fn sub(set: &Value) -> anyhow::Result<String> {
    let token = set["access_token"].as_str().unwrap_or_default();
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)?;
    Ok(serde_json::from_slice::<Value>(&bytes)?["sub"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

fn sub_b_token(b: &Value) -> &str {
    b["access_token"].as_str().unwrap_or_default()
}
