//! What goes through the outbox: `custom_message` (the words of each mail, the code never
//! sent to the hook), and the notifications `post_authentication` and `post_confirmation`,
//! retried with the same `webhook-id` and delivered once across two instances.

use gatehouse_tests::{World, unique_email};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{PW, Receiver, add_hook, gateway, hook_failures, password_sign_in};
use crate::TestResult;

crate::tests!(
    custom_message_writes_the_mails,
    post_authentication_is_retried_and_delivered_once,
);

async fn custom_message_writes_the_mails(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let rx = Receiver::start().await?;
    add_hook(&gw, &rx, "words", "custom_message", json!({})).await?;
    rx.script(
        "words",
        json!([{ "body": {
            "subject": "Welcome aboard: {####}",
            "text": "Your Acme code is {####}. See you soon.",
            "html": "<p>Your <b>Acme</b> code is <code>{####}</code>.</p>",
        } }]),
    )
    .await?;
    let email = unique_email("words");
    let r = gw
        .post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let mail = w.mail.wait(&email, "Welcome aboard").await?;
    let code = mail.code().unwrap_or_default();
    assert_eq!(code.len(), 6, "{}", mail.subject());
    assert!(
        mail.data
            .contains(&format!("Your Acme code is {code}. See you soon.")),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("<b>Acme</b>"),
        "the hook's HTML as it wrote it"
    );
    // The hook was told what mail, never the code.
    let calls = rx.checked_calls("words").await?;
    let data = &calls[0]["body"]["data"];
    assert_eq!(data["mail"], "signup_code");
    assert_eq!(data["placeholders"], json!(["{####}"]));
    assert_eq!(data["email"], email.to_lowercase());
    assert!(
        !calls[0]["body"].to_string().contains(&code),
        "the code never reaches the hook"
    );
    // The code works.
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": code, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);

    // An answer without the placeholder is refused: under the default policy (fail_open)
    // the pool's own words go out, with the code, and the failure is audited.
    rx.script(
        "words",
        json!([{ "invalid": true, "body": { "subject": "Hi", "text": "no code here" } }]),
    )
    .await?;
    let other = unique_email("words2");
    gw.post("/v1/signup", json!({ "email": other, "password": PW }))
        .await?;
    let code = w.mail.wait_code(&other, "sign-up code").await?;
    assert_eq!(code.len(), 6);
    assert!(
        hook_failures(&w)
            .await?
            .iter()
            .any(|f| f["trigger"] == "custom_message"
                && f["error"].as_str().is_some_and(|e| e.contains("{####}")))
    );

    // A notice (no code): the hook's words, no placeholder needed.
    rx.script(
        "words",
        json!([{ "body": { "subject": "Password changed at Acme", "text": "It was changed." } }]),
    )
    .await?;
    let set = password_sign_in(&gw, &email, PW).await?;
    let token = set.str("access_token");
    let r = gw
        .post_auth(
            "/v1/me/password",
            json!({ "current_password": PW, "new_password": "another horse battery" }),
            &token,
        )
        .await?;
    assert!(r.status.is_success(), "{r:?}");
    let notice = w.mail.wait(&email, "Password changed at Acme").await?;
    assert!(notice.data.contains("It was changed."));
    Ok(())
}

async fn post_authentication_is_retried_and_delivered_once(w: Arc<World>) -> TestResult {
    let a = gateway(&w).await?;
    let rx = Receiver::start().await?;
    let email = unique_email("notify");
    a.signup_confirmed(&w.mail, &email, PW).await?;
    add_hook(&a, &rx, "seen", "post_authentication", json!({})).await?;
    // The second instance starts after the hook exists: an instance that read the pool's
    // hooks before sees a new one within 30 s (docs/hooks.md), which this test would race.
    let b = gateway(&w).await?;

    // The receiver fails the first delivery: it comes again, with the same id and body.
    rx.script("seen", json!([{ "status": 500 }, { "body": {} }]))
        .await?;
    let r = password_sign_in(&a, &email, PW).await?;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the sign-in never waits for the notification"
    );
    let calls = rx.wait_calls("seen", 2, Duration::from_secs(20)).await?;
    rx.checked_calls("seen").await?;
    assert_eq!(
        calls[0]["id"], calls[1]["id"],
        "a retry keeps its webhook-id"
    );
    assert_eq!(calls[0]["body"], calls[1]["body"]);
    assert_ne!(calls[0]["timestamp"], json!(null));
    let data = &calls[0]["body"]["data"];
    assert_eq!(
        (data["method"].clone(), data["client_id"].clone()),
        (json!("password"), json!("direct"))
    );
    assert_eq!(data["amr"], json!(["pwd"]));
    assert_eq!(data["email"], email.to_lowercase());

    // Many sign-ins on two instances sharing the database: each notification delivered
    // once, though both instances' workers drain the outbox. (Four accounts, three waves:
    // one address's sign-ins in parallel would meet its lockout's reservations.)
    rx.script("seen", json!([{ "body": {} }])).await?;
    let mut people = Vec::new();
    for i in 0..4 {
        let e = unique_email(&format!("many{i}"));
        a.signup_confirmed(&w.mail, &e, PW).await?;
        people.push(e);
    }
    for wave in 0..3 {
        let signed_in = futures_util::future::join_all(people.iter().enumerate().map(|(i, e)| {
            let gw = if (i + wave) % 2 == 0 { &a } else { &b };
            password_sign_in(gw, e, PW)
        }))
        .await;
        for r in signed_in {
            assert_eq!(r?.status, StatusCode::OK);
        }
    }
    let calls = rx
        .wait_calls("seen", 2 + 12, Duration::from_secs(20))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls_after = rx.calls("seen").await?;
    assert_eq!(calls_after.len(), calls.len(), "nothing delivered twice");
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for c in &calls_after[2..] {
        *per_id
            .entry(c["id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), 12);
    assert!(per_id.values().all(|n| *n == 1));
    let sessions: Vec<String> = calls_after[2..]
        .iter()
        .filter_map(|c| c["body"]["data"]["session"].as_str().map(str::to_string))
        .collect();
    let mut distinct = sessions.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 12, "one notification per session");
    Ok(())
}
