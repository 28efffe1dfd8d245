//! Cost that does not grow with the data: the statements on request paths and periodic jobs
//! are index look-ups on both backends (their query plans scan no table but a few small
//! ones, and claiming mail sorts nothing), and the periodic purge deletes what expired.

use gatehouse_tests::{World, unique_email};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    hot_statements_use_indexes,
    purge_deletes_what_expired,
    a_pool_keeps_its_audit_for_its_own_days,
);

const PW: &str = "correct horse battery";

/// The only tables a plan may scan: a handful of rows each, whatever the number of users.
const SMALL: &[&str] = &["pool", "signing_key", "app_client", "maintenance"];

/// The table (or alias) a plan line scans in full, if it does: SQLite's `SCAN t …`,
/// PostgreSQL's `Seq Scan on t …`.
fn scanned(line: &str) -> Option<&str> {
    let line = line.trim_start_matches([' ', '-', '>']).trim();
    let rest = line
        .strip_prefix("SCAN ")
        .or_else(|| line.split_once("Seq Scan on ").map(|(_, r)| r))?;
    rest.split_whitespace().next()
}

/// A bound value of a checked statement.
enum Arg {
    Text(&'static str),
    Null,
    Int(i64),
    /// A NULL integer (a time filter left out).
    NullInt,
}

/// The plan reader finds scans (and only scans) in both backends' wording.
fn plan_lines_are_read() {
    assert_eq!(scanned("SCAN session"), Some("session"));
    assert_eq!(scanned("SCAN s USING INDEX x"), Some("s"));
    assert_eq!(scanned("SEARCH s USING INDEX x (id=?)"), None);
    assert_eq!(
        scanned("  ->  Seq Scan on session s  (cost=0..1)"),
        Some("session")
    );
    assert_eq!(scanned("Index Scan using k on session"), None);
}

async fn hot_statements_use_indexes(w: Arc<World>) -> TestResult {
    use accounts::store as s;
    plan_lines_are_read();
    // The gateway runs the migrations.
    let gw = w.start().await?;
    let text = Arg::Text("x");
    let statements: Vec<(&str, &str, Vec<Arg>)> = vec![
        (
            "refresh rotation",
            s::ROTATE_MARK,
            vec![Arg::Text("h"), Arg::Int(1), Arg::Text("p"), Arg::Null],
        ),
        (
            "client deletion",
            s::REVOKE_CLIENT_SESSIONS,
            vec![Arg::Text("p"), text, Arg::Int(1)],
        ),
        (
            "mail claim",
            s::CLAIM_MAIL,
            vec![Arg::Int(1), Arg::Int(2), Arg::Int(10)],
        ),
        ("outbox depth", s::COUNT_PENDING_MAIL, vec![]),
        (
            "purge sessions",
            s::PURGE_SESSIONS,
            vec![Arg::Int(1), Arg::Int(1000)],
        ),
        (
            "purge codes",
            s::PURGE_CODES,
            vec![Arg::Int(1), Arg::Int(1000)],
        ),
        (
            "purge undo links",
            s::PURGE_UNDO_LINKS,
            vec![Arg::Int(1), Arg::Int(1000)],
        ),
        (
            "purge sign-ups",
            s::PURGE_PENDING_ACCOUNTS,
            vec![Arg::Int(1), Arg::Int(1000)],
        ),
        (
            "purge sent mail",
            s::PURGE_SENT_MAIL,
            vec![Arg::Int(1), Arg::Int(1000)],
        ),
        (
            "purge failed mail",
            s::PURGE_FAILED_MAIL,
            vec![Arg::Int(1), Arg::Int(1000)],
        ),
        (
            "purge audit",
            s::PURGE_AUDIT,
            vec![Arg::Int(1), Arg::Int(1000)],
        ),
        (
            "purge a pool's audit",
            s::PURGE_POOL_AUDIT,
            vec![Arg::Text("p"), Arg::Int(1), Arg::Int(1000)],
        ),
        (
            "audit page",
            s::LIST_AUDIT,
            vec![
                Arg::Text("p"),
                Arg::Null,
                Arg::Text("sign_in"),
                Arg::NullInt,
                Arg::NullInt,
                Arg::Int(i64::MAX),
                Arg::Int(50),
            ],
        ),
    ];
    let db = w.db().await?;
    let mut conn = db.acquire().await?;
    let sqlite = w.database_url.starts_with("sqlite:");
    if !sqlite {
        // With sequential scans priced out, a plan that still has one has no index to use
        // (small test tables would otherwise make a scan the cheaper plan).
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await?;
    }
    for (name, sql, args) in statements {
        let explain = if sqlite {
            format!("EXPLAIN QUERY PLAN {sql}")
        } else {
            format!("EXPLAIN {sql}")
        };
        let mut q = sqlx::query(&explain);
        for a in &args {
            q = match a {
                Arg::Text(t) => q.bind(*t),
                Arg::Null => q.bind(None::<String>),
                Arg::NullInt => q.bind(None::<i64>),
                Arg::Int(i) => q.bind(*i),
            };
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.get::<String, _>(if sqlite { 3 } else { 0 }))
            .collect();
        for line in &plan {
            if let Some(table) = scanned(line) {
                assert!(SMALL.contains(&table), "{name} scans {table}: {plan:#?}");
            }
            // Claiming due mail walks an index in order: no sort of the backlog.
            if name == "mail claim" {
                let sorts = line.contains("TEMP B-TREE") || line.trim_start().starts_with("Sort");
                assert!(!sorts, "{name} sorts: {plan:#?}");
            }
        }
    }
    gw.stop().await
}

async fn purge_deletes_what_expired(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let old = unique_email("old");
    gw.signed_in(&w.mail, &old, PW).await?;
    let pending = unique_email("never");
    gw.post("/v1/signup", json!({ "email": pending, "password": PW }))
        .await?;
    w.mail.wait_code(&pending, "sign-up code").await?;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let n: i64 = sqlx::query(sql).fetch_one(&db).await?.get(0);
            anyhow::Ok(n)
        }
    };
    let audit_before = count("SELECT COUNT(*) FROM audit_event").await?;
    // Nothing has expired yet: a purge now deletes nothing.
    let now = gw.clock.now();
    let report = gateway::purge::purge_once(&gw.state.store, &gw.state.config, now).await?;
    assert_eq!(report, Default::default());

    // 30 days of refresh lifetime and 7 of retention later, and a day more.
    gw.clock.advance(38 * 86_400);
    let fresh = unique_email("fresh");
    gw.signed_in(&w.mail, &fresh, PW).await?;
    let report =
        gateway::purge::purge_once(&gw.state.store, &gw.state.config, gw.clock.now()).await?;
    assert_eq!(report.sessions, 1, "{report:?}");
    assert_eq!(report.pending_accounts, 1, "{report:?}");
    assert!(report.mail >= 2, "the old sign-up mails: {report:?}");
    assert_eq!(
        report.audit_events, 0,
        "audit events keep their own retention"
    );
    // What is gone, and what stays.
    assert_eq!(
        count("SELECT COUNT(*) FROM session").await?,
        1,
        "the fresh session stays"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM refresh_token").await?,
        1,
        "the old session's tokens went with it"
    );
    let gone: i64 =
        sqlx::query("SELECT COUNT(*) FROM email_credential WHERE email_normalized = $1")
            .bind(pending.to_lowercase())
            .fetch_one(&db)
            .await?
            .get(0);
    assert_eq!(gone, 0, "the unconfirmed sign-up's address is free again");
    assert_eq!(count("SELECT COUNT(*) FROM verification_code").await?, 0);
    assert!(count("SELECT COUNT(*) FROM audit_event").await? > audit_before);
    // The confirmed account itself stays, and signs in.
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": old, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    gw.stop().await
}

/// A pool's `audit_retention_days` purges its events sooner than the gateway's setting;
/// other pools keep theirs.
async fn a_pool_keeps_its_audit_for_its_own_days(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let now = gw.clock.now();
    let short = gw
        .state
        .users
        .create_pool(
            "short",
            Some(json!({ "audit_retention_days": 2 })),
            &accounts::Actor::Cli,
            now,
        )
        .await?;
    let db = w.db().await?;
    let main: String = sqlx::query("SELECT id FROM pool WHERE name = 'main'")
        .fetch_one(&db)
        .await?
        .get(0);
    for pool in [short.id.to_string(), main] {
        for age_days in [1, 3, 10] {
            sqlx::query(
                "INSERT INTO audit_event (pool_id, account_id, kind, detail, created_at) \
                 VALUES ($1, NULL, 'old', '{}', $2)",
            )
            .bind(&pool)
            .bind(now - age_days * 86_400)
            .execute(&db)
            .await?;
        }
    }
    let report = gateway::purge::purge_once(&gw.state.store, &gw.state.config, now).await?;
    assert_eq!(report.audit_events, 2, "{report:?}");
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM audit_event WHERE kind = 'old'")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(left, 4, "short keeps 1 day-old; main keeps all three");
    let bad = gw
        .state
        .users
        .create_pool(
            "bad",
            Some(json!({ "audit_retention_days": 0 })),
            &accounts::Actor::Cli,
            now,
        )
        .await;
    assert!(matches!(bad, Err(accounts::Error::InvalidPoolConfig(_))));
    gw.stop().await
}
