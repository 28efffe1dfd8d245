//! Redis Cluster and Sentinel, real ones on loopback ports: the gateway serves through each
//! (nonces, rate-limit counts on keys in different slots, sign-ins), and a failover costs
//! seconds of 503s, never a wrong answer. The proof of the last part: with the replica
//! stalled, a sign-in whose nonce take the replica cannot confirm answers 503 and issues
//! nothing; after the primary dies and the replica takes over, that signed message is
//! accepted at most once and its replay is refused. The failover is counted in
//! `gatehouse_redis_failovers_total`.

use gatehouse_tests::redis_nodes::{RedisCluster, SentinelSet, eventually};
use gatehouse_tests::{Gateway, SignedSiwe, World, unique_email};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::TestResult;

crate::tests!(
    cluster_serves_and_fails_over_without_reusing_a_nonce,
    sentinel_serves_and_fails_over_without_reusing_a_nonce
);

const PW: &str = "correct horse battery";

/// Sign-ups, password and SIWE sign-ins, a replay refused: everything that counts or takes.
async fn serves(w: &World, gw: &Gateway) -> TestResult {
    let email = unique_email("topology");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let wrong = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": "not the password" }),
        )
        .await?;
    assert_eq!(wrong.code(), "invalid_credentials", "{wrong:?}");
    let signed = gw.siwe_signed(None, json!({})).await?;
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let replay = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(
        (replay.status, replay.code()),
        (StatusCode::BAD_REQUEST, "nonce_invalid")
    );
    Ok(())
}

/// A fresh sign-in works again within 30 s: the service healed by itself. Until then the
/// nonce or the sign-in answers 503 (while the new primary's replica catches up), nothing
/// else.
async fn heals(gw: &Gateway) -> TestResult {
    let started = Instant::now();
    loop {
        match gw.siwe_sign_in(None, json!({})).await {
            Ok(r) if r.status == StatusCode::OK => return Ok(()),
            Ok(r) => assert_eq!(r.code(), "unavailable", "{r:?}"),
            Err(e) => assert!(format!("{e:#}").contains("503"), "{e:#}"),
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not healed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn nonce_of(signed: &SignedSiwe) -> String {
    signed
        .message
        .lines()
        .find_map(|l| l.strip_prefix("Nonce: "))
        .unwrap_or_default()
        .to_string()
}

async fn sessions(w: &World) -> anyhow::Result<i64> {
    let db = w.db().await?;
    let n: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) FROM session")
            .fetch_one(&db)
            .await?,
        0,
    );
    Ok(n)
}

/// With the replica stalled, presenting `signed` answers 503 and issues nothing.
async fn unconfirmed_take_fails_closed(w: &World, gw: &Gateway, signed: &SignedSiwe) -> TestResult {
    let before = sessions(w).await?;
    let started = Instant::now();
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{r:?}"
    );
    assert!(!r.header("retry-after").is_empty());
    assert!(r.body.get("access_token").is_none());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sessions(w).await?, before, "nothing issued");
    Ok(())
}

/// After the failover: `signed` is accepted at most once (its nonce was taken on the dead
/// primary and may or may not have reached the replica), every other answer is a 503 while
/// the topology settles or the refusal of a used nonce, and a replay is refused.
async fn accepted_at_most_once(
    w: &World,
    gw: &Gateway,
    signed: &SignedSiwe,
    before: i64,
) -> TestResult {
    let started = Instant::now();
    let mut accepted = 0;
    loop {
        let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
        match (r.status, r.code()) {
            (StatusCode::OK, _) => accepted += 1,
            (StatusCode::BAD_REQUEST, "nonce_invalid") => break,
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable") => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "not healed: {r:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => panic!("after the failover: {r:?}"),
        }
        assert!(accepted <= 1, "a nonce accepted twice");
    }
    assert_eq!(sessions(w).await?, before + accepted);
    heals(gw).await?;
    eventually("the failover counted", Duration::from_secs(10), || async {
        gw.state.metrics.render().is_ok_and(|m| {
            m.lines()
                .any(|l| l.starts_with("gatehouse_redis_failovers_total ") && !l.ends_with(" 0"))
        })
    })
    .await?;
    Ok(())
}

async fn cluster_serves_and_fails_over_without_reusing_a_nonce(w: Arc<World>) -> TestResult {
    let mut cluster = RedisCluster::start(3).await?;
    let url = cluster.url();
    let gw = w.start_with(|c| c.redis_url = Some(url.clone())).await?;
    serves(&w, &gw).await?;

    let signed = gw.siwe_signed(None, json!({})).await?;
    let primary = cluster
        .holder(&format!("gatehouse:siwe-nonce:*:{}", nonce_of(&signed)))
        .await?;
    let replica = cluster.replica_of(primary).await?;
    cluster.nodes[replica].pause()?;
    unconfirmed_take_fails_closed(&w, &gw, &signed).await?;
    let before = sessions(&w).await?;

    cluster.nodes[primary].kill().await?;
    cluster.nodes[replica].resume()?;
    let promoted = &cluster.nodes[replica];
    eventually("the replica promoted", Duration::from_secs(20), || async {
        promoted
            .info("replication", "role")
            .await
            .is_ok_and(|r| r == "master")
    })
    .await?;
    // The supervisor brings the dead primary back: it rejoins as the new primary's replica,
    // so writes can be confirmed again.
    cluster.nodes[primary].restart().await?;
    cluster.wait_ok(Duration::from_secs(20)).await?;
    accepted_at_most_once(&w, &gw, &signed, before).await?;
    gw.stop().await
}

async fn sentinel_serves_and_fails_over_without_reusing_a_nonce(w: Arc<World>) -> TestResult {
    let mut set = SentinelSet::start().await?;
    let url = set.url();
    let gw = w.start_with(|c| c.redis_url = Some(url.clone())).await?;
    serves(&w, &gw).await?;

    let signed = gw.siwe_signed(None, json!({})).await?;
    set.replica.pause()?;
    unconfirmed_take_fails_closed(&w, &gw, &signed).await?;
    let before = sessions(&w).await?;

    set.primary.kill().await?;
    set.replica.resume()?;
    let replica_port = set.replica.port;
    eventually(
        "the sentinel names the replica",
        Duration::from_secs(30),
        || async { set.named_primary().await.is_ok_and(|p| p == replica_port) },
    )
    .await?;
    set.primary.restart().await?;
    // What a supervisor does with a failed-over primary (the sentinel would too, in its own
    // time, which under a loaded machine can run past the test's bound).
    let replica_port = set.replica.port.to_string();
    set.primary
        .cli(&["REPLICAOF", "127.0.0.1", &replica_port])
        .await?;
    eventually(
        "the old primary replicating the new one",
        Duration::from_secs(60),
        || async {
            set.replica
                .info("replication", "connected_slaves")
                .await
                .is_ok_and(|n| n == "1")
        },
    )
    .await?;
    accepted_at_most_once(&w, &gw, &signed, before).await?;

    // A primary that hangs rather than dies: the gateway's requests to it time out inside
    // their bound, it asks the sentinels again and follows the failover.
    set.replica.pause()?;
    let old_port = set.primary.port;
    eventually(
        "the sentinel names the old primary again",
        Duration::from_secs(30),
        || async { set.named_primary().await.is_ok_and(|p| p == old_port) },
    )
    .await?;
    set.replica.resume()?;
    let primary_port = set.primary.port.to_string();
    set.replica
        .cli(&["REPLICAOF", "127.0.0.1", &primary_port])
        .await?;
    eventually(
        "the hung primary replicating the new one",
        Duration::from_secs(30),
        || async {
            set.replica
                .info("replication", "master_link_status")
                .await
                .is_ok_and(|s| s == "up")
        },
    )
    .await?;
    heals(&gw).await?;
    gw.stop().await
}
