//! Operations: health, discovery and JWKS, problem details and headers, restarts, key
//! rotation, several instances on one database, mail retries.

use accounts::secret::Secret;
use gatehouse_tests::{Backend, Gateway, World, unique_email};
use gateway::cli::{Command, KeysCommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::TestResult;

crate::tests!(
    health_and_readiness,
    discovery_and_jwks_publish_public_keys_only,
    errors_and_security_headers,
    restart_keeps_keys_accounts_and_sessions,
    key_rotation_publishes_first_and_retires_late,
    cli_rotates_keys,
    two_instances_behave_as_one,
    mail_is_retried_until_delivered,
    three_instances_starting_together_make_one_key_per_algorithm,
    clock_skew_within_the_leeway_and_beyond,
    a_revoked_key_is_refused_everywhere,
);

const ROOT: &str = "test-admin-token-0123456789abcdef";

/// Emergency revocation through the admin API on one instance: its tokens are refused there
/// at once and on the other within its 30 s key reload; refresh re-issues them under the
/// replacement, which signs at once; the CLI revokes too. Audited.
async fn a_revoked_key_is_refused_everywhere(w: Arc<World>) -> TestResult {
    let a = w
        .start_with(|c| c.admin_token = Some(Secret::new(ROOT)))
        .await?;
    let b = w.start().await?;
    let email = unique_email("revoked");
    let set = a.signed_in(&w.mail, &email, PW).await?;
    let token = set["access_token"].as_str().unwrap_or_default().to_string();
    let kid = kid_of(&token);
    for gw in [&a, &b] {
        assert_eq!(gw.get_auth("/v1/me", &token).await?.status, StatusCode::OK);
    }
    let r = a
        .call(
            Method::POST,
            &format!("//admin/v1/pools/main/keys/{kid}/revoke"),
            None,
            Some(ROOT),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let keys = r.body["keys"].as_array().cloned().unwrap_or_default();
    let live_es256: Vec<&Value> = keys
        .iter()
        .filter(|k| k["alg"] == "ES256" && k["retires_at"].is_null())
        .collect();
    assert_eq!(live_es256.len(), 1);
    assert_ne!(live_es256[0]["kid"], kid.as_str());
    // Refused here at once, and elsewhere once that instance reloads its keys (30 s).
    assert_eq!(
        a.get_auth("/v1/me", &token).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(!kids(&a).await?.contains(&kid), "gone from the JWKS");
    b.clock.advance(31);
    assert_eq!(
        b.get_auth("/v1/me", &token).await?.status,
        StatusCode::UNAUTHORIZED
    );
    // Refresh gives tokens under the replacement, valid everywhere.
    let r = b
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": set["refresh_token"] }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let fresh = r.str("access_token");
    assert_ne!(kid_of(&fresh), kid);
    for gw in [&a, &b] {
        assert_eq!(gw.get_auth("/v1/me", &fresh).await?.status, StatusCode::OK);
    }
    // Unknown or already revoked: 404, nothing changes.
    let r = a
        .call(
            Method::POST,
            &format!("//admin/v1/pools/main/keys/{kid}/revoke"),
            None,
            Some(ROOT),
        )
        .await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let revoked: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_event WHERE kind = 'signing_key_revoked'")
            .fetch_one(&w.db().await?)
            .await?
            .get(0);
    assert_eq!(revoked, 1);
    a.stop().await?;
    b.stop().await?;
    // The CLI: the RS256 key.
    let rs256 = {
        let gw = w.start().await?;
        let r: Value = gw
            .http
            .get(format!("{}/.well-known/jwks.json", gw.api))
            .send()
            .await?
            .json()
            .await?;
        gw.stop().await?;
        r["keys"]
            .as_array()
            .and_then(|ks| ks.iter().find(|k| k["alg"] == "RS256"))
            .and_then(|k| k["kid"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let revoke = Command::Keys {
        command: KeysCommand::Revoke {
            pool: "main".into(),
            kid: rs256.clone(),
        },
    };
    gateway::cli::run_admin(&revoke, w.config(0), false).await?;
    let gw = w.start().await?;
    let now_published = kids(&gw).await?;
    assert!(!now_published.contains(&rs256));
    assert_eq!(now_published.len(), 2, "{now_published:?}");
    gw.stop().await
}

async fn token_at(gw: &Gateway, email: &str) -> anyhow::Result<String> {
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    Ok(r.str("access_token"))
}

/// Two instances, one with its clock ahead: within the 60 s leeway its tokens validate on
/// the other; beyond it they do not, and its `/readyz` says why (503) so a balancer takes it
/// out, while the other stays ready.
async fn clock_skew_within_the_leeway_and_beyond(w: Arc<World>) -> TestResult {
    let ahead = w.start().await?;
    let real = w.start().await?;
    let email = unique_email("skew");
    ahead.signup_confirmed(&w.mail, &email, PW).await?;
    let r = real.call(Method::GET, "//readyz", None, None).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body["clock_offset_seconds"]
            .as_i64()
            .is_some_and(|o| o.abs() <= 2),
        "{r:?}"
    );

    ahead.clock.advance(45);
    let token = token_at(&ahead, &email).await?;
    let r = real.get_auth("/v1/me", &token).await?;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "45 s ahead is within the leeway: {r:?}"
    );
    let r = ahead.call(Method::GET, "//readyz", None, None).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");

    ahead.clock.advance(45);
    let token = token_at(&ahead, &email).await?;
    let r = real.get_auth("/v1/me", &token).await?;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "90 s ahead is beyond it: {r:?}"
    );
    let r = ahead.call(Method::GET, "//readyz", None, None).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{r:?}"
    );
    let r = real.call(Method::GET, "//readyz", None, None).await?;
    assert_eq!(r.status, StatusCode::OK);
    ahead.stop().await?;
    real.stop().await
}

/// Three instances started at once on an empty database: the migrations run once, the pool
/// gets one live key per algorithm (not one per instance), and all three publish the same
/// JWKS at once, so a token signed by one verifies with what another published.
async fn three_instances_starting_together_make_one_key_per_algorithm(w: Arc<World>) -> TestResult {
    let (a, b, c) = tokio::join!(w.start(), w.start(), w.start());
    let (a, b, c) = (a?, b?, c?);
    let live: Vec<(String, i64)> = sqlx::query(
        "SELECT alg, COUNT(*) FROM signing_key WHERE retires_at IS NULL GROUP BY alg ORDER BY alg",
    )
    .fetch_all(&w.db().await?)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(live, vec![("ES256".into(), 1), ("RS256".into(), 1)]);
    let mut published = Vec::new();
    for gw in [&a, &b, &c] {
        let jwks: Value = gw
            .http
            .get(format!("{}/.well-known/jwks.json", gw.api))
            .send()
            .await?
            .json()
            .await?;
        published.push(jwks);
    }
    assert_eq!(published[0]["keys"].as_array().map(Vec::len), Some(2));
    assert!(
        published.iter().all(|j| *j == published[0]),
        "{published:#?}"
    );
    for gw in [a, b, c] {
        gw.stop().await?;
    }
    Ok(())
}

const PW: &str = "correct horse battery";

async fn kids(gw: &Gateway) -> anyhow::Result<BTreeSet<String>> {
    let jwks = gw
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await?;
    Ok(jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect())
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn health_and_readiness(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let h = gw.call(Method::GET, "//healthz", None, None).await?;
    assert_eq!(
        (h.status, h.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let r = gw.call(Method::GET, "//readyz", None, None).await?;
    assert_eq!(r.status, StatusCode::OK);
    // Backends in words, not type names.
    let expected = match w.backend {
        Backend::Sqlite => ("SQLite", "in-process"),
        Backend::Postgres { .. } => ("PostgreSQL", "Redis"),
    };
    assert_eq!(
        (r.body["database"].as_str(), r.body["ephemeral"].as_str()),
        (Some(expected.0), Some(expected.1))
    );
    assert!(!r.header("x-request-id").is_empty());
    gw.stop().await
}

async fn discovery_and_jwks_publish_public_keys_only(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let d = gw
        .call(Method::GET, "/.well-known/openid-configuration", None, None)
        .await?;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.body["issuer"], gw.issuer.as_str());
    assert_eq!(
        d.body["jwks_uri"],
        format!("{}/.well-known/jwks.json", gw.issuer)
    );
    assert!(
        d.body["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("RS256"))
    );
    let j = gw
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await?;
    assert!(j.header("cache-control").contains("max-age"));
    let keys = j.body["keys"].as_array().unwrap();
    let algs: BTreeSet<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, BTreeSet::from(["ES256", "RS256"]));
    for k in keys {
        assert_eq!(k["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                k.get(private).is_none(),
                "{private} must never be published"
            );
        }
    }
    // Signing keys are stored sealed, never as plain PKCS#8.
    let db = w.db().await?;
    let sealed: Vec<Vec<u8>> = sqlx::query("SELECT private_sealed FROM signing_key")
        .fetch_all(&db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sealed.len(), 2);
    // A sealed blob starts with a random nonce, so its first byte alone says nothing (it is
    // 0x30 one time in 256); a bare PKCS#8 key is one DER SEQUENCE whose length is the blob's.
    let der_sequence = |b: &[u8]| {
        let body = match (b.first(), b.get(1)) {
            (Some(0x30), Some(&l)) if l < 0x80 => Some((usize::from(l), 2)),
            (Some(0x30), Some(0x81)) => b.get(2).map(|&l| (usize::from(l), 3)),
            (Some(0x30), Some(0x82)) => b
                .get(2..4)
                .map(|x| ((usize::from(x[0]) << 8) | usize::from(x[1]), 4)),
            _ => None,
        };
        body.is_some_and(|(len, header)| len + header == b.len())
    };
    for s in sealed {
        assert!(!der_sequence(&s), "not a bare DER sequence");
    }
    // The embedded default generates the master key into a private file.
    if w.backend == Backend::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        let master = w.dir.path().join("master.key");
        assert_eq!(
            std::fs::metadata(&master)?.permissions().mode() & 0o777,
            0o600
        );
    }
    gw.stop().await
}

async fn errors_and_security_headers(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let r = gw.call(Method::GET, "//nowhere", None, None).await?;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    // The root is a small page that leads to each pool's login page, with the same headers.
    let home = gw.http.get(format!("{}/", gw.base)).send().await?;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(
        home.headers()["content-type"]
            .to_str()?
            .starts_with("text/html")
    );
    assert!(home.headers().contains_key("content-security-policy"));
    let html = home.text().await?;
    assert!(html.contains(&format!("{}/login", gw.issuer)), "{html}");
    // A bug (here: a pool row whose config is not JSON) answers 500 with the request id,
    // which the log has too, and nothing of the cause.
    let db = w.db().await?;
    sqlx::query(
        "INSERT INTO pool (id, name, config, created_at) VALUES ($1, 'broken', 'not json', 1)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .execute(&db)
    .await?;
    let url = format!("{}/pools/broken/.well-known/openid-configuration", gw.base);
    let broken = gw.http.get(url).send().await?;
    assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = broken.headers()["x-request-id"].to_str()?.to_string();
    let body: serde_json::Value = broken.json().await?;
    assert_eq!(body["code"], "internal_error");
    assert_eq!(body["request_id"], id.as_str());
    assert!(
        !body.to_string().contains("json"),
        "no cause in the body: {body}"
    );
    assert_eq!(r.header("content-type"), "application/problem+json");
    let r = gw
        .call(
            Method::POST,
            "//pools/nope/v1/signup",
            Some(json!({})),
            None,
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "pool_not_found")
    );
    for bad in ["%00", "UPPER", "a%2Fb", &"x".repeat(64)] {
        let r = gw
            .call(
                Method::POST,
                &format!("//pools/{bad}/v1/signup"),
                Some(json!({})),
                None,
            )
            .await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "pool_not_found"),
            "{bad}"
        );
    }
    let r = gw.call(Method::PUT, "/v1/me", None, None).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    for r in [
        r,
        gw.call(Method::GET, "/.well-known/jwks.json", None, None)
            .await?,
    ] {
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        assert_eq!(r.header("x-frame-options"), "DENY");
        assert_eq!(r.header("referrer-policy"), "no-referrer");
        assert!(
            r.header("content-security-policy")
                .contains("frame-ancestors 'none'")
        );
    }
    gw.stop().await
}

async fn restart_keeps_keys_accounts_and_sessions(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("restart");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let before = kids(&gw).await?;
    gw.stop().await?;

    let gw = w.start().await?;
    assert_eq!(kids(&gw).await?, before, "same keys after a restart");
    assert_eq!(
        gw.get_auth("/v1/me", set["access_token"].as_str().unwrap())
            .await?
            .status,
        StatusCode::OK
    );
    let r = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": set["refresh_token"] }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    assert!(before.contains(&kid_of(&r.str("access_token"))));
    gw.stop().await?;

    // A master key that is not the one the keys were sealed with is refused at start.
    let wrong = w
        .start_with(|c| {
            c.master_key = Some(Secret::new(accounts::secret::MasterKey::generate_hex()))
        })
        .await;
    let err = wrong
        .err()
        .expect("a gateway with another master key must not start");
    assert!(
        err.to_string().contains("master key does not open"),
        "{err}"
    );
    Ok(())
}

async fn key_rotation_publishes_first_and_retires_late(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("rotation");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let old_token = set["access_token"].as_str().unwrap().to_string();
    let old = kids(&gw).await?;
    let pool = gw.state.store.find_pool_by_name("main").await?.unwrap();
    let new: BTreeSet<String> = gw
        .state
        .keys
        .rotate(&pool, 600, gw.clock.now())
        .await?
        .into_iter()
        .collect();

    // Published at once, not signing yet.
    let all = kids(&gw).await?;
    assert_eq!(all, old.union(&new).cloned().collect());
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert!(old.contains(&kid_of(&r.str("access_token"))));

    // After the activation delay the new keys sign; tokens of the old keys still verify.
    gw.clock.advance(601);
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    let fresh = r.str("access_token");
    assert!(new.contains(&kid_of(&fresh)));
    assert_eq!(kids(&gw).await?, all);
    assert_eq!(
        gw.get_auth("/v1/me", &old_token).await?.status,
        StatusCode::OK
    );
    let verified = gatehouse_tests::verified_claims(&gw, &old_token, &gw.issuer).await?;
    assert_eq!(
        verified["sub"],
        r.body
            .get("sub")
            .cloned()
            .unwrap_or(verified["sub"].clone())
    );

    // Once every token the old keys signed has expired, they leave the JWKS.
    gw.clock.advance(gateway::keys::RETIRE_AFTER);
    assert_eq!(kids(&gw).await?, new);
    assert_eq!(
        gw.get_auth("/v1/me", &fresh).await?.status,
        StatusCode::UNAUTHORIZED,
        "expired by now anyway"
    );
    gw.stop().await
}

async fn cli_rotates_keys(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let old = kids(&gw).await?;
    gw.stop().await?;
    let rotate = Command::Keys {
        command: KeysCommand::Rotate {
            pool: "main".into(),
            activate_in: 0,
        },
    };
    gateway::cli::run_admin(&rotate, w.config(0), false).await?;
    let gw = w.start().await?;
    let all = kids(&gw).await?;
    assert_eq!(all.len(), 4);
    assert!(old.is_subset(&all));
    let email = unique_email("cli");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    assert!(
        !old.contains(&kid_of(set["access_token"].as_str().unwrap())),
        "activate-in 0: the new key signs"
    );
    gw.stop().await
}

async fn two_instances_behave_as_one(w: Arc<World>) -> TestResult {
    let a = w.start().await?;
    let b = w.start().await?;
    let email = unique_email("two");
    let r = a
        .post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    assert_eq!(
        w.mail.to(&email).len(),
        1,
        "one mail although two workers run"
    );
    assert_eq!(
        b.post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": code, "password": PW })
        )
        .await?
        .status,
        StatusCode::OK
    );
    let set = a
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?
        .body;
    assert_eq!(
        b.get_auth("/v1/me", set["access_token"].as_str().unwrap())
            .await?
            .status,
        StatusCode::OK
    );
    let t0 = set["refresh_token"].as_str().unwrap();
    let t1 = b
        .post("/v1/sessions/refresh", json!({ "refresh_token": t0 }))
        .await?
        .str("refresh_token");
    assert_eq!(
        a.post("/v1/sessions/refresh", json!({ "refresh_token": t0 }))
            .await?
            .str("refresh_token"),
        t1
    );
    a.clock.advance(30);
    assert_eq!(
        a.post("/v1/sessions/refresh", json!({ "refresh_token": t0 }))
            .await?
            .code(),
        "invalid_grant"
    );
    assert_eq!(
        b.post("/v1/sessions/refresh", json!({ "refresh_token": t1 }))
            .await?
            .code(),
        "invalid_grant",
        "reuse at A revoked the family for B"
    );

    // Rate limits are shared through Redis; the in-process store is per instance.
    for _ in 0..10 {
        a.post(
            "/v1/sessions/password",
            json!({ "email": email, "password": "wrong guess here" }),
        )
        .await?;
    }
    let at_b = b
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    match w.backend {
        Backend::Postgres { .. } => assert_eq!(at_b.status, StatusCode::TOO_MANY_REQUESTS),
        Backend::Sqlite => assert_eq!(at_b.status, StatusCode::OK),
    }
    a.stop().await?;
    b.stop().await
}

async fn mail_is_retried_until_delivered(w: Arc<World>) -> TestResult {
    // SMTP down: the mail stays queued, sealed, with the error recorded.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let down = w
        .start_with(|c| c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{closed}"))))
        .await?;
    let db = w.db().await?;
    let email = unique_email("retry");
    assert_eq!(
        down.post("/v1/signup", json!({ "email": email, "password": PW }))
            .await?
            .status,
        StatusCode::ACCEPTED
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let row = sqlx::query("SELECT status, attempts, last_error, body_sealed FROM mail_outbox WHERE recipient = $1")
            .bind(&email)
            .fetch_one(&db)
            .await?;
        if row.get::<i32, _>("attempts") >= 1
            && row.get::<Option<String>, _>("last_error").is_some()
        {
            break row;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the failed attempt was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row.get::<String, _>("status"), "pending");
    let body: Vec<u8> = row.get::<Option<Vec<u8>>, _>("body_sealed").unwrap();
    assert!(
        !String::from_utf8_lossy(&body).contains("sign-up code"),
        "bodies are sealed at rest"
    );
    down.stop().await?;
    assert!(w.mail.to(&email).is_empty());

    // SMTP back: after the back-off the mail goes out, once, and its body is dropped.
    let up = w.start().await?;
    up.clock.advance(3600);
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = sqlx::query("SELECT status, body_sealed FROM mail_outbox WHERE recipient = $1")
            .bind(&email)
            .fetch_one(&db)
            .await?;
        if row.get::<String, _>("status") == "sent" {
            assert!(row.get::<Option<Vec<u8>>, _>("body_sealed").is_none());
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "not marked sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The code still works (the clock moved an hour, but a resend is what a user would do).
    let r = up
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": code, "password": PW }),
        )
        .await?;
    assert_eq!(r.code(), "code_invalid", "expired after an hour");
    let _: Value = json!(null);
    up.stop().await
}
