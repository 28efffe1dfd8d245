//! Past capacity: refusals, fast, never a queue that grows. Requests beyond
//! `GATEHOUSE_MAX_IN_FLIGHT` and password hashes beyond the hasher's queue are answered 503
//! `overloaded` with `Retry-After: 1`, nothing written for them; health checks still answer;
//! every slot comes back afterwards. And a refresh storm across three instances, a tenth of
//! the clients sending their token twice at once, neither forks a family nor revokes one.

use gatehouse_tests::{Answer, Gateway, World, unique_email};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::TestResult;

crate::tests!(
    requests_past_capacity_are_refused_at_once,
    a_password_flood_waits_a_bounded_queue,
    a_refresh_storm_neither_forks_nor_revokes
);

const PW: &str = "correct horse battery";

/// A password sign-in from client address `i` (the proxy's header, trusted here), with the
/// time its answer took.
async fn sign_in(gw: &Gateway, email: &str, i: usize) -> anyhow::Result<(Answer, Duration)> {
    let started = Instant::now();
    let res = gw
        .http
        .post(format!("{}/v1/sessions/password", gw.api))
        .header("x-forwarded-for", format!("10.7.{}.{}", i / 250, i % 250))
        .json(&json!({ "email": email, "password": PW }))
        .send()
        .await?;
    let status = res.status();
    let headers = res.headers().clone();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    Ok((
        Answer {
            status,
            headers,
            body,
        },
        started.elapsed(),
    ))
}

async fn sessions(w: &World) -> anyhow::Result<i64> {
    let db = w.db().await?;
    Ok(sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) FROM session")
            .fetch_one(&db)
            .await?,
        0,
    ))
}

/// Runs `n` sign-ins at once, spread over `emails` (each email's failure budget counts the
/// attempts in flight, and must not be what refuses them); the answers by (status, code),
/// checking every refusal.
async fn flood(
    gw: &Gateway,
    emails: &[String],
    n: usize,
) -> anyhow::Result<BTreeMap<(u16, String), usize>> {
    let answers = futures_util::future::try_join_all(
        (0..n).map(|i| sign_in(gw, &emails[i % emails.len()], i)),
    )
    .await?;
    let mut by = BTreeMap::new();
    for (a, took) in &answers {
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(a.code(), "overloaded", "{a:?}");
            assert_eq!(a.header("retry-after"), "1");
            assert_eq!(a.header("content-type"), "application/problem+json");
            assert_eq!(a.header("x-content-type-options"), "nosniff");
            assert!(!a.header("x-request-id").is_empty());
            assert!(a.body.get("access_token").is_none());
            // Refused before any work: no waiting on the hasher or the database.
            assert!(*took < Duration::from_secs(5), "a refusal took {took:?}");
        } else {
            assert_eq!(a.status, StatusCode::OK, "{a:?}");
        }
        *by.entry((a.status.as_u16(), a.code().to_string()))
            .or_insert(0) += 1;
    }
    Ok(by)
}

async fn requests_past_capacity_are_refused_at_once(w: Arc<World>) -> TestResult {
    let gw = w
        .start_with(|c| {
            c.trust_proxy = true;
            c.max_in_flight = 4;
            c.hash_concurrency = 1;
        })
        .await?;
    let email = unique_email("capacity");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let before = sessions(&w).await?;
    // Health checks answer while the instance is flooded.
    let emails = [email.clone()];
    let (by, health) = tokio::join!(flood(&gw, &emails, 64), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        gw.call(reqwest::Method::GET, "//healthz", None, None).await
    });
    let by = by?;
    assert_eq!(health?.status, StatusCode::OK);
    let ok = by.get(&(200, String::new())).copied().unwrap_or(0);
    let shed = by.get(&(503, "overloaded".into())).copied().unwrap_or(0);
    assert!(ok >= 1 && shed >= 1 && ok + shed == 64, "{by:?}");
    assert_eq!(
        sessions(&w).await?,
        before + ok as i64,
        "a session for each 200 only"
    );
    // Every slot came back: one at a time, all answered.
    for i in 0..8 {
        let (a, _) = sign_in(&gw, &email, 1000 + i).await?;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
    }
    let metrics = gw.state.metrics.render()?;
    assert!(
        metrics.lines().any(|l| l.starts_with(
            r#"gatehouse_http_requests_total{route="/pools/{pool}/v1/sessions/password",method="POST",status="503"}"#
        )),
        "refusals are counted"
    );
    gw.stop().await
}

async fn a_password_flood_waits_a_bounded_queue(w: Arc<World>) -> TestResult {
    let gw = w
        .start_with(|c| {
            c.trust_proxy = true;
            c.hash_concurrency = 1;
        })
        .await?;
    let mut emails = Vec::new();
    for _ in 0..4 {
        let email = unique_email("hashflood");
        gw.signup_confirmed(&w.mail, &email, PW).await?;
        emails.push(email);
    }
    let email = emails[0].clone();
    let before = sessions(&w).await?;
    // One hash at a time, 32 waiting: 200 at once cannot all queue.
    let by = flood(&gw, &emails, 200).await?;
    let ok = by.get(&(200, String::new())).copied().unwrap_or(0);
    let shed = by.get(&(503, "overloaded".into())).copied().unwrap_or(0);
    assert!(shed >= 1 && ok >= 33 && ok + shed == 200, "{by:?}");
    assert_eq!(sessions(&w).await?, before + ok as i64);
    let (a, _) = sign_in(&gw, &email, 999).await?;
    assert_eq!(a.status, StatusCode::OK, "the queue emptied: {a:?}");
    gw.stop().await
}

/// Families, one per sign-in.
const FAMILIES: usize = 40;

async fn a_refresh_storm_neither_forks_nor_revokes(w: Arc<World>) -> TestResult {
    let trusted = |c: &mut gateway::config::Config| c.trust_proxy = true;
    let gws = [
        w.start_with(trusted).await?,
        w.start_with(trusted).await?,
        w.start_with(trusted).await?,
    ];
    let email = unique_email("storm");
    gws[0].signup_confirmed(&w.mail, &email, PW).await?;
    let mut tokens = Vec::new();
    for i in 0..FAMILIES {
        let (a, _) = sign_in(&gws[i % 3], &email, i).await?;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        tokens.push(a.str("refresh_token"));
    }
    // Every family refreshes at once, on the instance after the one that signed it in; each
    // tenth sends its token twice, to two instances.
    let refresh = |gw: &Gateway, token: String, i: usize| {
        let req = gw
            .http
            .post(format!("{}/v1/sessions/refresh", gw.api))
            .header("x-forwarded-for", format!("10.8.{}.{}", i / 250, i % 250))
            .json(&json!({ "refresh_token": token }));
        async move {
            let res = req.send().await?;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            anyhow::Ok((i, status, body))
        }
    };
    let mut storm = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        storm.push(refresh(&gws[(i + 1) % 3], t.clone(), i));
        if i % 10 == 0 {
            storm.push(refresh(&gws[(i + 2) % 3], t.clone(), i));
        }
    }
    let answers = futures_util::future::try_join_all(storm).await?;
    let mut successor: BTreeMap<usize, String> = BTreeMap::new();
    for (i, status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "family {i}: {body}");
        let next = body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // A repeat within the grace period gets the same successor: one family, one line.
        let first = successor.entry(*i).or_insert_with(|| next.clone());
        assert_eq!(*first, next, "family {i} forked");
    }
    let db = w.db().await?;
    let revoked: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) FROM session WHERE revoked_at IS NOT NULL")
            .fetch_one(&db)
            .await?,
        0,
    );
    assert_eq!(revoked, 0, "no family revoked");
    // Each family: exactly one token not yet used, the successor.
    let live: Vec<(String, i64)> = sqlx::query_as(
        "SELECT session_id, COUNT(*) FROM refresh_token WHERE used_at IS NULL GROUP BY session_id",
    )
    .fetch_all(&db)
    .await?;
    assert_eq!(live.len(), FAMILIES, "{live:?}");
    assert!(live.iter().all(|(_, n)| *n == 1), "{live:?}");
    // And each successor works, once, anywhere.
    for (i, next) in &successor {
        let (_, status, body) = refresh(&gws[*i % 3], next.clone(), *i).await?;
        assert_eq!(status, StatusCode::OK, "family {i}: {body}");
    }
    for gw in gws {
        gw.stop().await?;
    }
    Ok(())
}
