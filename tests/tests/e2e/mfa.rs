//! Second factors (DESIGN, Multi-factor authentication): an authenticator app enrolled and
//! answered with codes from otplib (never the gateway's own code), backup codes, emailed
//! codes, the challenge's single use, its five wrong answers and its pool, the account's
//! lockout, a `required` policy enrolling at sign-in, the last factor kept, and recovery
//! that does not skip the second factor unless the pool says so.

use gatehouse_tests::{Answer, Gateway, World, node_client, unique_email, verified_claims};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;
use crate::admin::{ADMIN, admin, with_admin};

crate::tests!(
    an_app_is_enrolled_and_answers_the_challenge,
    wrong_answers_kill_the_challenge_and_lock_the_account,
    a_required_policy_enrols_at_sign_in_and_keeps_the_last_factor,
    recovery_answers_the_second_factor_unless_the_pool_skips_it,
    the_hosted_pages_challenge_and_enrol,
);

/// The claims of `token` as jose (an independent JOSE library) verifies them against the
/// pool's JWKS: issuer, audience, and `typ` when given.
pub(crate) async fn jose_claims(
    gw: &Gateway,
    token: &str,
    audience: &str,
    typ: Option<&str>,
) -> anyhow::Result<Value> {
    let claims: Value = node_client(
        "jwt-verify.mjs",
        &json!({
            "jwks_uri": format!("{}/.well-known/jwks.json", gw.api),
            "issuer": gw.issuer, "audience": audience, "token": token, "typ": typ,
        }),
    )
    .await?;
    anyhow::ensure!(claims.get("error").is_none(), "jose: {claims}");
    Ok(claims)
}

pub(crate) const PW: &str = "correct horse battery";

/// Sets the `main` pool's MFA policy.
pub(crate) async fn set_policy(gw: &Gateway, mfa: Value) -> anyhow::Result<()> {
    set_policy_of(gw, "main", mfa).await
}

async fn set_policy_of(gw: &Gateway, pool: &str, mfa: Value) -> anyhow::Result<()> {
    let r = admin(
        gw,
        Method::PATCH,
        &format!("/pools/{pool}"),
        Some(json!({ "mfa": mfa })),
        ADMIN,
    )
    .await?;
    anyhow::ensure!(r.status == StatusCode::OK, "policy: {r:?}");
    Ok(())
}

#[derive(Deserialize)]
pub(crate) struct App {
    secret: String,
    label: String,
    pub(crate) codes: Vec<String>,
}

/// otplib reads the URI as an authenticator app would, and computes the codes at `at`.
pub(crate) async fn app_codes(uri: &str, at: &[i64]) -> anyhow::Result<App> {
    node_client("totp.mjs", &json!({ "uri": uri, "at": at })).await
}

/// Waits until the gateway's clock is at least 3 s away from the end of a 30 s step, so a
/// code computed for "now" is still for "now" when it arrives.
pub(crate) async fn mid_step(gw: &Gateway) {
    let left = 30 - gw.clock.now().rem_euclid(30);
    if left <= 3 {
        tokio::time::sleep(std::time::Duration::from_secs(left as u64 + 1)).await;
    }
}

pub(crate) async fn password_sign_in(gw: &Gateway, email: &str) -> anyhow::Result<Answer> {
    gw.post(
        "/v1/sessions/password",
        json!({ "email": email, "password": PW }),
    )
    .await
}

pub(crate) async fn answer(
    gw: &Gateway,
    session: &str,
    factor: &str,
    code: &str,
) -> anyhow::Result<Answer> {
    gw.post(
        "/v1/sessions/mfa",
        json!({ "session": session, "factor": factor, "code": code }),
    )
    .await
}

async fn count(w: &World, sql: &str, sub: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql)
        .bind(sub.to_string())
        .fetch_one(&w.db().await?)
        .await?
        .get(0))
}

fn sub_of(set: &Value) -> String {
    let token = set["access_token"].as_str().unwrap_or_default();
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes).unwrap_or_default()["sub"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Enrols an app through `/v1/me/mfa/totp`: its URI, the step its first code used and the
/// backup codes.
pub(crate) async fn enrol_app(
    gw: &Gateway,
    token: &str,
) -> anyhow::Result<(String, i64, Vec<String>)> {
    let r = gw.post_auth("/v1/me/mfa/totp", json!({}), token).await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "start: {r:?}");
    let uri = r.str("otpauth_uri");
    mid_step(gw).await;
    let now = gw.clock.now();
    let app = app_codes(&uri, &[now]).await?;
    anyhow::ensure!(
        app.secret == r.str("secret"),
        "the URI's secret is the secret"
    );
    let r = gw
        .post_auth(
            "/v1/me/mfa/totp/confirm",
            json!({ "code": app.codes[0] }),
            token,
        )
        .await?;
    anyhow::ensure!(r.status == StatusCode::OK, "confirm: {r:?}");
    let codes: Vec<String> = r.body["backup_codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Ok((uri, now.div_euclid(30), codes))
}

async fn an_app_is_enrolled_and_answers_the_challenge(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let email = unique_email("app");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let token = set["access_token"].as_str().unwrap_or_default().to_string();
    let sub = sub_of(&set);

    // Off (the default): nothing can be enrolled.
    let r = gw.post_auth("/v1/me/mfa/totp", json!({}), &token).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "factor_not_allowed")
    );
    set_policy(&gw, json!({ "mode": "optional" })).await?;

    // A wrong first code does not confirm; the app's does, and yields 10 backup codes.
    let r = gw.post_auth("/v1/me/mfa/totp", json!({}), &token).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let app = app_codes(&r.str("otpauth_uri"), &[0]).await?;
    assert_eq!(app.label, format!("Gatehouse:{email}"));
    let r = gw
        .post_auth(
            "/v1/me/mfa/totp/confirm",
            json!({ "code": "000000" }),
            &token,
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "mfa_code_invalid"),
        "{r:?}"
    );
    let (uri, used_step, backup) = enrol_app(&gw, &token).await?;
    assert_eq!(backup.len(), 10);
    assert_eq!(
        backup
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        10
    );
    let confirmed = "SELECT COUNT(*) FROM totp_credential WHERE account_id = $1 \
        AND confirmed_at IS NOT NULL";
    assert_eq!(count(&w, confirmed, &sub).await?, 1);
    let stored = "SELECT COUNT(*) FROM mfa_backup_code WHERE account_id = $1 AND used_at IS NULL";
    assert_eq!(count(&w, stored, &sub).await?, 10);
    // Neither the secret nor a backup code is stored as it is.
    let db = w.db().await?;
    let sealed: Vec<u8> =
        sqlx::query("SELECT secret_sealed FROM totp_credential WHERE account_id = $1")
            .bind(&sub)
            .fetch_one(&db)
            .await?
            .get(0);
    let secret = app_codes(&uri, &[0]).await?.secret;
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret));
    let hashes: Vec<String> =
        sqlx::query("SELECT code_hash FROM mfa_backup_code WHERE account_id = $1")
            .bind(&sub)
            .fetch_all(&db)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert!(
        hashes
            .iter()
            .all(|h| !backup.iter().any(|c| h.contains(c.as_str())))
    );
    // The export tells the factors, never the secret or a code.
    let export = gw.get_auth("/v1/me/export", &token).await?;
    assert_eq!(export.body["mfa"]["backup_codes_left"], 10, "{export:?}");
    assert!(export.body["mfa"]["totp"]["created_at"].as_i64() > Some(0));
    let text = export.body.to_string();
    assert!(!text.contains(&secret) && backup.iter().all(|c| !text.contains(c.as_str())));
    let enrolled =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'mfa_enrolled'";
    assert_eq!(count(&w, enrolled, &sub).await?, 1);
    w.mail.wait(&email, "sign-in security changed").await?;

    // The password alone now opens a challenge, never tokens.
    let r = password_sign_in(&gw, &email).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.str("challenge"), r.body["factors"].clone()),
        ("mfa".to_string(), json!(["totp", "backup_code"]))
    );
    assert!(r.body.get("access_token").is_none() && r.body["expires_in"] == 300);
    let session = r.str("session");
    // The step the enrolment used is spent: the same code is refused (a replay).
    let times: Vec<i64> = (0..=4).map(|k| (used_step + k) * 30 + 1).collect();
    let codes = app_codes(&uri, &times).await?.codes;
    let r = answer(&gw, &session, "totp", &codes[0]).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "mfa_code_invalid"),
        "{r:?}"
    );
    // A code of the next step (one step of skew at most) answers it.
    let now_step = gw.clock.now().div_euclid(30);
    let next = (now_step + 1 - used_step) as usize;
    let r = answer(&gw, &session, "totp", &codes[next]).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let claims = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["sub"], sub.as_str());
    let by_jose = jose_claims(&gw, &r.str("access_token"), &gw.issuer, Some("at+jwt")).await?;
    assert_eq!(by_jose["amr"], json!(["pwd", "otp", "mfa"]));
    let id = jose_claims(&gw, &r.str("id_token"), "direct", None).await?;
    assert_eq!(
        (id["amr"].clone(), id["acr"].clone()),
        (json!(["pwd", "otp", "mfa"]), json!("mfa"))
    );
    // The handle answered once is dead; the same step again is refused on a new challenge.
    let again = answer(&gw, &session, "totp", &codes[next]).await?;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::BAD_REQUEST, "mfa_session_invalid")
    );
    let second = password_sign_in(&gw, &email).await?.str("session");
    let r = answer(&gw, &second, "totp", &codes[next]).await?;
    assert_eq!(r.code(), "mfa_code_invalid", "{r:?}");

    // A backup code answers once, in any spelling.
    let spelled = format!(" {} ", backup[0].to_uppercase().replace('-', ""));
    let r = answer(&gw, &second, "backup_code", &spelled).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let claims = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let third = password_sign_in(&gw, &email).await?.str("session");
    let r = answer(&gw, &third, "backup_code", &backup[0]).await?;
    assert_eq!(r.code(), "mfa_code_invalid", "{r:?}");
    assert_eq!(count(&w, stored, &sub).await?, 9);

    // Skew: two steps later on the gateway's clock, a code one step old passes, two do not.
    gw.clock.advance(120);
    mid_step(&gw).await;
    let now = gw.clock.now();
    let skewed = app_codes(&uri, &[now - 60, now + 60, now - 30])
        .await?
        .codes;
    for (code, status) in [
        (&skewed[0], StatusCode::UNAUTHORIZED),
        (&skewed[1], StatusCode::UNAUTHORIZED),
        (&skewed[2], StatusCode::OK),
    ] {
        let r = answer(&gw, &third, "totp", code).await?;
        assert_eq!(r.status, status, "{r:?}");
    }
    let view = gw.get_auth("/v1/me/mfa", &token).await?;
    assert_eq!(
        (
            view.body["mode"].clone(),
            view.body["backup_codes_left"].clone()
        ),
        (json!("optional"), json!(9))
    );
    assert!(view.body["totp"]["last_used_at"].as_i64() > Some(0));
    let failures = "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 \
        AND kind = 'sign_in_failed'";
    assert_eq!(count(&w, failures, &sub).await?, 5);

    // An operator clears the factors (the backup codes go too), and the owner is told.
    let r = admin(
        &gw,
        Method::DELETE,
        &format!("/pools/main/users/{sub}/mfa"),
        None,
        ADMIN,
    )
    .await?;
    assert_eq!(
        (r.status, r.body["removed"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(count(&w, stored, &sub).await?, 0);
    w.mail
        .wait_nth(&email, "sign-in security changed", 2)
        .await?;
    let r = password_sign_in(&gw, &email).await?;
    assert!(r.body["access_token"].is_string(), "{r:?}");
    gw.stop().await?;
    Ok(())
}

async fn wrong_answers_kill_the_challenge_and_lock_the_account(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    set_policy(&gw, json!({ "mode": "optional" })).await?;
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "sign_in_max_failures": 7 })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let email = unique_email("locked");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let token = set["access_token"].as_str().unwrap_or_default().to_string();
    let (uri, _, backup) = enrol_app(&gw, &token).await?;

    // Twelve wrong answers at once: at most five are checked, the rest find it dead.
    let session = password_sign_in(&gw, &email).await?.str("session");
    let tries = (0..12).map(|i| {
        let (gw, session) = (&gw, &session);
        async move { answer(gw, session, "backup_code", &format!("wrong-{i:05}")).await }
    });
    let answers = futures_util::future::join_all(tries).await;
    let mut by_code = std::collections::BTreeMap::new();
    for a in answers {
        *by_code.entry(a?.code().to_string()).or_insert(0) += 1;
    }
    assert_eq!(
        by_code,
        [
            ("mfa_code_invalid".to_string(), 5),
            ("mfa_session_invalid".to_string(), 7)
        ]
        .into_iter()
        .collect()
    );
    // Dead for the right answer too.
    let r = answer(&gw, &session, "backup_code", &backup[0]).await?;
    assert_eq!(r.code(), "mfa_session_invalid");

    // Another pool's gateway path does not know the handle.
    let r = admin(
        &gw,
        Method::POST,
        "/pools",
        Some(json!({ "name": "other" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    set_policy_of(&gw, "other", json!({ "mode": "optional" })).await?;
    let live = password_sign_in(&gw, &email).await?.str("session");
    let r = gw
        .call(
            Method::POST,
            "//pools/other/v1/sessions/mfa",
            Some(json!({ "session": live, "factor": "backup_code", "code": backup[1] })),
            None,
        )
        .await?;
    assert_eq!(r.code(), "mfa_session_invalid", "{r:?}");

    // The account's lockout: five wrong answers above, one more here, then the seventh
    // failure is the last the pool allows; the eighth answer is refused even when right.
    let r = answer(&gw, &live, "backup_code", "wrong-99999").await?;
    assert_eq!(r.code(), "mfa_code_invalid");
    let r = answer(&gw, &live, "backup_code", "wrong-99998").await?;
    assert_eq!(r.code(), "mfa_code_invalid");
    let r = answer(&gw, &live, "backup_code", &backup[1]).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{r:?}"
    );
    assert!(r.header("retry-after").parse::<u64>().is_ok_and(|s| s > 0));
    mid_step(&gw).await;
    let now = gw.clock.now();
    let code = app_codes(&uri, &[now]).await?.codes.remove(0);
    let r = answer(&gw, &live, "totp", &code).await?;
    assert_eq!(r.code(), "rate_limited");

    // An expired challenge: five minutes on the gateway's clock.
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "sign_in_max_failures": 100 })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK);
    let other_email = unique_email("expired");
    let set = gw.signed_in(&w.mail, &other_email, PW).await?;
    let token = set["access_token"].as_str().unwrap_or_default().to_string();
    let (_, _, codes) = enrol_app(&gw, &token).await?;
    let late = password_sign_in(&gw, &other_email).await?.str("session");
    gw.clock.advance(301);
    let r = answer(&gw, &late, "backup_code", &codes[0]).await?;
    assert_eq!(r.code(), "mfa_session_invalid", "{r:?}");
    gw.stop().await?;
    Ok(())
}

async fn a_required_policy_enrols_at_sign_in_and_keeps_the_last_factor(
    w: Arc<World>,
) -> TestResult {
    let gw = with_admin(&w).await?;
    let email = unique_email("required");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    set_policy(
        &gw,
        json!({ "mode": "required", "factors": ["totp", "email"] }),
    )
    .await?;

    // No factor yet: the sign-in enrols one before it gets tokens.
    let r = password_sign_in(&gw, &email).await?;
    assert_eq!(
        (r.str("challenge"), r.body["factors"].clone()),
        ("mfa_setup".to_string(), json!(["totp", "email"])),
        "{r:?}"
    );
    let session = r.str("session");
    let r = answer(&gw, &session, "backup_code", "x").await?;
    assert_eq!(r.code(), "factor_not_allowed", "{r:?}");
    let r = gw
        .post("/v1/sessions/mfa/totp", json!({ "session": session }))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let uri = r.str("otpauth_uri");
    mid_step(&gw).await;
    let code = app_codes(&uri, &[gw.clock.now()]).await?.codes.remove(0);
    let r = answer(&gw, &session, "totp", &code).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["backup_codes"].as_array().map(Vec::len), Some(10));
    let claims = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let token = r.str("access_token");
    let sub = claims["sub"].as_str().unwrap_or_default().to_string();

    // The last factor stays under `required`; a second one lets the first go.
    let r = gw
        .call(Method::DELETE, "/v1/me/mfa/totp", None, Some(&token))
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "last_factor"),
        "{r:?}"
    );
    let r = gw.post_auth("/v1/me/mfa/email", json!({}), &token).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let both = "SELECT (SELECT COUNT(*) FROM totp_credential WHERE account_id = $1) + \
        (SELECT COUNT(*) FROM mfa_email WHERE account_id = $1)";
    assert_eq!(count(&w, both, &sub).await?, 2);
    // Two removals at once: one wins, the other finds it was the last.
    let (a, b) = tokio::join!(
        gw.call(Method::DELETE, "/v1/me/mfa/totp", None, Some(&token)),
        gw.call(Method::DELETE, "/v1/me/mfa/email", None, Some(&token)),
    );
    let mut statuses = vec![a?.status, b?.status];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::NO_CONTENT, StatusCode::CONFLICT]);
    assert_eq!(count(&w, both, &sub).await?, 1);
    let removed = "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'mfa_removed'";
    assert_eq!(count(&w, removed, &sub).await?, 1);

    // Email codes as the factor (on again if the race above removed them): asked for,
    // mailed, answered once.
    let r = gw.post_auth("/v1/me/mfa/email", json!({}), &token).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let session = password_sign_in(&gw, &email).await?.str("session");
    let r = gw
        .post("/v1/sessions/mfa/email", json!({ "session": session }))
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let code = w.mail.wait_code(&email, "sign-in code").await?;
    let r = answer(
        &gw,
        &session,
        "email",
        if code == "000000" { "111111" } else { "000000" },
    )
    .await?;
    assert_eq!(r.code(), "mfa_code_invalid");
    let r = answer(&gw, &session, "email", &code).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let claims = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(claims["amr"], json!(["pwd", "email", "mfa"]));
    // The code answered once.
    let r = answer(&gw, &session, "email", &code).await?;
    assert_eq!(r.code(), "mfa_session_invalid");
    gw.stop().await?;
    Ok(())
}

async fn recovery_answers_the_second_factor_unless_the_pool_skips_it(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    set_policy(&gw, json!({ "mode": "required" })).await?;
    let email = unique_email("recover");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let session = password_sign_in(&gw, &email).await?.str("session");
    let r = gw
        .post("/v1/sessions/mfa/totp", json!({ "session": session }))
        .await?;
    let uri = r.str("otpauth_uri");
    mid_step(&gw).await;
    let code = app_codes(&uri, &[gw.clock.now()]).await?.codes.remove(0);
    let r = answer(&gw, &session, "totp", &code).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let backup: Vec<String> = serde_json::from_value(r.body["backup_codes"].clone())?;

    // The emailed code proves the email, not the second factor: a challenge, no tokens.
    let r = gw.recovered(&w.mail, &email).await?;
    assert_eq!(r.str("challenge"), "mfa", "{r:?}");
    assert!(r.body.get("access_token").is_none());
    let r = answer(&gw, &r.str("session"), "backup_code", &backup[0]).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let claims = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(claims["amr"], json!(["email", "otp", "mfa"]));

    // A pool that lets recovery skip it.
    set_policy(
        &gw,
        json!({ "mode": "required", "recovery_skips_mfa": true }),
    )
    .await?;
    gw.post("/v1/recovery", json!({ "email": email })).await?;
    let code = w
        .mail
        .wait_nth(&email, "recovery code", 2)
        .await?
        .code()
        .unwrap_or_default();
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let claims = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(claims["amr"], json!(["email"]));
    gw.stop().await?;
    Ok(())
}

#[derive(Deserialize)]
struct PageRun {
    challenge_title: String,
    wrong_error: String,
    backup_codes: usize,
    signed_in_title: String,
    second_title: String,
    second_signed_in: String,
}

/// The hosted pages in headless Chromium: a `required` pool sets up an app at sign-in (the
/// secret read off the page, the code from otplib), shows the backup codes once, and asks
/// for the app's code at the next sign-in.
async fn the_hosted_pages_challenge_and_enrol(w: Arc<World>) -> TestResult {
    let gw = w
        .start_with(|c| {
            c.admin_token = Some(accounts::secret::Secret::new(ADMIN));
            c.public_url = url::Url::parse(&format!("http://{}", c.listen)).expect("listen");
        })
        .await?;
    set_policy(&gw, json!({ "mode": "required", "factors": ["totp"] })).await?;
    let email = unique_email("pages");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    let run: PageRun = node_client(
        "mfa-page.mjs",
        &json!({ "issuer": gw.issuer, "email": email, "password": PW }),
    )
    .await?;
    assert_eq!(run.challenge_title, "Set up a second step");
    assert!(run.wrong_error.contains("wrong"), "{}", run.wrong_error);
    assert_eq!(run.backup_codes, 10);
    assert_eq!(run.signed_in_title, "Your account");
    assert_eq!(run.second_title, "Confirm it's you");
    assert_eq!(run.second_signed_in, "You are signed in");
    let db = w.db().await?;
    let amr: Vec<String> = sqlx::query(
        "SELECT s.amr FROM session s JOIN email_credential e ON e.account_id = s.account_id \
         WHERE e.email = $1 ORDER BY s.created_at",
    )
    .bind(&email)
    .fetch_all(&db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(amr.len(), 2, "{amr:?}");
    assert!(amr.iter().all(|a| a == r#"["pwd","otp","mfa"]"#), "{amr:?}");
    gw.stop().await?;
    Ok(())
}
