//! Losing Redis: every request that needs it answers 503 `unavailable` (problem details)
//! within a bounded time, whether Redis is gone (connections closed) or hung (connections
//! never answered); nothing is issued meanwhile; `/healthz` stays up; and service resumes
//! within seconds of Redis coming back, without a restart. The same for PostgreSQL (a
//! restart or failover: every connection cut, new ones refused or never answered). Each is
//! cut off through a TCP proxy in front of the real server the run uses.

use gatehouse_tests::proxy::{Mode, Proxy};
use gatehouse_tests::{World, unique_email};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::TestResult;

crate::tests!(
    redis_outage_fails_fast_and_heals,
    postgres_outage_fails_fast_and_heals
);

const PW: &str = "correct horse battery";

/// Far below the 30 s a request used to hang, above the 1 s command bound plus a reconnect.
const BOUND: Duration = Duration::from_secs(4);

async fn redis_outage_fails_fast_and_heals(w: Arc<World>) -> TestResult {
    let redis = w.redis_url.clone().expect("a Redis backend");
    let proxy = Proxy::start(&redis).await?;
    let via_proxy = proxy.url(&redis)?;
    let gw = w
        .start_with(|c| c.redis_url = Some(via_proxy.clone()))
        .await?;
    let email = unique_email("outage");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let db = w.db().await?;
    let sessions = || async {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM session")
            .fetch_one(&db)
            .await
            .map(|r| sqlx::Row::get(&r, 0))
            .unwrap_or(-1);
        n
    };

    for mode in [Mode::Down, Mode::Hang] {
        // Signed while Redis is up; presented while it is not.
        let signed = gw.siwe_signed(None, json!({})).await?;
        let before = sessions().await;
        proxy.set(mode);
        let requests = [
            ("/v1/siwe/nonce", json!({})),
            ("/v1/sessions/siwe", signed.body()),
            (
                "/v1/sessions/password",
                json!({ "email": email, "password": PW }),
            ),
            (
                "/v1/signup",
                json!({ "email": unique_email("during"), "password": PW }),
            ),
            ("/v1/recovery", json!({ "email": email })),
        ];
        for (path, body) in requests {
            let started = Instant::now();
            let r = gw.post(path, body).await?;
            let took = started.elapsed();
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                "{mode:?} {path}: {r:?}"
            );
            assert_eq!(r.header("content-type"), "application/problem+json");
            assert!(!r.header("retry-after").is_empty(), "{path}");
            assert!(took < BOUND, "{mode:?} {path} took {took:?}");
            assert!(r.body.get("access_token").is_none());
        }
        let started = Instant::now();
        let ready = gw
            .call(reqwest::Method::GET, "//readyz", None, None)
            .await?;
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{mode:?}");
        assert!(
            started.elapsed() < BOUND,
            "readyz took {:?}",
            started.elapsed()
        );
        let health = gw
            .call(reqwest::Method::GET, "//healthz", None, None)
            .await?;
        assert_eq!(health.status, StatusCode::OK);
        assert_eq!(sessions().await, before, "{mode:?}: nothing was issued");

        // Back: service resumes by itself within seconds.
        proxy.set(Mode::Up);
        let back = Instant::now();
        loop {
            let r = gw.post("/v1/siwe/nonce", json!({})).await?;
            if r.status == StatusCode::OK {
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(10),
                "{mode:?}: not healed after {:?}: {r:?}",
                back.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = gw
            .post(
                "/v1/sessions/password",
                json!({ "email": email, "password": PW }),
            )
            .await?;
        assert_eq!(r.status, StatusCode::OK, "{mode:?}: {r:?}");
        let ready = gw
            .call(reqwest::Method::GET, "//readyz", None, None)
            .await?;
        assert_eq!(ready.status, StatusCode::OK);
    }
    gw.stop().await
}

/// A PostgreSQL request is bounded by the pool's acquire timeout (5 s) plus the request.
const PG_BOUND: Duration = Duration::from_secs(8);

async fn postgres_outage_fails_fast_and_heals(w: Arc<World>) -> TestResult {
    let database = w.database_url.clone();
    let proxy = Proxy::start(&database).await?;
    let via_proxy = proxy.url(&database)?;
    let gw = w.start_with(|c| c.database_url = via_proxy.clone()).await?;
    let email = unique_email("pg-outage");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let set = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    let token = set.str("access_token");
    let refresh = set.str("refresh_token");
    // Counted past the proxy, on the real server.
    let db = w.db().await?;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query(sql)
                .fetch_one(&db)
                .await
                .map(|r| sqlx::Row::get::<i64, _>(&r, 0))
                .unwrap_or(-1)
        }
    };
    const SESSIONS: &str = "SELECT COUNT(*) FROM session";
    const ACCOUNTS: &str = "SELECT COUNT(*) FROM account";

    for mode in [Mode::Down, Mode::Hang] {
        let (sessions, accounts) = (count(SESSIONS).await, count(ACCOUNTS).await);
        proxy.set(mode);
        // In parallel: each alone is bounded, whatever the others do.
        let calls = [
            gw.post(
                "/v1/sessions/password",
                json!({ "email": email, "password": PW }),
            ),
            gw.post(
                "/v1/signup",
                json!({ "email": unique_email("pg-during"), "password": PW }),
            ),
            gw.post("/v1/sessions/refresh", json!({ "refresh_token": refresh })),
        ];
        let started = Instant::now();
        let answers = futures_util::future::join_all(calls).await;
        let took = started.elapsed();
        assert!(took < PG_BOUND, "{mode:?}: took {took:?}");
        for r in answers {
            let r = r?;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                "{mode:?}: {r:?}"
            );
            assert!(!r.header("retry-after").is_empty());
            assert!(r.body.get("access_token").is_none());
        }
        let me = gw.get_auth("/v1/me", &token).await?;
        assert_eq!(
            me.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{mode:?}: {me:?}"
        );
        let started = Instant::now();
        let ready = gw
            .call(reqwest::Method::GET, "//readyz", None, None)
            .await?;
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{mode:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "readyz took {:?}",
            started.elapsed()
        );
        let health = gw
            .call(reqwest::Method::GET, "//healthz", None, None)
            .await?;
        assert_eq!(health.status, StatusCode::OK);

        // Back: the pool reconnects by itself, without a restart.
        proxy.set(Mode::Up);
        let back = Instant::now();
        loop {
            let r = gw
                .post(
                    "/v1/sessions/password",
                    json!({ "email": email, "password": PW }),
                )
                .await?;
            if r.status == StatusCode::OK {
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(15),
                "{mode:?}: not healed after {:?}: {r:?}",
                back.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Nothing but the sign-in that proved the healing was written meanwhile.
        assert_eq!(count(SESSIONS).await, sessions + 1, "{mode:?}");
        assert_eq!(count(ACCOUNTS).await, accounts, "{mode:?}");
        let me = gw.get_auth("/v1/me", &token).await?;
        assert_eq!(me.status, StatusCode::OK);
    }
    gw.stop().await
}
