//! `GATEHOUSE_DATABASE_READ_URL`: listings that may lag read the replica; every decision and
//! every write stays on the primary. The replica here is a real, stale one: a `pg_dump` copy
//! of the primary taken before a session was revoked, a group created and an account signed
//! up. Through a gateway reading it, the admin listings show the old state (they read the
//! replica), while the revoked session's refresh is refused, the new account signs in and a
//! write lands on the primary (they never read it).

use gatehouse_tests::{World, create_database, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

use crate::TestResult;
use crate::admin::{ADMIN, admin};
use accounts::secret::Secret;

crate::tests!(listings_read_the_replica_and_decisions_the_primary);

const PW: &str = "correct horse battery";

/// Copies the database at `from` into the one at `to` (schema and rows), as a replica that
/// stopped replicating at this moment would hold them.
async fn snapshot(from: &str, to: &str) -> anyhow::Result<()> {
    let dump = tokio::process::Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", "--dbname", from])
        .output()
        .await?;
    anyhow::ensure!(dump.status.success(), "pg_dump: {dump:?}");
    let mut load = tokio::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "--dbname", to])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    use tokio::io::AsyncWriteExt;
    let mut stdin = load.stdin.take().expect("stdin");
    stdin.write_all(&dump.stdout).await?;
    drop(stdin);
    anyhow::ensure!(load.wait().await?.success(), "psql");
    Ok(())
}

async fn group_names(gw: &gatehouse_tests::Gateway) -> anyhow::Result<Vec<String>> {
    let r = admin(gw, Method::GET, "/pools/main/groups", None, ADMIN).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{r:?}");
    Ok(r.body["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str().map(str::to_string))
        .collect())
}

async fn listings_read_the_replica_and_decisions_the_primary(w: Arc<World>) -> TestResult {
    let server = std::env::var("GATEHOUSE_TEST_DATABASE_URL")?;
    let primary = w
        .start_with(|c| c.admin_token = Some(Secret::new(ADMIN)))
        .await?;
    let old = unique_email("before-snapshot");
    let set = primary.signed_in(&w.mail, &old, PW).await?;
    let refresh = set["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = admin(
        &primary,
        Method::POST,
        "/pools/main/groups",
        Some(json!({ "name": "early" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");

    let (replica_url, replica_name) = create_database(&server, "replica").await?;
    let outcome = against(&w, &primary, &replica_url, &refresh).await;
    primary.stop().await?;
    let admin_db = sqlx::PgPool::connect(&server).await?;
    sqlx::query(&format!("DROP DATABASE {replica_name} WITH (FORCE)"))
        .execute(&admin_db)
        .await?;
    outcome
}

/// The snapshot, what follows it on the primary, and a gateway reading the snapshot.
async fn against(
    w: &World,
    primary: &gatehouse_tests::Gateway,
    replica_url: &str,
    refresh: &str,
) -> TestResult {
    snapshot(&w.database_url, replica_url).await?;

    // After the snapshot, on the primary only.
    let r = primary
        .post("/v1/sessions/revoke", json!({ "refresh_token": refresh }))
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = admin(
        primary,
        Method::POST,
        "/pools/main/groups",
        Some(json!({ "name": "late" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let new = unique_email("after-snapshot");
    primary.signup_confirmed(&w.mail, &new, PW).await?;

    let url = replica_url.to_string();
    let gw = w
        .start_with(|c| {
            c.admin_token = Some(Secret::new(ADMIN));
            c.database_read_url = Some(url.clone());
        })
        .await?;
    // Listings: the replica's (stale) view.
    assert_eq!(group_names(&gw).await?, ["early"]);
    assert_eq!(group_names(primary).await?, ["early", "late"]);
    let r = admin(
        &gw,
        Method::GET,
        &format!("/pools/main/users?email={new}"),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["users"].as_array().map(Vec::len), Some(0), "{r:?}");

    // Decisions: the primary's. The revoked session stays revoked (the replica has it live).
    let r = gw
        .post("/v1/sessions/refresh", json!({ "refresh_token": refresh }))
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "{r:?}"
    );
    // The account the replica has never seen signs in.
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": new, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // Writes: the primary's.
    let r = admin(
        &gw,
        Method::POST,
        "/pools/main/groups",
        Some(json!({ "name": "third" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(group_names(primary).await?, ["early", "late", "third"]);
    assert_eq!(
        group_names(&gw).await?,
        ["early"],
        "nothing was written to the replica"
    );

    gw.stop().await
}
