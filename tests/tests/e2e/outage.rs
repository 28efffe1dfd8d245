//! Losing Redis: every request that needs it answers 503 `unavailable` (problem details)
//! within a bounded time, whether Redis is gone (connections closed) or hung (connections
//! never answered); nothing is issued meanwhile; `/healthz` stays up; and service resumes
//! within seconds of Redis coming back, without a restart. Redis is cut off through a TCP
//! proxy in front of the real server the run uses.

use gatehouse_tests::proxy::{Mode, Proxy};
use gatehouse_tests::{World, unique_email};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::TestResult;

crate::tests!(redis_outage_fails_fast_and_heals);

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
