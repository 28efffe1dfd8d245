//! The operators' API beyond clients: who may call it (the root token, an admin client's
//! `client_credentials` token with `admin:read` or `admin:write`, never another pool's),
//! pools with their versioned configuration, users, groups and the audit log.

use accounts::secret::Secret;
use base64::Engine;
use gatehouse_tests::siwe_key::SiweKey;
use gatehouse_tests::{Answer, Gateway, World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    admin_tokens_are_scoped_to_their_pool,
    pools_are_created_validated_versioned_and_deleted,
    the_cli_mirrors_the_admin_api,
    a_deleted_pool_is_refused_cleanly_on_every_instance,
    a_pool_sets_its_own_rate_limits,
);

pub const ADMIN: &str = "test-admin-token-0123456789abcdef";
const PW: &str = "correct horse battery";

pub async fn with_admin(w: &World) -> anyhow::Result<Gateway> {
    w.start_with(|c| c.admin_token = Some(Secret::new(ADMIN)))
        .await
}

/// A call to `/admin/v1{path}`.
pub async fn admin(
    gw: &Gateway,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> anyhow::Result<Answer> {
    gw.call(method, &format!("//admin/v1{path}"), body, Some(token))
        .await
}

async fn count(w: &World, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&w.db().await?).await?.get(0))
}

/// A confidential client of `pool` allowed `scope`, and an access token for it from the
/// token endpoint (`client_credentials`, client_secret_basic): `(client_id, token)`.
async fn admin_client(gw: &Gateway, pool: &str, scope: &str) -> anyhow::Result<(String, String)> {
    let created = admin(
        gw,
        Method::POST,
        &format!("/pools/{pool}/clients"),
        Some(json!({
            "name": format!("ops {scope}"), "grant_types": ["client_credentials"],
            "scopes": [scope],
        })),
        ADMIN,
    )
    .await?;
    anyhow::ensure!(created.status == StatusCode::CREATED, "{created:?}");
    let (id, secret) = (created.str("client_id"), created.str("client_secret"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let r: Value = gw
        .http
        .post(format!("{}/pools/{pool}/oauth2/token", gw.base))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await?
        .json()
        .await?;
    let token = r["access_token"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(!token.is_empty(), "{r}");
    Ok((id, token))
}

async fn admin_tokens_are_scoped_to_their_pool(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let r = admin(
        &gw,
        Method::POST,
        "/pools",
        Some(json!({ "name": "other" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let (reader_id, reader) = admin_client(&gw, "main", "admin:read").await?;
    let (writer_id, writer) = admin_client(&gw, "main", "admin:write").await?;
    let (_, other) = admin_client(&gw, "other", "admin:write").await?;

    // Without a token, with a wrong one, with a user's token: refused.
    let r = gw
        .call(Method::GET, "//admin/v1/pools/main/users", None, None)
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = admin(&gw, Method::GET, "/pools/main/users", None, "nope").await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let user = gw.signed_in(&w.mail, &unique_email("user"), PW).await?;
    let user_token = user["access_token"].as_str().unwrap();
    let r = admin(&gw, Method::GET, "/pools/main/users", None, user_token).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "admin_forbidden")
    );

    // A reader reads and never writes.
    let r = admin(&gw, Method::GET, "/pools/main/users", None, &reader).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let before = count(&w, "SELECT COUNT(*) FROM account").await?;
    for (method, path, body) in [
        (
            Method::POST,
            "/pools/main/users",
            Some(json!({ "email": unique_email("r") })),
        ),
        (
            Method::POST,
            "/pools/main/groups",
            Some(json!({ "name": "x" })),
        ),
        (
            Method::PATCH,
            "/pools/main",
            Some(json!({ "display_name": "R" })),
        ),
        (Method::DELETE, "/pools/main/clients/none", None),
    ] {
        let r = admin(&gw, method.clone(), path, body, &reader).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "admin_forbidden"),
            "{method} {path}"
        );
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, before);

    // A writer writes in its pool, audited with its id; pools themselves are the root's.
    let email = unique_email("made");
    let r = admin(
        &gw,
        Method::POST,
        "/pools/main/users",
        Some(json!({ "email": email })),
        &writer,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let actor: String =
        sqlx::query("SELECT detail FROM audit_event WHERE kind = 'admin_user_created'")
            .fetch_one(&w.db().await?)
            .await?
            .get(0);
    assert!(actor.contains(&format!("client:{writer_id}")), "{actor}");
    for (method, path) in [(Method::GET, "/pools"), (Method::DELETE, "/pools/main")] {
        let r = admin(&gw, method, path, None, &writer).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "admin_forbidden")
        );
    }
    let r = admin(
        &gw,
        Method::POST,
        "/pools",
        Some(json!({ "name": "mine" })),
        &writer,
    )
    .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "admin_forbidden")
    );
    // A pool's writer changes its pool's settings, but not what reaches past its accounts:
    // storage prefixes in the shared bucket, and how long its own actions stay audited.
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "display_name": "Main" })),
        &writer,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    for root_only in [
        json!({ "storage_roles": [] }),
        json!({ "audit_retention_days": 1 }),
    ] {
        let r = admin(
            &gw,
            Method::PATCH,
            "/pools/main",
            Some(root_only.clone()),
            &writer,
        )
        .await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "admin_forbidden"),
            "{root_only}"
        );
    }

    // Another pool's admin client never reaches this pool (its token is not this pool's).
    for (method, path) in [
        (Method::GET, "/pools/main/users"),
        (Method::GET, "/pools/main"),
    ] {
        let r = admin(&gw, method, path, None, &other).await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = admin(&gw, Method::GET, "/pools/other/users", None, &other).await?;
    assert_eq!(r.status, StatusCode::OK);

    // A deleted client's token stops at once.
    let r = admin(
        &gw,
        Method::DELETE,
        &format!("/pools/main/clients/{reader_id}"),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = admin(&gw, Method::GET, "/pools/main/users", None, &reader).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    gw.stop().await?;

    // Without the root token the API is off, admin clients included.
    let gw = w.start().await?;
    let r = admin(&gw, Method::GET, "/pools/main/users", None, &writer).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "admin_disabled")
    );
    gw.stop().await?;
    Ok(())
}

async fn pools_are_created_validated_versioned_and_deleted(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let r = admin(
        &gw,
        Method::POST,
        "/pools",
        Some(json!({ "name": "acme", "config": { "display_name": "Acme", "password_min_length": 12 } })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.header("etag"), "\"1\"");
    assert_eq!(
        r.body["issuer"],
        format!("{}/pools/acme", gatehouse_tests::PUBLIC_URL)
    );
    assert_eq!(r.body["config"]["password_min_length"], 12);
    // Its issuer works at once: discovery, keys, and sign-ins isolated from main's.
    let d = gw
        .call(
            Method::GET,
            "//pools/acme/.well-known/openid-configuration",
            None,
            None,
        )
        .await?;
    assert_eq!(d.body["issuer"], r.body["issuer"]);
    let jwks = gw
        .call(
            Method::GET,
            "//pools/acme/.well-known/jwks.json",
            None,
            None,
        )
        .await?;
    assert!(jwks.body["keys"].as_array().is_some_and(|k| !k.is_empty()));
    let key = SiweKey::new();
    let main_sub = siwe_sub(&gw, "main", &key).await?;
    let acme = siwe_in(&gw, "acme", &key).await?;
    let acme_sub = acme["access_token"]
        .as_str()
        .map(sub_of)
        .unwrap_or_default();
    assert_ne!(main_sub, acme_sub, "one wallet, two pools, two accounts");
    let r = gw
        .get_auth("/v1/me", acme["access_token"].as_str().unwrap())
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "acme's token at main");

    // Refusals: a taken name, a bad name, a bad configuration (nothing stored).
    let r = admin(
        &gw,
        Method::POST,
        "/pools",
        Some(json!({ "name": "acme" })),
        ADMIN,
    )
    .await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "pool_exists"));
    for name in ["Acme", "-x", "a/b", ""] {
        let r = admin(
            &gw,
            Method::POST,
            "/pools",
            Some(json!({ "name": name })),
            ADMIN,
        )
        .await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_pool_config"),
            "{name}"
        );
    }
    let role = |prefix: &str, ttl: i64| json!({ "storage_roles": [{ "name": "r", "prefix": prefix, "actions": ["get"], "ttl_seconds": ttl }] });
    for (bad, why) in [
        (json!({ "display_nam": "typo" }), "display_nam"),
        (
            json!({ "branding": { "colour": "#fff" } }),
            "branding.colour",
        ),
        (
            json!({ "siwe_domains": ["https://acme.example"] }),
            "siwe_domains",
        ),
        (
            json!({ "siwe_domains": ["acme.example/login"] }),
            "siwe_domains",
        ),
        (json!({ "siwe_chain_ids": [] }), "siwe_chain_ids"),
        (role("files/", 600), "{sub}"),
        (role("files/{sub}/", 7200), "ttl_seconds"),
        (json!({ "access_token_ttl": 5 }), "token lifetimes"),
    ] {
        let r = admin(&gw, Method::PATCH, "/pools/acme", Some(bad.clone()), ADMIN).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_pool_config"),
            "{bad}"
        );
        assert!(r.str("detail").contains(why), "{bad}: {r:?}");
    }
    let r = admin(&gw, Method::GET, "/pools/acme", None, ADMIN).await?;
    assert_eq!(r.header("etag"), "\"1\"", "refusals changed nothing");

    // If-Match: the current version wins, a stale one answers 412.
    let r = patch_pool(
        &gw,
        "acme",
        json!({ "display_name": "Acme Inc" }),
        Some("\"1\""),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.header("etag"), r.body["config"]["display_name"].as_str()),
        ("\"2\"", Some("Acme Inc"))
    );
    assert_eq!(
        r.body["config"]["password_min_length"], 12,
        "a merge patch keeps the rest"
    );
    let r = patch_pool(
        &gw,
        "acme",
        json!({ "display_name": "Stale" }),
        Some("\"1\""),
    )
    .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PRECONDITION_FAILED, "version_mismatch")
    );
    // Two concurrent updates from version 2: one wins, the other is refused, none is lost.
    let (a, b) = tokio::join!(
        patch_pool(&gw, "acme", json!({ "display_name": "A" }), Some("\"2\"")),
        patch_pool(&gw, "acme", json!({ "display_name": "B" }), Some("\"2\"")),
    );
    let (a, b) = (a?, b?);
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let winner = if a.status == StatusCode::OK { "A" } else { "B" };
    let r = admin(&gw, Method::GET, "/pools/acme", None, ADMIN).await?;
    assert_eq!(
        (r.header("etag"), r.body["config"]["display_name"].as_str()),
        ("\"3\"", Some(winner))
    );
    // Concurrent updates without If-Match never lose one either: each lands or is refused.
    let patches =
        (0..6).map(|i| patch_pool(&gw, "acme", json!({ "password_min_length": 20 + i }), None));
    let landed = futures_util::future::join_all(patches)
        .await
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status == StatusCode::OK))
        .count();
    assert_eq!(
        landed, 6,
        "without If-Match each update is merged on what it finds"
    );
    let r = patch_pool(&gw, "acme", json!({}), None).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_pool_config")
    );
    let r = admin(&gw, Method::GET, "/pools/acme", None, ADMIN).await?;
    assert_eq!(
        r.body["version"],
        3 + landed as i64,
        "every landed update bumped the version once"
    );
    assert_eq!(
        count(
            &w,
            "SELECT COUNT(*) FROM audit_event WHERE kind = 'admin_pool_updated'"
        )
        .await?,
        2 + landed as i64
    );

    // Pages of pools by name.
    let r = admin(&gw, Method::GET, "/pools?limit=1", None, ADMIN).await?;
    assert_eq!(r.body["pools"][0]["name"], "acme");
    let next = r.str("next_cursor");
    let r = admin(
        &gw,
        Method::GET,
        &format!("/pools?limit=1&cursor={next}"),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(
        (
            r.body["pools"][0]["name"].as_str(),
            r.body["next_cursor"].is_null()
        ),
        (Some("main"), true)
    );

    // Delete: refused while it has accounts, then forced; everything in it is gone.
    let r = admin(&gw, Method::DELETE, "/pools/acme", None, ADMIN).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "pool_not_empty")
    );
    let r = admin(&gw, Method::DELETE, "/pools/acme?force=true", None, ADMIN).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let pool_rows = "SELECT COUNT(*) FROM pool WHERE name = 'acme'";
    assert_eq!(count(&w, pool_rows).await?, 0);
    assert_eq!(
        count(&w, "SELECT COUNT(*) FROM wallet_credential").await?,
        1,
        "main's wallet stays"
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 1);
    let r = gw
        .call(
            Method::GET,
            "//pools/acme/.well-known/openid-configuration",
            None,
            None,
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "pool_not_found")
    );
    let r = admin(&gw, Method::DELETE, "/pools/main?force=true", None, ADMIN).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "pool_protected")
    );
    gw.stop().await?;
    Ok(())
}

async fn patch_pool(
    gw: &Gateway,
    pool: &str,
    body: Value,
    if_match: Option<&str>,
) -> anyhow::Result<Answer> {
    let mut req = gw
        .http
        .patch(format!("{}/admin/v1/pools/{pool}", gw.base))
        .bearer_auth(ADMIN)
        .json(&body);
    if let Some(m) = if_match {
        req = req.header("if-match", m);
    }
    let res = req.send().await?;
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A SIWE sign-in at `pool` with `key`: its token set.
pub async fn siwe_in(gw: &Gateway, pool: &str, key: &SiweKey) -> anyhow::Result<Value> {
    let nonce = gw
        .call(
            Method::POST,
            &format!("//pools/{pool}/v1/siwe/nonce"),
            Some(json!({})),
            None,
        )
        .await?;
    let body = key.sign_in_body("gatehouse.test", &nonce.str("nonce"));
    let r = gw
        .call(
            Method::POST,
            &format!("//pools/{pool}/v1/sessions/siwe"),
            Some(body),
            None,
        )
        .await?;
    anyhow::ensure!(r.status == StatusCode::OK, "siwe at {pool}: {r:?}");
    Ok(r.body)
}

async fn siwe_sub(gw: &Gateway, pool: &str, key: &SiweKey) -> anyhow::Result<String> {
    let set = siwe_in(gw, pool, key).await?;
    Ok(set["access_token"].as_str().map(sub_of).unwrap_or_default())
}

/// The claims of a JWT, unverified (the tests that verify signatures are elsewhere).
pub fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

pub fn sub_of(jwt: &str) -> String {
    claims_of(jwt)["sub"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `gatehouse pool|user|group|audit …` through the same parser and code as the binary.
async fn the_cli_mirrors_the_admin_api(w: Arc<World>) -> TestResult {
    use clap::Parser;
    let run = |args: &[&str]| {
        let cli = gateway::cli::Cli::try_parse_from(
            std::iter::once("gatehouse").chain(args.iter().copied()),
        );
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
    run(&[
        "pool",
        "create",
        "acme",
        "--settings",
        r#"{"display_name":"Acme"}"#,
    ])
    .await?;
    assert_eq!(
        count(&w, "SELECT COUNT(*) FROM pool WHERE name = 'acme'").await?,
        1
    );
    assert!(
        run(&["pool", "create", "acme"]).await.is_err(),
        "a taken name"
    );
    assert!(
        run(&[
            "pool",
            "update",
            "acme",
            "--patch",
            r#"{"siwe_domains":["https://x"]}"#
        ])
        .await
        .is_err()
    );
    run(&[
        "pool",
        "update",
        "acme",
        "--patch",
        r#"{"password_min_length":14}"#,
        "--if-match",
        "1",
    ])
    .await?;
    assert!(
        run(&["pool", "update", "acme", "--patch", "{}", "--if-match", "1"])
            .await
            .is_err(),
        "stale"
    );
    let email = unique_email("cli");
    run(&[
        "user",
        "create",
        "--pool",
        "acme",
        "--email",
        &email,
        "--no-invitation",
    ])
    .await?;
    let sub: String = sqlx::query("SELECT account_id FROM email_credential WHERE email = $1")
        .bind(&email)
        .fetch_one(&w.db().await?)
        .await?
        .get(0);
    run(&[
        "group",
        "create",
        "staff",
        "--pool",
        "acme",
        "--precedence",
        "2",
    ])
    .await?;
    run(&["group", "add", "staff", &sub, "--pool", "acme"]).await?;
    assert_eq!(count(&w, "SELECT COUNT(*) FROM group_member").await?, 1);
    run(&["user", "disable", &sub, "--pool", "acme"]).await?;
    let status: String = sqlx::query("SELECT status FROM account WHERE id = $1")
        .bind(&sub)
        .fetch_one(&w.db().await?)
        .await?
        .get(0);
    assert_eq!(status, "disabled");
    for args in [
        &["pool", "list"][..],
        &["pool", "show", "acme", "--json"],
        &["user", "list", "--pool", "acme", "--email", "CLI"],
        &["user", "show", &sub, "--pool", "acme", "--json"],
        &["group", "members", "staff", "--pool", "acme"],
        &["audit", "--pool", "acme", "--json", "--limit", "5"],
    ] {
        run(args)
            .await
            .map_err(|e| anyhow::anyhow!("{args:?}: {e}"))?;
    }
    assert!(
        run(&["user", "show", "not-a-uuid", "--pool", "acme"])
            .await
            .is_err()
    );
    assert!(
        run(&["pool", "delete", "acme"]).await.is_err(),
        "accounts remain"
    );
    let by_cli = "SELECT COUNT(*) FROM audit_event WHERE detail LIKE '%\"actor\":\"cli\"%'";
    assert_eq!(
        count(&w, by_cli).await?,
        6,
        "created, updated, user, group, member, disabled"
    );
    run(&["pool", "delete", "acme", "--force"]).await?;
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 0);
    Ok(())
}

/// A pool deleted on one instance while another still has it cached (30 s): what the other
/// tries to write there is refused with a 4xx, never a 500, and nothing is written.
async fn a_deleted_pool_is_refused_cleanly_on_every_instance(w: Arc<World>) -> TestResult {
    let a = with_admin(&w).await?;
    let b = with_admin(&w).await?;
    let r = admin(
        &a,
        Method::POST,
        "/pools",
        Some(json!({ "name": "brief" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED);
    // B reads the pool (and caches it), A deletes it.
    let nonce = b
        .call(
            Method::POST,
            "//pools/brief/v1/siwe/nonce",
            Some(json!({})),
            None,
        )
        .await?;
    assert_eq!(nonce.status, StatusCode::OK);
    let r = admin(&a, Method::DELETE, "/pools/brief", None, ADMIN).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let key = SiweKey::new();
    let body = key.sign_in_body("gatehouse.test", &nonce.str("nonce"));
    let signup = json!({ "email": unique_email("late"), "password": PW });
    for (path, body) in [
        ("//pools/brief/v1/sessions/siwe", body),
        ("//pools/brief/v1/signup", signup),
    ] {
        let r = b.call(Method::POST, path, Some(body), None).await?;
        assert!(r.status.is_client_error(), "{path}: {r:?}");
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 0);
    a.stop().await?;
    b.stop().await?;
    Ok(())
}

/// A pool's `rate_limits` replace the gateway's for that pool only: two SIWE nonces a
/// minute in `tight`, and the third answers 429 with its own window in `Retry-After`.
async fn a_pool_sets_its_own_rate_limits(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let limits = json!({ "rate_limits": { "siwe-nonce-ip": { "max": 2, "window_seconds": 45 } } });
    let r = admin(
        &gw,
        Method::POST,
        "/pools",
        Some(json!({ "name": "tight", "config": limits })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    for _ in 0..2 {
        assert_eq!(nonce_at(&gw, "tight").await?.status, StatusCode::OK);
    }
    let r = nonce_at(&gw, "tight").await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(r.header("retry-after"), "45");
    for _ in 0..3 {
        assert_eq!(
            nonce_at(&gw, "main").await?.status,
            StatusCode::OK,
            "main keeps the gateway's limit"
        );
    }
    for bad in [
        json!({ "rate_limits": { "nonces": { "max": 2, "window_seconds": 60 } } }),
        json!({ "rate_limits": { "attempt-ip": { "max": 0, "window_seconds": 60 } } }),
        json!({ "rate_limits": { "attempt-ip": { "max": 5, "window": 60 } } }),
    ] {
        let r = admin(&gw, Method::PATCH, "/pools/tight", Some(bad.clone()), ADMIN).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_pool_config"),
            "{bad}"
        );
    }
    gw.stop().await?;
    Ok(())
}

async fn nonce_at(gw: &Gateway, pool: &str) -> anyhow::Result<Answer> {
    let path = format!("//pools/{pool}/v1/siwe/nonce");
    gw.call(Method::POST, &path, Some(json!({})), None).await
}
