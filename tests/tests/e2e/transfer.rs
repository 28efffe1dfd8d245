//! Moving users in and out: 10,000 NDJSON lines whose password hashes were made by the
//! libraries other systems use (Python's bcrypt, argon2-cffi, hashlib's scrypt and
//! PBKDF2), imported through the admin API in two requests (the second resuming by line
//! number), bad lines reported with their reasons, duplicates refused and never merged;
//! then sign-ins with the original passwords, each replacing the old hash with argon2id;
//! and `gatehouse user export` / `import` through the CLI.

use gatehouse_tests::{Gateway, World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

use crate::TestResult;
use crate::oauth::ADMIN;

crate::tests!(
    ten_thousand_users_move_in_with_their_hashes,
    the_cli_exports_and_imports_the_same_lines,
);

const LINES: usize = 10_000;

/// Posts `body` to the import; the answer's NDJSON lines.
async fn import(gw: &Gateway, body: String, from_line: Option<u64>) -> anyhow::Result<Vec<Value>> {
    let query = from_line
        .map(|n| format!("?from_line={n}"))
        .unwrap_or_default();
    let res = gw
        .http
        .post(format!(
            "{}/admin/v1/pools/main/users/import{query}",
            gw.base
        ))
        .bearer_auth(ADMIN)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(res.status() == StatusCode::OK, "import: {}", res.status());
    anyhow::ensure!(
        res.headers()
            .get("content-type")
            .is_some_and(|v| v == "application/x-ndjson"),
        "content type"
    );
    let text = res.text().await?;
    Ok(text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
        .collect())
}

fn done(answer: &[Value]) -> Value {
    answer
        .last()
        .map(|v| v["done"].clone())
        .unwrap_or(Value::Null)
}

async fn generate(path: &std::path::Path, tag: &str) -> anyhow::Result<Value> {
    let dir = gatehouse_tests::clients_dir()?;
    let out = tokio::process::Command::new(dir.join(".venv/bin/python"))
        .arg(dir.join("import-users.py"))
        .arg(json!({ "path": path, "count": LINES, "tag": tag, "group": "imported" }).to_string())
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "import-users.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

async fn scalar(w: &World, sql: &str, arg: &str) -> anyhow::Result<i64> {
    let db = w.db().await?;
    Ok(sqlx::query(sql).bind(arg).fetch_one(&db).await?.get(0))
}

async fn ten_thousand_users_move_in_with_their_hashes(w: Arc<World>) -> TestResult {
    let gw = w
        .start_with(|c| c.admin_token = Some(accounts::secret::Secret::new(ADMIN)))
        .await?;
    let r = gw
        .call(
            Method::POST,
            "//admin/v1/pools/main/groups",
            Some(json!({ "name": "imported" })),
            Some(ADMIN),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("users.ndjson");
    let tag = unique_email("imp").replace('@', "-at-");
    let made = generate(&path, &tag).await?;
    let text = std::fs::read_to_string(&path)?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), LINES);
    let expected_bad: HashMap<u64, String> = made["bad"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["line"].as_u64().unwrap_or(0),
                b["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();

    // The first half; then the rest, resumed by line number from the whole file.
    let half = LINES / 2;
    let first = import(&gw, lines[..half].join("\n"), None).await?;
    let second = import(&gw, text.clone(), Some(half as u64 + 1)).await?;
    let (d1, d2) = (done(&first), done(&second));
    assert_eq!(
        (d1["last_line"].clone(), d1["next_line"].clone()),
        (json!(half), json!(half + 1)),
        "{d1}"
    );
    assert_eq!(
        (d2["from_line"].clone(), d2["last_line"].clone()),
        (json!(half + 1), json!(LINES)),
        "{d2}"
    );
    let refused: HashMap<u64, String> = first
        .iter()
        .chain(&second)
        .filter(|v| v.get("line").is_some())
        .map(|v| {
            (
                v["line"].as_u64().unwrap_or(0),
                v["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        refused, expected_bad,
        "every bad line, with its reason, and no other"
    );
    let imported = d1["imported"].as_u64().unwrap_or(0) + d2["imported"].as_u64().unwrap_or(0);
    assert_eq!(imported as usize, LINES - expected_bad.len());
    assert!(
        first.iter().any(|v| v["progress"]["line"] == 1000),
        "progress as it goes"
    );

    // In the database: the accounts, their hashes as they came, verified flags, wallets,
    // group members, one audit row each.
    let like = format!("{tag}.%");
    let accounts = scalar(
        &w,
        "SELECT COUNT(*) FROM email_credential WHERE email_normalized LIKE $1",
        &like,
    )
    .await?;
    assert_eq!(accounts as u64, imported);
    for (prefix, n) in [
        ("$2b$%", 0),
        ("$2a$%", 0),
        ("$2y$%", 0),
        ("$argon2id$%", 0),
        ("$argon2i$%", 0),
        ("$scrypt$%", 0),
        ("$pbkdf2-sha256$%", 0),
    ] {
        let c = scalar(
            &w,
            "SELECT COUNT(*) FROM password_credential WHERE hash LIKE $1",
            prefix,
        )
        .await?;
        assert!(c > n + 1000, "{prefix}: {c}");
    }
    let verified = scalar(&w, "SELECT COUNT(*) FROM email_credential WHERE verified_at IS NOT NULL AND email_normalized LIKE $1", &like).await?;
    assert!((4900..=5100).contains(&verified), "{verified}");
    let members = scalar(&w, "SELECT COUNT(*) FROM group_member m JOIN account_group g ON g.id = m.group_id WHERE g.name = $1", "imported").await?;
    assert!((1900..=2000).contains(&members), "{members}");
    let wallets = scalar(
        &w,
        "SELECT COUNT(*) FROM wallet_credential WHERE pool_id <> $1",
        "",
    )
    .await?;
    assert!((3300..=3334).contains(&wallets), "{wallets}");
    let audited = scalar(
        &w,
        "SELECT COUNT(*) FROM audit_event WHERE kind = $1",
        "user_imported",
    )
    .await?;
    assert_eq!(audited as u64, imported);

    // Imported again: every line refused as a duplicate, nothing merged or added.
    let again = import(&gw, lines[..50].join("\n"), None).await?;
    assert_eq!(done(&again)["imported"], 0);
    assert!(
        again
            .iter()
            .filter(|v| v.get("line").is_some())
            .all(|v| v["code"] == "email_taken"
                || v["code"] == "invalid_json"
                || v["code"] == "wallet_already_linked")
    );
    assert_eq!(
        scalar(
            &w,
            "SELECT COUNT(*) FROM email_credential WHERE email_normalized LIKE $1",
            &like
        )
        .await?,
        accounts
    );

    // Sign-ins with the original passwords, each kind: the old hash verifies once and is
    // replaced by this pool's argon2id.
    let samples = made["samples"].as_array().cloned().unwrap_or_default();
    let mut kinds: Vec<&str> = samples.iter().filter_map(|s| s["kind"].as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    for s in &samples {
        let (email, password) = (
            s["email"].as_str().unwrap_or(""),
            s["password"].as_str().unwrap_or(""),
        );
        let wrong = gw
            .post(
                "/v1/sessions/password",
                json!({ "email": email, "password": format!("{password}!") }),
            )
            .await?;
        assert_eq!(wrong.code(), "invalid_credentials", "{s}");
        let r = gw
            .post(
                "/v1/sessions/password",
                json!({ "email": email, "password": password }),
            )
            .await?;
        assert_eq!(r.status, StatusCode::OK, "{s}: {r:?}");
        let hash: String = {
            let db = w.db().await?;
            sqlx::query("SELECT p.hash FROM password_credential p JOIN email_credential e ON e.account_id = p.account_id WHERE e.email_normalized = $1")
                .bind(email)
                .fetch_one(&db)
                .await?
                .get(0)
        };
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{s}: {hash}"
        );
        let r = gw
            .post(
                "/v1/sessions/password",
                json!({ "email": email, "password": password }),
            )
            .await?;
        assert_eq!(r.status, StatusCode::OK, "the new hash signs in: {s}");
    }
    Ok(())
}

async fn the_cli_exports_and_imports_the_same_lines(w: Arc<World>) -> TestResult {
    use clap::Parser;
    let gw = w.start().await?;
    let email = unique_email("Export");
    gw.signup_confirmed(&w.mail, &email, "correct horse battery")
        .await?;
    let wallet_user = gw.siwe_sign_in(None, json!({})).await?;
    assert_eq!(wallet_user.status, StatusCode::OK);
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("export.ndjson");
    let run = |args: Vec<String>| {
        let cli =
            gateway::cli::Cli::try_parse_from(std::iter::once("gatehouse".to_string()).chain(args));
        let config = w.config(0);
        async move {
            let cli = cli?;
            let command = cli
                .command
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("no command"))?;
            gateway::cli::run_admin(command, config, cli.json).await
        }
    };
    let out_s = out.display().to_string();
    run(vec![
        "user".into(),
        "export".into(),
        "--out".into(),
        out_s.clone(),
    ])
    .await?;
    let text = std::fs::read_to_string(&out)?;
    assert!(
        !text.contains("$argon2id$"),
        "no hashes without --with-hashes"
    );
    run(vec![
        "user".into(),
        "export".into(),
        "--with-hashes".into(),
        "--out".into(),
        out_s.clone(),
    ])
    .await?;
    let text = std::fs::read_to_string(&out)?;
    let lines: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 2);
    let person = lines
        .iter()
        .find(|l| l["email"] == email)
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        person["password_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("$argon2id$"))
    );
    assert_eq!(person["email_verified"], true);
    assert!(
        lines
            .iter()
            .any(|l| l["wallets"].as_array().is_some_and(|w| w.len() == 1))
    );

    // Imported into a fresh pool of another world, the same lines make the same accounts
    // (their subs kept), and the password still signs in.
    let other = World::new(&w.backend, w.mail.clone()).await?;
    let gw2 = other.start().await?;
    let cli = gateway::cli::Cli::try_parse_from(["gatehouse", "user", "import", &out_s])?;
    let command = cli
        .command
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no command"))?;
    gateway::cli::run_admin(command, other.config(0), false).await?;
    let r = gw2
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": "correct horse battery" }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let sub =
        gatehouse_tests::verified_claims(&gw2, &r.str("access_token"), &gw2.issuer).await?["sub"]
            .clone();
    assert_eq!(sub, person["sub"]);
    // The same file again: refused line by line, nothing merged.
    gateway::cli::run_admin(command, other.config(0), false).await?;
    let db = other.db().await?;
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM account")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(n, 2);
    other.cleanup().await?;
    Ok(())
}
