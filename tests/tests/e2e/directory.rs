//! Users, groups and the audit log through the admin API: search and keyset pages under
//! concurrent inserts, invitations, disabling (every sign-in refused like a wrong password,
//! every session dead at once), deletion (the wallet freed, the audit kept), groups in
//! tokens and storage roles, audit pages and the NDJSON stream.

use gatehouse_tests::s3::S3Server;
use gatehouse_tests::siwe_key::SiweKey;
use gatehouse_tests::{Gateway, World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

use crate::TestResult;
use crate::admin::{ADMIN, admin, claims_of, siwe_in, sub_of, with_admin};

crate::tests!(
    users_are_searched_and_paged_under_concurrent_inserts,
    invitations_and_wallet_accounts_are_created,
    parallel_creates_of_one_address_make_one_account,
    disabled_accounts_sign_in_nowhere,
    deleted_users_free_their_wallet,
    groups_reach_tokens_and_storage_roles,
    audit_is_filtered_paged_and_streamed,
);

const PW: &str = "correct horse battery";

async fn count(w: &World, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&w.db().await?).await?.get(0))
}

fn users(path: &str) -> String {
    format!("/pools/main/users{path}")
}

/// Every user of a search, page by page (`limit` each): their subs in order.
async fn page_all(gw: &Gateway, query: &str, limit: usize) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let sep = if query.is_empty() { "?" } else { "&" };
        let mut path = users(&format!("{query}{sep}limit={limit}"));
        if !cursor.is_empty() {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let r = admin(gw, Method::GET, &path, None, ADMIN).await?;
        anyhow::ensure!(r.status == StatusCode::OK, "{r:?}");
        let page = r.body["users"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(page.len() <= limit);
        seen.extend(
            page.iter()
                .map(|u| u["sub"].as_str().unwrap_or_default().to_string()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return Ok(seen),
        }
    }
}

async fn users_are_searched_and_paged_under_concurrent_inserts(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    // 1,000 accounts written straight into the database, 20 per second of creation time (so
    // the cursor's tie-break on the sub matters).
    let pool_id: String = sqlx::query("SELECT id FROM pool WHERE name = 'main'")
        .fetch_one(&w.db().await?)
        .await?
        .get(0);
    let db = w.db().await?;
    let mut seeded = Vec::new();
    for chunk in 0..10 {
        let mut sql = String::from(
            "INSERT INTO account (id, pool_id, status, attributes, created_at, updated_at) VALUES ",
        );
        for i in 0..100 {
            let id = uuid::Uuid::new_v4().to_string();
            let at = 1_700_000_000 + (chunk * 100 + i) / 20;
            sql.push_str(&format!(
                "{}('{id}', '{pool_id}', 'active', '{{}}', {at}, {at})",
                if i > 0 { "," } else { "" }
            ));
            seeded.push(id);
        }
        sqlx::query(&sql).execute(&db).await?;
    }
    // Paging while 60 more are created through the API: each seeded account is seen
    // exactly once, and no account twice.
    let inserter = {
        let (base, http) = (gw.base.clone(), gw.http.clone());
        tokio::spawn(async move {
            for _ in 0..60 {
                let r = http
                    .post(format!("{base}/admin/v1/pools/main/users"))
                    .bearer_auth(ADMIN)
                    .json(&json!({ "email": unique_email("late"), "send_invitation": false }))
                    .send()
                    .await;
                assert!(r.is_ok_and(|r| r.status() == StatusCode::CREATED));
            }
        })
    };
    let seen = page_all(&gw, "", 37).await?;
    inserter.await?;
    let mut times: HashMap<&str, usize> = HashMap::new();
    for s in &seen {
        *times.entry(s.as_str()).or_default() += 1;
    }
    assert!(times.values().all(|n| *n == 1), "an account was seen twice");
    assert!(
        seeded.iter().all(|s| times.get(s.as_str()) == Some(&1)),
        "a seeded account was missed"
    );
    assert_eq!(page_all(&gw, "", 500).await?.len(), 1060);

    // Filters: email prefix in any case, wallet in any form, status, creation time.
    let key = SiweKey::new();
    let email = format!("Zoe.Search.{}@Example.com", uuid::Uuid::new_v4().simple());
    let made = admin(
        &gw,
        Method::POST,
        &users(""),
        Some(json!({ "email": email, "wallet": key.address.to_lowercase(), "send_invitation": false })),
        ADMIN,
    )
    .await?;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let sub = made.str("sub");
    let lower = key.address.to_lowercase();
    for q in [
        "email=zoe.search".to_string(),
        "email=ZOE.SEARCH".to_string(),
        format!("wallet={}", key.address),
        format!("wallet={lower}"),
        format!("wallet=eip155:1:{}", key.address),
        format!("wallet=eip155:8453:{lower}"),
    ] {
        assert_eq!(
            page_all(&gw, &format!("?{q}"), 10).await?,
            vec![sub.clone()],
            "{q}"
        );
    }
    assert!(page_all(&gw, "?email=nobody.here", 10).await?.is_empty());
    assert_eq!(
        page_all(&gw, "?status=active&created_before=1700000005", 500)
            .await?
            .len(),
        100
    );
    assert_eq!(
        page_all(&gw, "?created_since=1700000049", 500).await?.len(),
        60 + 1 + 20
    );
    for bad in [
        "?limit=0",
        "?limit=501",
        "?cursor=@@",
        "?status=gone",
        "?wallet=0x12",
        "?colour=red",
    ] {
        let r = admin(&gw, Method::GET, &users(bad), None, ADMIN).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {r:?}");
    }
    let r = admin(
        &gw,
        Method::GET,
        &users(&format!("/{}", uuid::Uuid::new_v4())),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    gw.stop().await?;
    Ok(())
}

async fn invitations_and_wallet_accounts_are_created(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    // An invitation: the code in the mail sets the first password through recovery.
    let email = unique_email("invited");
    let r = admin(
        &gw,
        Method::POST,
        &users(""),
        Some(json!({ "email": email, "attributes": { "name": "Ivy" } })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(
        (
            r.body["email_verified"].as_bool(),
            r.body["attributes"]["name"].as_str()
        ),
        (Some(false), Some("Ivy"))
    );
    let code = w.mail.wait_code(&email, "invited").await?;
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": PW }),
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
    // The same email again: 409, nothing written.
    let before = count(&w, "SELECT COUNT(*) FROM account").await?;
    let r = admin(
        &gw,
        Method::POST,
        &users(""),
        Some(json!({ "email": email.to_uppercase() })),
        ADMIN,
    )
    .await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "email_taken"));
    for bad in [
        json!({}),
        json!({ "email": "not-an-email" }),
        json!({ "wallet": "0x12" }),
        json!({ "email": unique_email("x"), "role": "admin" }),
    ] {
        let r = admin(&gw, Method::POST, &users(""), Some(bad.clone()), ADMIN).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {r:?}");
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, before);

    // A wallet-only account by bare address: that wallet's SIWE sign-in is this account.
    let key = SiweKey::new();
    let r = admin(
        &gw,
        Method::POST,
        &users(""),
        Some(json!({ "wallet": key.address })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let sub = r.str("sub");
    let set = siwe_in(&gw, "main", &key).await?;
    assert_eq!(sub_of(set["access_token"].as_str().unwrap()), sub);
    // Read with its sessions, reset-password refused without an email, sign-out.
    let r = admin(&gw, Method::GET, &users(&format!("/{sub}")), None, ADMIN).await?;
    assert_eq!(
        r.body["sessions"].as_array().map(Vec::len),
        Some(1),
        "{r:?}"
    );
    let r = admin(
        &gw,
        Method::POST,
        &users(&format!("/{sub}/reset-password")),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = admin(
        &gw,
        Method::POST,
        &users(&format!("/{sub}/sign-out")),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(
        (r.status, r.body["revoked"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let r = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": set["refresh_token"] }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "signed out everywhere");
    let r = admin(
        &gw,
        Method::DELETE,
        &users(&format!("/{sub}/mfa")),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(
        (r.status, r.body["removed"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    gw.stop().await?;
    Ok(())
}

async fn disabled_accounts_sign_in_nowhere(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let email = unique_email("off");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let access = set["access_token"].as_str().unwrap().to_string();
    let sub = sub_of(&access);
    let key = SiweKey::new();
    let link = key.sign_in_body("gatehouse.test", &gw.siwe_nonce().await?);
    let r = gw.post_auth("/v1/me/wallets", link, &access).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let wallet_set = siwe_in(&gw, "main", &key).await?;

    let r = admin(
        &gw,
        Method::PATCH,
        &users(&format!("/{sub}")),
        Some(json!({ "status": "disabled" })),
        ADMIN,
    )
    .await?;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("disabled"))
    );
    // Every session ended at once: access tokens, refresh tokens.
    let live =
        format!("SELECT COUNT(*) FROM session WHERE account_id = '{sub}' AND revoked_at IS NULL");
    assert_eq!(count(&w, &live).await?, 0);
    let r = gw.get_auth("/v1/me", &access).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for refresh in [&set["refresh_token"], &wallet_set["refresh_token"]] {
        let r = gw
            .post("/v1/sessions/refresh", json!({ "refresh_token": refresh }))
            .await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    // Every sign-in refused with the wrong password's answer, exactly.
    let wrong = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": "wrong password!" }),
        )
        .await?;
    let right = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!((right.status, &right.body), (wrong.status, &wrong.body));
    assert_eq!(right.code(), "invalid_credentials");
    let body = key.sign_in_body("gatehouse.test", &gw.siwe_nonce().await?);
    let r = gw.post("/v1/sessions/siwe", body).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    gw.post("/v1/recovery", json!({ "email": email })).await?;
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": "000000" }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(count(&w, &live).await?, 0, "no sign-in opened a session");

    // Sign-ins racing a disable: whichever order they commit in, no session outlives it.
    let r = admin(
        &gw,
        Method::PATCH,
        &users(&format!("/{sub}")),
        Some(json!({ "status": "active" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK);
    let mut bodies = Vec::new();
    for _ in 0..12 {
        bodies.push(key.sign_in_body("gatehouse.test", &gw.siwe_nonce().await?));
    }
    let sign_ins = bodies.into_iter().map(|b| gw.post("/v1/sessions/siwe", b));
    let path = users(&format!("/{sub}"));
    let disable = admin(
        &gw,
        Method::PATCH,
        &path,
        Some(json!({ "status": "disabled" })),
        ADMIN,
    );
    let (answers, disabled) = tokio::join!(futures_util::future::join_all(sign_ins), disable);
    assert_eq!(disabled?.status, StatusCode::OK);
    for a in answers {
        let a = a?;
        assert!(
            matches!(a.status, StatusCode::OK | StatusCode::UNAUTHORIZED),
            "{a:?}"
        );
    }
    assert_eq!(
        count(&w, &live).await?,
        0,
        "a sign-in committed after the disable"
    );

    // Active again: signs in.
    let r = admin(
        &gw,
        Method::PATCH,
        &users(&format!("/{sub}")),
        Some(json!({ "status": "active", "attributes": { "name": "Back" } })),
        ADMIN,
    )
    .await?;
    assert_eq!(
        (
            r.body["status"].as_str(),
            r.body["attributes"]["name"].as_str()
        ),
        (Some("active"), Some("Back"))
    );
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    for bad in [
        json!({ "status": "pending" }),
        json!({ "status": "gone" }),
        json!({ "sub": "x" }),
        json!({ "attributes": { "email": "a@b.c" } }),
    ] {
        let r = admin(
            &gw,
            Method::PATCH,
            &users(&format!("/{sub}")),
            Some(bad.clone()),
            ADMIN,
        )
        .await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {r:?}");
    }
    let kinds = format!(
        "SELECT COUNT(*) FROM audit_event WHERE account_id = '{sub}' AND kind = 'admin_user_updated'"
    );
    assert_eq!(count(&w, &kinds).await?, 4);
    gw.stop().await?;
    Ok(())
}

async fn deleted_users_free_their_wallet(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let key = SiweKey::new();
    let set = siwe_in(&gw, "main", &key).await?;
    let sub = sub_of(set["access_token"].as_str().unwrap());
    let r = admin(&gw, Method::DELETE, &users(&format!("/{sub}")), None, ADMIN).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = admin(&gw, Method::DELETE, &users(&format!("/{sub}")), None, ADMIN).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    for table in [
        "account WHERE id",
        "wallet_credential WHERE account_id",
        "session WHERE account_id",
    ] {
        assert_eq!(
            count(&w, &format!("SELECT COUNT(*) FROM {table} = '{sub}'")).await?,
            0,
            "{table}"
        );
    }
    // The audit keeps the account's events, the deletion among them.
    let audit = format!(
        "SELECT COUNT(*) FROM audit_event WHERE account_id = '{sub}' AND kind IN ('sign_in', 'admin_user_deleted')"
    );
    assert_eq!(count(&w, &audit).await?, 2);
    let r = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": set["refresh_token"] }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The wallet is free: linked to another account.
    let other = gw.signed_in(&w.mail, &unique_email("heir"), PW).await?;
    let body = key.sign_in_body("gatehouse.test", &gw.siwe_nonce().await?);
    let r = gw
        .post_auth(
            "/v1/me/wallets",
            body,
            other["access_token"].as_str().unwrap(),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    gw.stop().await?;
    Ok(())
}

async fn groups_reach_tokens_and_storage_roles(w: Arc<World>) -> TestResult {
    let s3 = S3Server::start().await?;
    let settings = s3.settings();
    let gw = w
        .start_with(move |c| {
            c.admin_token = Some(accounts::secret::Secret::new(ADMIN));
            c.s3 = Some(settings);
        })
        .await?;
    let groups = |p: &str| format!("/pools/main/groups{p}");
    for (name, precedence) in [("staff", 5), ("beta", 1)] {
        let r = admin(
            &gw,
            Method::POST,
            &groups(""),
            Some(json!({ "name": name, "precedence": precedence, "description": "d" })),
            ADMIN,
        )
        .await?;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    let r = admin(
        &gw,
        Method::POST,
        &groups(""),
        Some(json!({ "name": "beta" })),
        ADMIN,
    )
    .await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "group_exists"));
    for bad in [
        json!({ "name": "has space" }),
        json!({ "name": "" }),
        json!({ "name": "a/b" }),
        json!({ "name": "p", "precedence": -1 }),
        json!({}),
    ] {
        let r = admin(&gw, Method::POST, &groups(""), Some(bad.clone()), ADMIN).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_group"),
            "{bad}"
        );
    }
    // A storage role that needs the `staff` group.
    let role = json!({ "storage_roles": [{ "name": "staff-files", "prefix": "staff/{sub}/", "actions": ["get"], "ttl_seconds": 600, "conditions": { "group": "staff" } }] });
    let r = admin(&gw, Method::PATCH, "/pools/main", Some(role), ADMIN).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    gw.state.pools.forget("main");

    let email = unique_email("grouped");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let sub = sub_of(set["access_token"].as_str().unwrap());
    assert_eq!(
        claims_of(set["access_token"].as_str().unwrap())["groups"],
        json!([])
    );
    let grant = json!({ "role": "staff-files", "objects": [{ "key": "a.txt", "action": "get" }] });
    let r = gw
        .post_auth(
            "/v1/storage/credentials",
            grant.clone(),
            set["access_token"].as_str().unwrap(),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "role_conditions_unmet")
    );
    for g in ["staff", "beta", "staff"] {
        let r = admin(
            &gw,
            Method::PUT,
            &groups(&format!("/{g}/members/{sub}")),
            None,
            ADMIN,
        )
        .await?;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    }
    let r = admin(
        &gw,
        Method::PUT,
        &groups(&format!("/nope/members/{sub}")),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "group_not_found")
    );
    let r = admin(
        &gw,
        Method::PUT,
        &groups(&format!("/beta/members/{}", uuid::Uuid::new_v4())),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    let r = admin(&gw, Method::GET, &groups("/staff/members"), None, ADMIN).await?;
    assert_eq!(r.body["members"], json!([sub]));

    // Refresh: the claim now holds both, lower precedence first; /v1/me shows them.
    let refreshed = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": set["refresh_token"] }),
        )
        .await?;
    let access = refreshed.str("access_token");
    assert_eq!(claims_of(&access)["groups"], json!(["beta", "staff"]));
    let me = gw.get_auth("/v1/me", &access).await?;
    assert_eq!(me.body["groups"], json!(["beta", "staff"]));
    let r = gw
        .post_auth("/v1/storage/credentials", grant.clone(), &access)
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // Removed from staff: the next refresh drops it, and the storage role refuses at once.
    let r = admin(
        &gw,
        Method::DELETE,
        &groups(&format!("/staff/members/{sub}")),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = admin(
        &gw,
        Method::DELETE,
        &groups(&format!("/staff/members/{sub}")),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = gw
        .post_auth("/v1/storage/credentials", grant, &access)
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "role_conditions_unmet")
    );
    let r = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": refreshed.str("refresh_token") }),
        )
        .await?;
    assert_eq!(claims_of(&r.str("access_token"))["groups"], json!(["beta"]));

    // Update, list, delete (memberships go with the group).
    let r = admin(
        &gw,
        Method::PATCH,
        &groups("/beta"),
        Some(json!({ "precedence": 9, "description": "Beta testers" })),
        ADMIN,
    )
    .await?;
    assert_eq!(
        (
            r.body["precedence"].as_i64(),
            r.body["description"].as_str()
        ),
        (Some(9), Some("Beta testers"))
    );
    let r = admin(&gw, Method::GET, &groups("?limit=1"), None, ADMIN).await?;
    assert_eq!(
        (
            r.body["groups"][0]["name"].as_str(),
            r.body["next_cursor"].is_string()
        ),
        (Some("beta"), true)
    );
    let r = admin(&gw, Method::DELETE, &groups("/beta"), None, ADMIN).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(count(&w, "SELECT COUNT(*) FROM group_member").await?, 0);
    let r = admin(&gw, Method::GET, &groups("/beta"), None, ADMIN).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "group_not_found")
    );
    gw.stop().await?;
    Ok(())
}

async fn audit_is_filtered_paged_and_streamed(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let mut subs = Vec::new();
    for _ in 0..5 {
        let r = admin(
            &gw,
            Method::POST,
            &users(""),
            Some(json!({ "email": unique_email("a"), "send_invitation": false })),
            ADMIN,
        )
        .await?;
        subs.push(r.str("sub"));
    }
    let audit = |q: &str| format!("/pools/main/audit{q}");
    // Newest first, pages of 2 cover all 5 exactly once.
    let mut seen = Vec::new();
    let mut path = audit("?kind=admin_user_created&limit=2");
    loop {
        let r = admin(&gw, Method::GET, &path, None, ADMIN).await?;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        seen.extend(
            r.body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["sub"].as_str().unwrap().to_string()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => path = audit(&format!("?kind=admin_user_created&limit=2&cursor={c}")),
            None => break,
        }
    }
    let mut newest_first = subs.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let r = admin(
        &gw,
        Method::GET,
        &audit(&format!("?sub={}", subs[0])),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(r.body["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["events"][0]["detail"]["actor"], "root");
    let r = admin(&gw, Method::GET, &audit("?since=4102444800"), None, ADMIN).await?;
    assert_eq!(r.body["events"], json!([]));
    for bad in ["?sub=nope", "?cursor=!!", "?limit=5000", "?since=soon"] {
        let r = admin(&gw, Method::GET, &audit(bad), None, ADMIN).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // NDJSON: every event, one per line, over more than one stored page.
    let db = w.db().await?;
    let pool_id: String = sqlx::query("SELECT id FROM pool WHERE name = 'main'")
        .fetch_one(&db)
        .await?
        .get(0);
    for _ in 0..3 {
        let mut sql = String::from(
            "INSERT INTO audit_event (pool_id, account_id, kind, detail, created_at) VALUES ",
        );
        let rows: Vec<String> = (0..400)
            .map(|i| format!("('{pool_id}', NULL, 'bulk', '{{\"i\":{i}}}', 1700000000)"))
            .collect();
        sql.push_str(&rows.join(","));
        sqlx::query(&sql).execute(&db).await?;
    }
    let total = count(&w, "SELECT COUNT(*) FROM audit_event").await?;
    let res = gw
        .http
        .get(format!("{}/admin/v1/pools/main/audit", gw.base))
        .bearer_auth(ADMIN)
        .header("accept", "application/x-ndjson")
        .send()
        .await?;
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await?;
    let lines: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len() as i64, total);
    let ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|p| p[0] > p[1]), "newest first");
    gw.stop().await?;
    Ok(())
}

/// Twelve creates at once of one address spelled differently (case, surrounding spaces, the
/// Kelvin sign for K, fullwidth letters), and of one wallet in three forms: one account each,
/// the rest 409 with nothing written; parallel adds to a group make one membership.
async fn parallel_creates_of_one_address_make_one_account(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let local = format!("kate.{}", uuid::Uuid::new_v4().simple());
    let spellings = [
        format!("{local}@example.com"),
        format!("{}@EXAMPLE.COM", local.to_uppercase()),
        format!("  {local}@example.com "),
        format!("{}@example.com", local.replacen('k', "\u{212A}", 1)),
        format!("{local}@\u{FF45}xample.com"),
        format!("{}@Example.com", local.replacen('k', "K", 1)),
    ];
    let key = SiweKey::new();
    let lower = key.address.to_lowercase();
    let wallets = [
        key.address.clone(),
        lower.clone(),
        format!("eip155:10:{lower}"),
    ];
    let calls = spellings
        .iter()
        .chain(spellings.iter())
        .map(|e| json!({ "email": e, "send_invitation": false }))
        .chain(wallets.iter().map(|w| json!({ "wallet": w })))
        .map(|body| admin(&gw, Method::POST, "/pools/main/users", Some(body), ADMIN));
    let answers = futures_util::future::join_all(calls).await;
    let mut created = 0;
    for a in answers {
        let a = a?;
        match a.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert!(
                matches!(a.code(), "email_taken" | "wallet_already_linked"),
                "{a:?}"
            ),
            other => panic!("{other}: {a:?}"),
        }
    }
    assert_eq!(
        created, 2,
        "one account for the address, one for the wallet"
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 2);
    let sub = page_all(&gw, &format!("?email={local}"), 10).await?;
    assert_eq!(sub.len(), 1);
    let r = admin(
        &gw,
        Method::POST,
        "/pools/main/groups",
        Some(json!({ "name": "g" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED);
    let member = format!("/pools/main/groups/g/members/{}", sub[0]);
    let adds = (0..8).map(|_| admin(&gw, Method::PUT, &member, None, ADMIN));
    for a in futures_util::future::join_all(adds).await {
        assert_eq!(a?.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM group_member").await?, 1);
    let added = "SELECT COUNT(*) FROM audit_event WHERE kind = 'admin_group_member_added'";
    assert_eq!(
        count(&w, added).await?,
        1,
        "an add that changed nothing is not audited"
    );
    gw.stop().await?;
    Ok(())
}
