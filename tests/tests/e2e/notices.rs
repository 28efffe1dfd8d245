//! Sign-ins from somewhere new: a pool with `notify_new_sign_ins` mails the account when it
//! signs in from a network (a /24 or /48, in any spelling of the address) or a browser (the
//! hosted pages' device cookie) it never used, once, under concurrency too; the audit row
//! and the notice say which. The first sign-in of an account is not "new".

use gatehouse_tests::{Gateway, World, node_client, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;
use crate::admin::{ADMIN, admin};

crate::tests!(a_new_network_is_told_once, a_new_browser_is_told,);

const PW: &str = "correct horse battery";
const NOTICE: &str = "A new sign-in";

async fn notifying(w: &World, public: bool) -> anyhow::Result<Gateway> {
    let gw = w
        .start_with(|c| {
            c.admin_token = Some(accounts::secret::Secret::new(ADMIN));
            c.trust_proxy = true;
            if public {
                c.public_url = url::Url::parse(&format!("http://{}", c.listen)).expect("listen");
            }
        })
        .await?;
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "notify_new_sign_ins": true })),
        ADMIN,
    )
    .await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{r:?}");
    Ok(gw)
}

async fn sign_in_from(gw: &Gateway, email: &str, ip: &str) -> anyhow::Result<()> {
    let r = gw
        .http
        .post(format!("{}/v1/sessions/password", gw.api))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email, "password": PW }))
        .send()
        .await?;
    anyhow::ensure!(r.status() == StatusCode::OK, "{ip}: {}", r.status());
    Ok(())
}

fn notices(w: &World, email: &str) -> Vec<String> {
    w.mail
        .to(email)
        .iter()
        .filter(|m| m.subject().contains(NOTICE))
        .map(|m| m.data.clone())
        .collect()
}

async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
}

async fn audited(w: &World, email: &str) -> anyhow::Result<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT a.detail FROM audit_event a JOIN email_credential e ON e.account_id = a.account_id \
         WHERE e.email = $1 AND a.kind = 'sign_in_new_origin' ORDER BY a.id",
    )
    .bind(email.to_string())
    .fetch_all(&w.db().await?)
    .await?;
    Ok(rows
        .iter()
        .map(|r| serde_json::from_str(&r.get::<String, _>(0)).unwrap_or_default())
        .collect())
}

async fn a_new_network_is_told_once(w: Arc<World>) -> TestResult {
    let gw = notifying(&w, false).await?;
    let email = unique_email("networks");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    // The first sign-in, and another address of the same /24: nothing to tell.
    sign_in_from(&gw, &email, "198.51.100.7").await?;
    sign_in_from(&gw, &email, "198.51.100.200").await?;
    settle().await;
    assert!(notices(&w, &email).is_empty());

    // A new network, from ten requests at once: one notice.
    let tries = (1..=10).map(|i| {
        let (gw, email) = (&gw, &email);
        async move { sign_in_from(gw, email, &format!("203.0.113.{i}")).await }
    });
    for r in futures_util::future::join_all(tries).await {
        r?;
    }
    w.mail.wait(&email, NOTICE).await?;
    settle().await;
    let told = notices(&w, &email);
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("203.0.113.0/24"), "{}", told[0]);

    // IPv6: a /48, whatever the spelling of the address.
    sign_in_from(&gw, &email, "2001:db8:1:2::1").await?;
    sign_in_from(&gw, &email, "2001:DB8:0001:ffff:0:0:0:9").await?;
    w.mail.wait_nth(&email, NOTICE, 2).await?;
    settle().await;
    assert_eq!(notices(&w, &email).len(), 2);
    let details = audited(&w, &email).await?;
    assert_eq!(
        details
            .iter()
            .map(|d| (
                d["network"].clone(),
                d["new_network"].clone(),
                d["new_device"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (json!("203.0.113.0/24"), json!(true), json!(false)),
            (json!("2001:db8:1::/48"), json!(true), json!(false)),
        ]
    );
    // Kept as keyed hashes only.
    let db = w.db().await?;
    let kept: Vec<String> = sqlx::query("SELECT value_hash FROM sign_in_origin")
        .fetch_all(&db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kept.len(), 3);
    assert!(
        kept.iter()
            .all(|h| h.len() == 64 && !h.contains('.') && !h.contains(':'))
    );

    // A pool that does not ask keeps nothing.
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "notify_new_sign_ins": false })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK);
    sign_in_from(&gw, &email, "192.0.2.1").await?;
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM sign_in_origin")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(n, 3);
    gw.stop().await?;
    Ok(())
}

/// Browsers in headless Chromium: the first browser's sign-ins tell nothing; a second
/// browser (a new device cookie) is told, from the same network.
async fn a_new_browser_is_told(w: Arc<World>) -> TestResult {
    let gw = notifying(&w, true).await?;
    let email = unique_email("browsers");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let out: Value = node_client(
        "login-page.mjs",
        &json!({ "issuer": gw.api, "email": email, "password": PW, "browsers": [0, 0, 1, 1] }),
    )
    .await?;
    assert_eq!(out["titles"].as_array().map(Vec::len), Some(4), "{out}");
    w.mail.wait(&email, NOTICE).await?;
    settle().await;
    let told = notices(&w, &email);
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("Chrome on Linux"), "{}", told[0]);
    let details = audited(&w, &email).await?;
    assert_eq!(details.len(), 1);
    assert_eq!(
        (
            details[0]["new_network"].clone(),
            details[0]["new_device"].clone()
        ),
        (json!(false), json!(true))
    );
    gw.stop().await?;
    Ok(())
}
