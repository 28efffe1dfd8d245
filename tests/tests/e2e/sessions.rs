//! Password sign-in, unified tokens, refresh rotation and reuse detection, sign-out.

use gatehouse_tests::{World, unique_email, verified_claims};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    unknown_email_and_wrong_password_answer_alike,
    token_set_carries_unified_claims,
    refresh_rotates_with_grace_then_detects_reuse,
    concurrent_refreshes_get_the_same_successor,
    revoke_ends_one_session,
    revoke_all_ends_every_session,
    repeated_failures_lock_the_email,
    access_token_is_required_and_checked,
);

const PW: &str = "correct horse battery";

async fn unknown_email_and_wrong_password_answer_alike(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("alike");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let wrong = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": "not the password" }),
        )
        .await?;
    let unknown = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": unique_email("ghost"), "password": PW }),
        )
        .await?;
    let malformed = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": "not an email", "password": PW }),
        )
        .await?;
    for r in [&wrong, &unknown, &malformed] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
    }
    assert_eq!(wrong.body, unknown.body);
    let failures: i64 = sqlx::query(
        "SELECT COUNT(*) FROM audit_event a JOIN email_credential e ON e.account_id = a.account_id \
         WHERE e.email_normalized = $1 AND a.kind = 'sign_in_failed'",
    )
    .bind(email.to_lowercase())
    .fetch_one(&db)
    .await?
    .get(0);
    assert_eq!(failures, 1);
    let sessions: i64 = sqlx::query("SELECT COUNT(*) FROM session")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(sessions, 0);
    gw.stop().await
}

async fn token_set_carries_unified_claims(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("claims");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.str("refresh_token").len(), 43, "256-bit opaque token");

    let access = r.str("access_token");
    let header = jsonwebtoken::decode_header(&access)?;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert!(header.kid.is_some());
    let at = verified_claims(&gw, &access, &gw.issuer).await?;
    let me = gw.get_auth("/v1/me", &access).await?;
    assert_eq!(at["sub"], me.body["sub"]);
    assert_ne!(at["sub"].as_str(), Some(email.as_str()));
    assert!(uuid::Uuid::parse_str(at["sub"].as_str().unwrap()).is_ok());
    assert_eq!(at["client_id"], "direct");
    assert_eq!(at["amr"], json!(["pwd"]));
    assert_eq!(at["groups"], json!([]));
    assert_eq!(at["wallets"], json!([]));
    assert!(at.get("wallet").is_none());
    assert_eq!(
        at["exp"].as_i64().unwrap() - at["iat"].as_i64().unwrap(),
        3600
    );
    for claim in ["jti", "scope", "auth_time", "sid"] {
        assert!(at.get(claim).is_some(), "{claim}");
    }

    let id = verified_claims(&gw, &r.str("id_token"), "direct").await?;
    assert_eq!(
        jsonwebtoken::decode_header(r.str("id_token"))?
            .typ
            .as_deref(),
        Some("JWT")
    );
    assert_eq!(id["sub"], at["sub"]);
    assert_eq!(id["email"], email.as_str());
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["wallets"], json!([]));
    // The same account gets the same sub on every sign-in.
    let again = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email.to_uppercase(), "password": PW }),
        )
        .await?;
    let at2 = verified_claims(&gw, &again.str("access_token"), &gw.issuer).await?;
    assert_eq!(at2["sub"], at["sub"]);
    assert_ne!(at2["jti"], at["jti"]);
    gw.stop().await
}

async fn refresh(
    gw: &gatehouse_tests::Gateway,
    token: &str,
) -> anyhow::Result<gatehouse_tests::Answer> {
    gw.post("/v1/sessions/refresh", json!({ "refresh_token": token }))
        .await
}

async fn refresh_rotates_with_grace_then_detects_reuse(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("rotate");
    let first = gw.signed_in(&w.mail, &email, PW).await?;
    let t0 = first["refresh_token"].as_str().unwrap().to_string();

    let r1 = refresh(&gw, &t0).await?;
    assert_eq!(r1.status, StatusCode::OK);
    assert_eq!(r1.header("cache-control"), "no-store");
    let t1 = r1.str("refresh_token");
    assert_ne!(t1, t0);
    let claims = verified_claims(&gw, &r1.str("access_token"), &gw.issuer).await?;
    assert_eq!(
        claims["amr"],
        json!(["pwd"]),
        "a refresh keeps how the user signed in"
    );

    // A second tab presents t0 within 10 s: the same successor, never a second one.
    gw.clock.advance(5);
    let r1b = refresh(&gw, &t0).await?;
    assert_eq!(r1b.status, StatusCode::OK);
    assert_eq!(r1b.str("refresh_token"), t1);
    let tokens: i64 = sqlx::query("SELECT COUNT(*) FROM refresh_token")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(tokens, 2, "one family, two generations");

    // t1 rotates on.
    let r2 = refresh(&gw, &t1).await?;
    let t2 = r2.str("refresh_token");
    assert_eq!(r2.status, StatusCode::OK);

    // Later, t0 again: reuse. The whole family is revoked, t2 included.
    gw.clock.advance(20);
    let reuse = refresh(&gw, &t0).await?;
    assert_eq!(
        (reuse.status, reuse.code()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let r3 = refresh(&gw, &t2).await?;
    assert_eq!(
        (r3.status, r3.code()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let me = gw.get_auth("/v1/me", &r2.str("access_token")).await?;
    assert_eq!(
        me.status,
        StatusCode::UNAUTHORIZED,
        "the family's access tokens stop working here too"
    );
    let row = sqlx::query("SELECT revoked_at, revoked_reason FROM session")
        .fetch_one(&db)
        .await?;
    assert!(row.get::<Option<i64>, _>("revoked_at").is_some());
    assert_eq!(
        row.get::<Option<String>, _>("revoked_reason").as_deref(),
        Some("refresh_token_reuse")
    );
    let audits: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_event WHERE kind = 'token_family_revoked'")
            .fetch_one(&db)
            .await?
            .get(0);
    assert_eq!(audits, 1);

    // Garbage is refused without effect.
    let r = refresh(&gw, "not-a-token").await?;
    assert_eq!(r.code(), "invalid_grant");
    let r = refresh(&gw, &"a".repeat(500)).await?;
    assert_eq!(r.code(), "invalid_grant");
    gw.stop().await
}

async fn concurrent_refreshes_get_the_same_successor(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("tabs");
    let first = gw.signed_in(&w.mail, &email, PW).await?;
    let t0 = first["refresh_token"].as_str().unwrap().to_string();
    let (a, b, c) = tokio::join!(refresh(&gw, &t0), refresh(&gw, &t0), refresh(&gw, &t0));
    let (a, b, c) = (a?, b?, c?);
    for r in [&a, &b, &c] {
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    assert_eq!(a.str("refresh_token"), b.str("refresh_token"));
    assert_eq!(b.str("refresh_token"), c.str("refresh_token"));
    let next = refresh(&gw, &a.str("refresh_token")).await?;
    assert_eq!(next.status, StatusCode::OK);
    gw.stop().await
}

async fn revoke_ends_one_session(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("revoke");
    let one = gw.signed_in(&w.mail, &email, PW).await?;
    let two = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?
        .body;
    let rt = |v: &Value| v["refresh_token"].as_str().unwrap().to_string();
    let at = |v: &Value| v["access_token"].as_str().unwrap().to_string();
    let r = gw
        .post("/v1/sessions/revoke", json!({ "refresh_token": rt(&one) }))
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&gw, &rt(&one)).await?.code(), "invalid_grant");
    assert_eq!(
        gw.get_auth("/v1/me", &at(&one)).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        gw.get_auth("/v1/me", &at(&two)).await?.status,
        StatusCode::OK,
        "the other session lives"
    );
    assert_eq!(refresh(&gw, &rt(&two)).await?.status, StatusCode::OK);
    // Unknown tokens answer the same (RFC 7009 §2.2).
    let r = gw
        .post("/v1/sessions/revoke", json!({ "refresh_token": "unknown" }))
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    gw.stop().await
}

async fn revoke_all_ends_every_session(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("all");
    let one = gw.signed_in(&w.mail, &email, PW).await?;
    let two = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?
        .body;
    let r = gw
        .post_auth(
            "/v1/me/sessions/revoke-all",
            json!({}),
            one["access_token"].as_str().unwrap(),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["revoked"], 2);
    for s in [&one, &two] {
        assert_eq!(
            refresh(&gw, s["refresh_token"].as_str().unwrap())
                .await?
                .code(),
            "invalid_grant"
        );
        assert_eq!(
            gw.get_auth("/v1/me", s["access_token"].as_str().unwrap())
                .await?
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let live: i64 = sqlx::query("SELECT COUNT(*) FROM session WHERE revoked_at IS NULL")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(live, 0);
    let audits: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_event WHERE kind = 'sessions_revoked'")
            .fetch_one(&db)
            .await?
            .get(0);
    assert_eq!(audits, 1);
    gw.stop().await
}

async fn repeated_failures_lock_the_email(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("lock");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    for _ in 0..10 {
        let r = gw
            .post(
                "/v1/sessions/password",
                json!({ "email": email, "password": "wrong guess here" }),
            )
            .await?;
        assert_eq!(r.code(), "invalid_credentials");
    }
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(!r.header("retry-after").is_empty());
    // Another address is not affected.
    let other = unique_email("free");
    gw.signup_confirmed(&w.mail, &other, PW).await?;
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": other, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    gw.stop().await
}

async fn access_token_is_required_and_checked(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("bearer");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let access = set["access_token"].as_str().unwrap();

    let none = gw.call(reqwest::Method::GET, "/v1/me", None, None).await?;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(
        none.header("www-authenticate"),
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(
        gw.get_auth("/v1/me", "garbage").await?.status,
        StatusCode::UNAUTHORIZED
    );
    // An ID token is not an access token (RFC 9068 §4: typ at+jwt).
    assert_eq!(
        gw.get_auth("/v1/me", set["id_token"].as_str().unwrap())
            .await?
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A tampered payload fails the signature.
    let mut parts: Vec<String> = access.split('.').map(String::from).collect();
    let mut payload: Value = serde_json::from_slice(&base64_decode(&parts[1]))?;
    payload["sub"] = json!(uuid::Uuid::new_v4().to_string());
    parts[1] = base64_encode(&serde_json::to_vec(&payload)?);
    assert_eq!(
        gw.get_auth("/v1/me", &parts.join(".")).await?.status,
        StatusCode::UNAUTHORIZED
    );
    // alg none.
    let header = base64_encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{header}.{}.", parts[1]);
    assert_eq!(
        gw.get_auth("/v1/me", &unsigned).await?.status,
        StatusCode::UNAUTHORIZED
    );
    // Another pool's issuer is refused.
    assert_eq!(
        gw.get_auth("//pools/nope/v1/me", access).await?.code(),
        "pool_not_found"
    );
    assert_eq!(gw.get_auth("/v1/me", access).await?.status, StatusCode::OK);
    // Expired.
    gw.clock.advance(3600 + 61);
    assert_eq!(
        gw.get_auth("/v1/me", access).await?.status,
        StatusCode::UNAUTHORIZED
    );
    gw.stop().await
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
