//! Account-security cases found by black-box tests of the release binary: limits keyed by
//! one normalised form of an address and counted before they are judged (also under 40+
//! parallel requests), a pending sign-up's password chosen only by whoever proves the
//! mailbox, sensitive changes needing a recent sign-in (with an undo link for an email
//! change), mail only to the stored address, and recovery requests doing the same work for
//! every address. Each asserts what must not have happened: no token, no row, no mail.

use gatehouse_tests::{Answer, Gateway, World, unique_email};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    lockout_holds_for_every_spelling,
    recovery_code_budget_holds_for_every_spelling,
    signup_code_budget_holds_for_every_spelling,
    parallel_wrong_passwords_never_pass_the_lockout,
    parallel_addresses_never_pass_the_per_email_cap,
    parallel_wrong_codes_never_pass_the_code_budget,
    a_stranger_cannot_choose_a_pending_password,
    a_stolen_token_cannot_move_the_account,
    an_email_change_can_be_undone_from_the_old_address,
    recovery_lists_recent_changes,
    codes_go_to_the_stored_address,
    recovery_requests_do_the_same_work_for_every_address,
    access_tokens_honour_nbf_and_crit,
    stored_addresses_take_the_current_form,
    a_password_needs_a_recent_sign_in_too,
);

const PW: &str = "correct horse battery";

/// Ways to spell one address that must all be the same address.
fn spellings(email: &str) -> Vec<String> {
    let (local, domain) = email.split_once('@').unwrap();
    vec![
        format!("{email} "),
        format!(" {email}"),
        format!("{email}\t"),
        format!("{email}\n"),
        format!("{email}\u{a0}"),
        format!("\u{2003}{email}"),
        email.to_uppercase(),
        // U+212A KELVIN SIGN lower-cases (and NFKC-normalises) to `k`.
        format!("{}@{domain}", local.replacen('k', "\u{212a}", 1)),
        // Fullwidth letters are NFKC-compatible with ASCII ones.
        format!("{}@{domain}", local.replacen('k', "\u{ff4b}", 1)),
    ]
}

async fn count(w: &World, sql: &str, bind: &str) -> anyhow::Result<i64> {
    let db = w.db().await?;
    Ok(sqlx::query(sql).bind(bind).fetch_one(&db).await?.get(0))
}

async fn account_id(w: &World, email: &str) -> anyhow::Result<String> {
    let db = w.db().await?;
    Ok(
        sqlx::query("SELECT account_id FROM email_credential WHERE email_normalized = $1")
            .bind(email.to_lowercase())
            .fetch_one(&db)
            .await?
            .get(0),
    )
}

async fn sessions_of(w: &World, account: &str) -> anyhow::Result<i64> {
    count(
        w,
        "SELECT COUNT(*) FROM session WHERE account_id = $1",
        account,
    )
    .await
}

async fn sign_in(gw: &Gateway, email: &str, password: &str) -> anyhow::Result<Answer> {
    gw.post(
        "/v1/sessions/password",
        json!({ "email": email, "password": password }),
    )
    .await
}

async fn lockout_holds_for_every_spelling(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("lock");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let account = account_id(&w, &email).await?;
    for _ in 0..10 {
        let r = sign_in(&gw, &email, "wrong password here").await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let failures =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'sign_in_failed'";
    assert_eq!(count(&w, failures, &account).await?, 10);
    let mut all = vec![email.clone()];
    all.extend(spellings(&email));
    for spelling in &all {
        let right = sign_in(&gw, spelling, PW).await?;
        assert_eq!(
            (right.status, right.code()),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            "{spelling:?}: {right:?}"
        );
        assert!(right.body.get("access_token").is_none());
        let wrong = sign_in(&gw, spelling, "another wrong guess").await?;
        assert_eq!(wrong.status, StatusCode::TOO_MANY_REQUESTS, "{spelling:?}");
    }
    assert_eq!(sessions_of(&w, &account).await?, 0, "no session was opened");
    assert_eq!(
        count(&w, failures, &account).await?,
        10,
        "no guess past the lockout was judged"
    );
    gw.stop().await
}

/// Spends the daily budget of wrong recovery codes, then asks for a fresh code and presents
/// it under every other spelling: refused, with nothing changed.
async fn recovery_code_budget_holds_for_every_spelling(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("rec");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let account = account_id(&w, &email).await?;
    gw.post("/v1/recovery", json!({ "email": email })).await?;
    w.mail.wait_code(&email, "recovery code").await?;
    for i in 0..20 {
        let r = gw
            .post(
                "/v1/recovery/confirm",
                json!({ "email": email, "code": format!("{:06}", 999_000 + i), "new_password": "a brand new passphrase" }),
            )
            .await?;
        assert_eq!(r.code(), "code_invalid", "{i}: {r:?}");
    }
    gw.post("/v1/recovery", json!({ "email": email })).await?;
    let code = w
        .mail
        .wait_nth(&email, "recovery code", 2)
        .await?
        .code()
        .unwrap();
    for spelling in spellings(&email).iter().chain([&email]) {
        let r = gw
            .post(
                "/v1/recovery/confirm",
                json!({ "email": spelling, "code": code, "new_password": "a brand new passphrase" }),
            )
            .await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            "{spelling:?}: {r:?}"
        );
    }
    assert_eq!(sessions_of(&w, &account).await?, 0, "no session was opened");
    assert_eq!(sign_in(&gw, &email, PW).await?.status, StatusCode::OK);
    let recovered =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'recovery_completed'";
    assert_eq!(count(&w, recovered, &account).await?, 0);
    gw.stop().await
}

/// The same for sign-up codes.
async fn signup_code_budget_holds_for_every_spelling(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let pending = unique_email("kpending");
    gw.post("/v1/signup", json!({ "email": pending, "password": PW }))
        .await?;
    let code = w.mail.wait_code(&pending, "sign-up code").await?;
    let wrong = format!("{:06}", (code.parse::<u32>()? + 1) % 1_000_000);
    for spelling in spellings(&pending).iter().cycle().take(20) {
        let r = gw
            .post(
                "/v1/signup/confirm",
                json!({ "email": spelling, "code": wrong, "password": PW }),
            )
            .await?;
        assert_eq!(r.code(), "code_invalid", "{spelling:?}: {r:?}");
    }
    gw.post("/v1/signup/resend", json!({ "email": pending }))
        .await?;
    let fresh = w
        .mail
        .wait_nth(&pending, "sign-up code", 2)
        .await?
        .code()
        .unwrap();
    for spelling in spellings(&pending).iter().chain([&pending]) {
        let r = gw
            .post(
                "/v1/signup/confirm",
                json!({ "email": spelling, "code": fresh, "password": PW }),
            )
            .await?;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{spelling:?}");
    }
    let status: String = sqlx::query(
        "SELECT a.status FROM account a JOIN email_credential e ON e.account_id = a.id \
         WHERE e.email_normalized = $1",
    )
    .bind(pending.to_lowercase())
    .fetch_one(&w.db().await?)
    .await?
    .get(0);
    assert_eq!(status, "pending", "never confirmed past the budget");
    gw.stop().await
}

/// Fires `n` requests at once and counts the answers by status.
async fn burst(
    n: usize,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) -> anyhow::Result<std::collections::HashMap<u16, usize>> {
    let sent: Vec<_> = (0..n).map(|i| request(i).send()).collect();
    let mut by_status = std::collections::HashMap::new();
    for r in futures_join(sent).await {
        *by_status.entry(r?.status().as_u16()).or_insert(0) += 1;
    }
    Ok(by_status)
}

async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("request task"));
    }
    out
}

async fn parallel_wrong_passwords_never_pass_the_lockout(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("burst");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let account = account_id(&w, &email).await?;
    let url = format!("{}/v1/sessions/password", gw.api);
    let by_status = burst(40, |i| {
        // The same address, spelled many ways.
        let spelling = spellings(&email)
            .into_iter()
            .chain([email.clone()])
            .nth(i % 10)
            .unwrap();
        gw.http
            .post(&url)
            .json(&json!({ "email": spelling, "password": "wrong password here" }))
    })
    .await?;
    assert_eq!(by_status.get(&401), Some(&10), "{by_status:?}");
    assert_eq!(by_status.get(&429), Some(&30), "{by_status:?}");
    let failures =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'sign_in_failed'";
    assert_eq!(count(&w, failures, &account).await?, 10, "ten judged");
    // Locked from this address, right password included.
    assert_eq!(
        sign_in(&gw, &email, PW).await?.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(sessions_of(&w, &account).await?, 0);
    gw.stop().await
}

async fn parallel_addresses_never_pass_the_per_email_cap(w: Arc<World>) -> TestResult {
    // The hasher's queue holds the whole burst (8 threads, 256 waiting), so every attempt
    // reaches the limit instead of the overload refusal (overload.rs tests that one).
    let gw = w
        .start_with(|c| {
            c.trust_proxy = true;
            c.hash_concurrency = 8;
        })
        .await?;
    let email = unique_email("spread");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let account = account_id(&w, &email).await?;
    let url = format!("{}/v1/sessions/password", gw.api);
    let by_status = burst(150, |i| {
        gw.http
            .post(&url)
            .header("x-forwarded-for", format!("10.9.{}.{}", i / 250, i % 250))
            .json(&json!({ "email": email, "password": "wrong password here" }))
    })
    .await?;
    assert_eq!(by_status.get(&401), Some(&100), "{by_status:?}");
    assert_eq!(by_status.get(&429), Some(&50), "{by_status:?}");
    let failures =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'sign_in_failed'";
    assert_eq!(count(&w, failures, &account).await?, 100);
    // The cap holds for the right password from a new address too.
    let r = gw
        .http
        .post(&url)
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({ "email": email, "password": PW }))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sessions_of(&w, &account).await?, 0);
    gw.stop().await
}

async fn parallel_wrong_codes_never_pass_the_code_budget(w: Arc<World>) -> TestResult {
    let gw = w.start_with(|c| c.trust_proxy = true).await?;
    let email = unique_email("codes");
    gw.post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    let url = format!("{}/v1/signup/confirm", gw.api);
    let by_status = burst(40, |i| {
        let wrong = format!(
            "{:06}",
            (code.parse::<u32>().unwrap() + 1 + i as u32) % 1_000_000
        );
        gw.http
            .post(&url)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({ "email": email, "code": wrong, "password": PW }))
    })
    .await?;
    assert_eq!(by_status.get(&400), Some(&20), "{by_status:?}");
    assert_eq!(by_status.get(&429), Some(&20), "{by_status:?}");
    let account = account_id(&w, &email).await?;
    let rejected =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'code_rejected'";
    assert_eq!(count(&w, rejected, &account).await?, 20, "twenty judged");
    gw.stop().await
}

async fn a_stranger_cannot_choose_a_pending_password(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let owner_pw = "the owner's own passphrase";
    let stranger_pw = "a stranger's chosen phrase";

    // The owner signs up, then a stranger signs up the same address: the owner confirms
    // with the newest code in the inbox (the stranger's) and their own password.
    let email = unique_email("hijack");
    gw.post(
        "/v1/signup",
        json!({ "email": email, "password": owner_pw }),
    )
    .await?;
    w.mail.wait_code(&email, "sign-up code").await?;
    gw.post(
        "/v1/signup",
        json!({ "email": email.to_uppercase(), "password": stranger_pw }),
    )
    .await?;
    let newest = w
        .mail
        .wait_nth(&email, "sign-up code", 2)
        .await?
        .code()
        .unwrap();
    let missing = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": newest }),
        )
        .await?;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::BAD_REQUEST, "password_required")
    );
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": newest, "password": owner_pw }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        sign_in(&gw, &email, stranger_pw).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(sign_in(&gw, &email, owner_pw).await?.status, StatusCode::OK);

    // The same after a resend asked by the owner.
    let email = unique_email("hijack2");
    gw.post(
        "/v1/signup",
        json!({ "email": email, "password": owner_pw }),
    )
    .await?;
    w.mail.wait_code(&email, "sign-up code").await?;
    gw.post(
        "/v1/signup",
        json!({ "email": email, "password": stranger_pw }),
    )
    .await?;
    w.mail.wait_nth(&email, "sign-up code", 2).await?;
    gw.post("/v1/signup/resend", json!({ "email": email }))
        .await?;
    let resent = w
        .mail
        .wait_nth(&email, "sign-up code", 3)
        .await?
        .code()
        .unwrap();
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": resent, "password": owner_pw }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        sign_in(&gw, &email, stranger_pw).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(sign_in(&gw, &email, owner_pw).await?.status, StatusCode::OK);

    // Only a stranger signed up: the owner who confirms the mail with a password of their
    // own activates nothing (they sign up themselves), and the stranger's password never
    // becomes the account's.
    let email = unique_email("hijack3");
    gw.post(
        "/v1/signup",
        json!({ "email": email, "password": stranger_pw }),
    )
    .await?;
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": code, "password": owner_pw }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let db = w.db().await?;
    let row = sqlx::query(
        "SELECT a.status, (SELECT COUNT(*) FROM password_credential p WHERE p.account_id = a.id) AS pw \
         FROM account a JOIN email_credential e ON e.account_id = a.id WHERE e.email_normalized = $1",
    )
    .bind(email.to_lowercase())
    .fetch_one(&db)
    .await?;
    assert_eq!(row.get::<String, _>("status"), "pending");
    assert_eq!(row.get::<i64, _>("pw"), 0);
    gw.post(
        "/v1/signup",
        json!({ "email": email, "password": owner_pw }),
    )
    .await?;
    let own = w
        .mail
        .wait_nth(&email, "sign-up code", 2)
        .await?
        .code()
        .unwrap();
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": own, "password": owner_pw }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        sign_in(&gw, &email, stranger_pw).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(sign_in(&gw, &email, owner_pw).await?.status, StatusCode::OK);
    gw.stop().await
}

async fn a_stolen_token_cannot_move_the_account(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("owner");
    let tokens = gw.signed_in(&w.mail, &email, PW).await?;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let account = account_id(&w, &email).await?;
    // Sixteen minutes later the token is still valid, but the sign-in is not recent.
    gw.clock.advance(16 * 60);
    assert_eq!(gw.get_auth("/v1/me", &access).await?.status, StatusCode::OK);
    let attacker = unique_email("attacker");
    let r = gw
        .post_auth("/v1/me/email", json!({ "email": attacker }), &access)
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "reauthentication_required"),
        "{r:?}"
    );
    // Messages are issued at the gateway's (advanced) clock.
    let issued_at = json!({ "issuedAt": gw.clock.now() * 1000 });
    let wallet = gw.siwe_signed(None, issued_at.clone()).await?;
    let r = gw
        .post_auth("/v1/me/wallets", wallet.body(), &access)
        .await?;
    assert_eq!(r.code(), "reauthentication_required");
    let r = gw
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/me/wallets/{}", wallet.caip10(1)),
            None,
            Some(&access),
        )
        .await?;
    assert_eq!(r.code(), "reauthentication_required");
    // A wrong current password is refused and counted; nothing was sent or linked.
    let r = gw
        .post_auth(
            "/v1/me/email",
            json!({ "email": attacker, "current_password": "a guess at it" }),
            &access,
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert!(w.mail.to(&attacker).is_empty(), "no code to the attacker");
    let codes = "SELECT COUNT(*) FROM verification_code WHERE account_id = $1";
    assert_eq!(count(&w, codes, &account).await?, 0);
    let wallets = "SELECT COUNT(*) FROM wallet_credential WHERE account_id = $1";
    assert_eq!(count(&w, wallets, &account).await?, 0);
    // The owner, with the current password: the change goes ahead.
    let mine = unique_email("newaddr");
    let r = gw
        .post_auth(
            "/v1/me/email",
            json!({ "email": mine, "current_password": PW }),
            &access,
        )
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    // A fresh sign-in is recent enough on its own.
    let wallet = gw.siwe_signed(None, issued_at).await?;
    let fresh = sign_in(&gw, &email, PW).await?;
    let r = gw
        .post_auth("/v1/me/wallets", wallet.body(), &fresh.str("access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    gw.stop().await
}

/// The undo link of the "your email was changed" notice, as mailed (quoted-printable or not).
fn undo_token(mail: &gatehouse_tests::Received) -> Option<String> {
    let text = mail.data.replace("=\r\n", "").replace("=3D", "=");
    let at = text.find("/email-change/undo?token=")?;
    let rest = &text[at + "/email-change/undo?token=".len()..];
    Some(
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

async fn an_email_change_can_be_undone_from_the_old_address(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("victim");
    let tokens = gw.signed_in(&w.mail, &email, PW).await?;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let account = account_id(&w, &email).await?;
    // Someone with a fresh session moves the account to their address, recovers it there
    // and sets a password of their own.
    let attacker = unique_email("taker");
    let r = gw
        .post_auth("/v1/me/email", json!({ "email": attacker }), &access)
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = w.mail.wait_code(&attacker, "confirm this address").await?;
    let r = gw
        .post_auth("/v1/me/email/confirm", json!({ "code": code }), &access)
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let notice = w.mail.wait(&email, "email address of your").await?;
    let token = undo_token(&notice).expect("an undo link in the notice");
    assert!(token.len() >= 40, "{token}");
    let taken_pw = "the taker's new passphrase";
    gw.post("/v1/recovery", json!({ "email": attacker }))
        .await?;
    let rcode = w.mail.wait_code(&attacker, "recovery code").await?;
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": attacker, "code": rcode, "new_password": taken_pw }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    let taker_access = r.str("access_token");

    // The owner follows the link: the page asks before changing anything (a mail scanner
    // following it does nothing), the API undoes it once.
    let page = gw
        .http
        .get(format!("{}/email-change/undo?token={token}", gw.api))
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await?.contains("undo-form"));
    assert_eq!(
        account_id(&w, &attacker).await?,
        account,
        "nothing changed yet"
    );
    let r = gw
        .post("/v1/email-change/undo", json!({ "token": token }))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let db = w.db().await?;
    let row = sqlx::query("SELECT email, verified_at FROM email_credential WHERE account_id = $1")
        .bind(&account)
        .fetch_one(&db)
        .await?;
    assert_eq!(row.get::<String, _>("email"), email);
    assert!(row.get::<Option<i64>, _>("verified_at").is_some());
    let live = "SELECT COUNT(*) FROM session WHERE account_id = $1 AND revoked_at IS NULL";
    assert_eq!(count(&w, live, &account).await?, 0, "every session ended");
    assert_eq!(
        gw.get_auth("/v1/me", &taker_access).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&gw, &attacker, taken_pw).await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&gw, &email, taken_pw).await?.status,
        StatusCode::UNAUTHORIZED
    );
    // Single use.
    let again = gw
        .post("/v1/email-change/undo", json!({ "token": token }))
        .await?;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::BAD_REQUEST, "code_invalid")
    );
    // The recovery code went to the restored address: the owner chooses a new password.
    let code = w.mail.wait_code(&email, "recovery code").await?;
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": "owner's fresh passphrase" }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let kinds =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'email_change_undone'";
    assert_eq!(count(&w, kinds, &account).await?, 1);
    gw.stop().await
}

async fn recovery_lists_recent_changes(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("listed");
    let tokens = gw.signed_in(&w.mail, &email, PW).await?;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    // A wallet linked with a fresh (stolen) session...
    let wallet = gw.siwe_signed(None, json!({})).await?;
    let r = gw
        .post_auth("/v1/me/wallets", wallet.body(), &access)
        .await?;
    assert_eq!(r.status, StatusCode::CREATED);
    // ...is named in the notice of the owner's recovery, and the recovery session may
    // remove it at once.
    let r = gw.recovered(&w.mail, &email).await?;
    assert_eq!(r.status, StatusCode::OK);
    let notice = w.mail.wait(&email, "was recovered").await?;
    let text = notice.data.replace("=\r\n", "");
    assert!(text.contains(&wallet.caip10(1)), "{text}");
    let r = gw
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/me/wallets/{}", wallet.caip10(1)),
            None,
            Some(&r.str("access_token")),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let account = account_id(&w, &email).await?;
    let wallets = "SELECT COUNT(*) FROM wallet_credential WHERE account_id = $1";
    assert_eq!(count(&w, wallets, &account).await?, 0);
    gw.stop().await
}

async fn codes_go_to_the_stored_address(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("kate");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let (local, domain) = email.split_once('@').unwrap();
    let kelvin = format!("{}@{domain}", local.replacen('k', "\u{212a}", 1));
    for (i, spelling) in [kelvin, email.to_uppercase(), format!(" {email}\u{a0}")]
        .iter()
        .enumerate()
    {
        let r = gw
            .post("/v1/recovery", json!({ "email": spelling }))
            .await?;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        w.mail.wait_nth(&email, "recovery code", i + 1).await?;
    }
    // Every code went to the stored address, none to a spelling of it.
    let recipients: Vec<String> =
        sqlx::query("SELECT DISTINCT recipient FROM mail_outbox WHERE kind = 'recovery_code'")
            .fetch_all(&db)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(recipients, std::slice::from_ref(&email));
    // The spellings share one mail budget (five per quarter hour, the sign-up's mail
    // included), so a sixth is refused.
    let r = gw
        .post("/v1/recovery", json!({ "email": format!("{email}\t") }))
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = gw
        .post("/v1/recovery", json!({ "email": format!("{email}\n") }))
        .await?;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    gw.stop().await
}

async fn recovery_requests_do_the_same_work_for_every_address(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let known = unique_email("known");
    gw.signup_confirmed(&w.mail, &known, PW).await?;
    let unknown = unique_email("unknown");
    let a = gw.post("/v1/recovery", json!({ "email": known })).await?;
    let b = gw.post("/v1/recovery", json!({ "email": unknown })).await?;
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    // On the request path both wrote the same rows: one queued request, one audit row that
    // names no account. The look-up happens later, in the worker.
    for address in [&known, &unknown] {
        let jobs: i64 = sqlx::query(
            "SELECT COUNT(*) FROM mail_outbox WHERE kind = 'recovery_request' AND recipient = $1",
        )
        .bind(address.to_lowercase())
        .fetch_one(&db)
        .await?
        .get(0);
        assert_eq!(jobs, 1, "{address}");
    }
    let queued: i64 = sqlx::query(
        "SELECT COUNT(*) FROM audit_event WHERE kind = 'recovery_queued' AND account_id IS NULL",
    )
    .fetch_one(&db)
    .await?
    .get(0);
    assert_eq!(queued, 2);
    w.mail.wait_code(&known, "recovery code").await?;
    assert!(w.mail.to(&unknown).is_empty());
    gw.stop().await
}

/// The gateway's own access-token check honours `nbf` (RFC 7519 §4.1.5) and refuses a
/// `crit` header it does not understand (RFC 7515 §4.1.11), as the verify crate does.
async fn access_tokens_honour_nbf_and_crit(w: Arc<World>) -> TestResult {
    use base64::Engine;
    let gw = w.start().await?;
    let email = unique_email("nbf");
    let tokens = gw.signed_in(&w.mail, &email, PW).await?;
    let access = tokens["access_token"].as_str().unwrap();
    let payload = access.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    let now = gw.clock.now();
    let pool = gw.state.pools.get("main", now).await?.unwrap();
    let keys = gw.state.keys.keys(pool.id, now).await?;
    let es256 = gateway::keys::Alg::Es256;
    let sign = |header: serde_json::Value, claims: &serde_json::Value| {
        keys.sign_with_header(es256, header, claims).unwrap()
    };
    // The same claims re-signed are accepted: what follows fails for its one change only.
    let same = sign(json!({ "typ": "at+jwt" }), &claims);
    assert_eq!(gw.get_auth("/v1/me", &same).await?.status, StatusCode::OK);
    let mut later = claims.clone();
    later["nbf"] = json!(now + 3600);
    let early = sign(json!({ "typ": "at+jwt" }), &later);
    let r = gw.get_auth("/v1/me", &early).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    later["nbf"] = json!(now - 10);
    let due = sign(json!({ "typ": "at+jwt" }), &later);
    assert_eq!(gw.get_auth("/v1/me", &due).await?.status, StatusCode::OK);
    later["nbf"] = json!("soon");
    let malformed = sign(json!({ "typ": "at+jwt" }), &later);
    assert_eq!(
        gw.get_auth("/v1/me", &malformed).await?.status,
        StatusCode::UNAUTHORIZED
    );
    let critical = sign(json!({ "typ": "at+jwt", "crit": ["exp"] }), &claims);
    assert_eq!(
        gw.get_auth("/v1/me", &critical).await?.status,
        StatusCode::UNAUTHORIZED
    );
    gw.stop().await
}

/// An address stored under the old rule (lower-cased only) is found under the current one
/// after a restart: the start-up brings it to the normal form, once.
async fn stored_addresses_take_the_current_form(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    gw.stop().await?;
    let db = w.db().await?;
    let pool: String = sqlx::query("SELECT id FROM pool WHERE name = 'main'")
        .fetch_one(&db)
        .await?
        .get(0);
    let account = uuid::Uuid::new_v4().to_string();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // As the old rule stored it: trimmed and lower-cased, the IDN domain in Unicode.
    let old_form = format!("ana.{tag}@b\u{fc}cher.example");
    sqlx::query(
        "INSERT INTO account (id, pool_id, status, attributes, created_at, updated_at) \
         VALUES ($1, $2, 'active', '{}', 1, 1)",
    )
    .bind(&account)
    .bind(&pool)
    .execute(&db)
    .await?;
    sqlx::query(
        "INSERT INTO email_credential (account_id, pool_id, email, email_normalized, verified_at, created_at) \
         VALUES ($1, $2, $3, $3, 1, 1)",
    )
    .bind(&account)
    .bind(&pool)
    .bind(&old_form)
    .execute(&db)
    .await?;
    sqlx::query("DELETE FROM maintenance").execute(&db).await?;
    let gw = w.start().await?;
    let current = format!("ana.{tag}@xn--bcher-kva.example");
    let row =
        sqlx::query("SELECT email, email_normalized FROM email_credential WHERE account_id = $1")
            .bind(&account)
            .fetch_one(&db)
            .await?;
    assert_eq!(row.get::<String, _>("email"), current);
    assert_eq!(row.get::<String, _>("email_normalized"), current);
    // Found under any spelling: a sign-up with it is the existing account's notice.
    gw.post(
        "/v1/signup",
        json!({ "email": format!("ANA.{tag}@B\u{dc}CHER.example"), "password": PW }),
    )
    .await?;
    w.mail.wait(&current, "tried to sign up").await?;
    let accounts: i64 =
        sqlx::query("SELECT COUNT(*) FROM email_credential WHERE email_normalized = $1")
            .bind(&current)
            .fetch_one(&db)
            .await?
            .get(0);
    assert_eq!(accounts, 1);
    gw.stop().await
}

/// Setting a password where there was none (a wallet-first account, say) without the
/// current one needs a recent sign-in too: a stolen token must not set one and keep the
/// account.
async fn a_password_needs_a_recent_sign_in_too(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let signed = gw.siwe_sign_in(None, json!({})).await?;
    assert_eq!(signed.status, StatusCode::OK, "{signed:?}");
    let access = signed.str("access_token");
    gw.clock.advance(16 * 60);
    let r = gw
        .post_auth(
            "/v1/me/password",
            json!({ "new_password": "a takeover passphrase" }),
            &access,
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "reauthentication_required"),
        "{r:?}"
    );
    let passwords: i64 = sqlx::query("SELECT COUNT(*) FROM password_credential")
        .fetch_one(&w.db().await?)
        .await?
        .get(0);
    assert_eq!(passwords, 0);
    gw.stop().await
}
