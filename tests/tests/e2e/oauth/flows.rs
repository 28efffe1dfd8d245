//! The flows that must work: openid-client and headless Chromium through the hosted
//! pages, sign-up and recovery on the pages, re-authentication and per-client settings.

use gatehouse_tests::{World, node_client, unique_email, verified_claims};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use super::*;
use crate::TestResult;

crate::tests!(
    openid_client_code_flow,
    chromium_signs_in_with_email_and_wallet,
    hosted_signup_and_recovery,
    reauthentication_and_client_settings,
);

async fn openid_client_code_flow(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "oidc").await?;
    for public in [false, true] {
        let app = web_app(&gw, json!({ "public": public })).await?;
        let out: Value = node_client(
            "oidc.mjs",
            &json!({
                "issuer": gw.api, "client_id": app["client_id"], "client_secret": app["client_secret"],
                "redirect_uri": CALLBACK, "post_logout_redirect_uri": AFTER_LOGOUT,
                "email": email, "password": password,
            }),
        )
        .await?;
        assert!(out.get("failed_at").is_none(), "public={public}: {out:#}");
        assert_eq!(out["issuer_ok"], true);
        assert_eq!(out["callback_iss"], gw.api.as_str());
        // openid-client checked the ID token's signature, iss, aud and nonce; these are its claims.
        let id = &out["id_claims"];
        assert_eq!(id["aud"], app["client_id"]);
        assert_eq!(id["email"], email.as_str());
        assert_eq!(id["email_verified"], true);
        assert_eq!(id["amr"], json!(["pwd"]));
        assert!(id["nonce"].as_str().is_some_and(|n| !n.is_empty()));
        assert_eq!(out["token_scope"], "openid email offline_access");
        assert_eq!(out["has_refresh"], true);
        assert_eq!(out["userinfo"]["email"], email.as_str());
        assert_eq!(out["userinfo"]["sub"], id["sub"]);
        assert_eq!(out["refreshed"], json!({ "access": true, "rotated": true }));
        // Replay: refused, and both access tokens of the first redemption are dead.
        assert_eq!(out["replay_error"]["error"], "invalid_grant");
        assert_eq!(out["after_replay"]["first_access"]["ok"], false, "{out:#}");
        assert_eq!(out["after_replay"]["refreshed_access"]["ok"], false);
        // The browser session made the second authorization a single sign-on.
        assert_eq!(out["sso"], true, "{out:#}");
        assert_eq!(out["revoked_refresh_error"]["error"], "invalid_grant");
        assert_eq!(out["logout"]["status"], 303);
        assert_eq!(
            out["logout"]["location"],
            format!("{AFTER_LOGOUT}?state=bye")
        );
        assert_eq!(out["prompt_none_error"], "login_required");
        // In the database: the replayed session was revoked as such, the client sessions
        // were bound to the client and scope, and everything left is ended.
        let client_id = s(&app, "client_id");
        let replayed = count(
            &w,
            &format!("SELECT COUNT(*) FROM session WHERE client_id = '{client_id}' AND revoked_reason = 'sessions_revoked' AND scope = 'openid email offline_access'"),
        )
        .await?;
        assert!(replayed >= 1);
        let live = count(
            &w,
            &format!("SELECT COUNT(*) FROM session WHERE client_id = '{client_id}' AND revoked_at IS NULL"),
        )
        .await?;
        assert_eq!(live, 0, "logout ended every session of the client");
        let authorized = count(
            &w,
            &format!("SELECT COUNT(*) FROM audit_event WHERE kind = 'authorized' AND detail LIKE '%{client_id}%'"),
        )
        .await?;
        assert_eq!(authorized, 2, "two redemptions opened sessions");
    }
    gw.stop().await?;
    Ok(())
}

async fn chromium_signs_in_with_email_and_wallet(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "chromium").await?;
    let app = web_app(&gw, json!({ "public": true })).await?;
    let client_id = s(&app, "client_id");
    let (key, _) = gatehouse_tests::chain::new_key();
    let screenshot = gatehouse_tests::workspace_root().join("target/test-artifacts/login-page.png");
    std::fs::create_dir_all(screenshot.parent().unwrap())?;
    let authorize_url = format!(
        "{}/oauth2/authorize?{}",
        gw.api,
        auth_query(&client_id, &[])
    );
    let out: Value = node_client(
        "browser.mjs",
        &json!({
            "issuer": gw.api, "authorize_url": authorize_url, "redirect_uri": CALLBACK,
            "email": email, "password": password, "wallet_key": key,
            "screenshot": screenshot.display().to_string(),
        }),
    )
    .await?;
    // The wrong password was told in words, not a code.
    let error = out["email"]["error_text"].as_str().unwrap_or_default();
    assert!(error.contains("don't match"), "{error}");
    assert!(!error.contains("invalid_credentials"));
    assert!(std::fs::metadata(&screenshot)?.len() > 1000, "a screenshot");
    for (how, amr) in [("email", "pwd"), ("wallet", "siwe")] {
        let callback = out[how]["callback"].as_str().unwrap_or_default();
        assert_eq!(param(callback, "state").as_deref(), Some("st-1"));
        assert_eq!(param(callback, "iss").as_deref(), Some(gw.api.as_str()));
        let code = param(callback, "code").unwrap_or_default();
        let (status, tokens) = token(
            &gw,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{how}: {tokens}");
        let id = verified_claims(&gw, &s(&tokens, "id_token"), &client_id).await?;
        assert_eq!(id["amr"], json!([amr]));
        assert_eq!(id["nonce"], "n-1");
        let access = verified_claims(&gw, &s(&tokens, "access_token"), &gw.api).await?;
        assert_eq!(access["client_id"], client_id.as_str());
        if how == "wallet" {
            let address = out["wallet"]["address"].as_str().unwrap_or_default();
            assert_eq!(access["wallet"], format!("eip155:1:{address}"));
        } else {
            assert_eq!(id["email"], email.as_str());
        }
    }
    let wallets = count(&w, "SELECT COUNT(*) FROM wallet_credential").await?;
    assert_eq!(wallets, 1, "the wallet's first sign-in made its account");
    gw.stop().await?;
    Ok(())
}

async fn hosted_signup_and_recovery(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let app = web_app(&gw, json!({})).await?;
    let id = s(&app, "client_id");
    let mut b = Browser::new(&gw);
    let first = b
        .get(&format!(
            "{}/oauth2/authorize?{}",
            gw.api,
            auth_query(&id, &[])
        ))
        .await?;
    let authz = param(&first.location, "authz").unwrap_or_default();
    // Sign up from the login page's link, keeping the authorization.
    let page = b.get(&format!("{}/signup?authz={authz}", gw.api)).await?;
    assert_eq!(page.status, StatusCode::OK);
    let email = unique_email("pages");
    let weak = submit(
        &mut b,
        &page,
        "signup-form",
        &[("email", &email), ("password", "password")],
    )
    .await?;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(
        weak.body.contains("Choose a longer password"),
        "{}",
        weak.body
    );
    let password = "a long and unusual passphrase";
    let check = submit(
        &mut b,
        &page,
        "signup-form",
        &[("email", &email), ("password", password)],
    )
    .await?;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert!(check.body.contains("confirm-form"));
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    let wrong = submit(
        &mut b,
        &check,
        "confirm-form",
        &[("code", "000000"), ("password", password)],
    )
    .await?;
    assert!(wrong.body.contains("That code is wrong"), "{}", wrong.body);
    // The code confirms the sign-up made with the password given beside it.
    let other = submit(
        &mut b,
        &check,
        "confirm-form",
        &[("code", &code), ("password", "not the chosen one")],
    )
    .await?;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED, "{}", other.body);
    let login = submit(
        &mut b,
        &check,
        "confirm-form",
        &[("code", &code), ("password", password)],
    )
    .await?;
    assert!(
        login.body.contains("Your email is confirmed"),
        "{}",
        login.body
    );
    // The login page that follows still carries the authorization: signing in ends it.
    let done = submit(
        &mut b,
        &login,
        "login-form",
        &[("email", &email), ("password", password)],
    )
    .await?;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(done.location.starts_with(CALLBACK));
    let (st, set) = redeem(
        &gw,
        &app,
        &param(&done.location, "code").unwrap_or_default(),
        VERIFIER,
    )
    .await?;
    assert_eq!(st, StatusCode::OK);
    let access = s(&set, "access_token");

    // Recovery in a fresh browser: the code and a new password sign the person in, end
    // every other session (the app's too) and finish a new authorization.
    let mut b = Browser::new(&gw);
    let first = b
        .get(&format!(
            "{}/oauth2/authorize?{}",
            gw.api,
            auth_query(&id, &[("state", "st-2")])
        ))
        .await?;
    let authz = param(&first.location, "authz").unwrap_or_default();
    let page = b.get(&format!("{}/recover?authz={authz}", gw.api)).await?;
    let unknown = submit(
        &mut b,
        &page,
        "recover-form",
        &[("email", &unique_email("nobody"))],
    )
    .await?;
    let reset = submit(&mut b, &page, "recover-form", &[("email", &email)]).await?;
    assert_eq!(
        unknown.status, reset.status,
        "the same answer for an unknown address"
    );
    assert!(reset.body.contains("reset-form"));
    let code = w.mail.wait_code(&email, "recovery code").await?;
    let new_password = "another long and unusual passphrase";
    let done = submit(
        &mut b,
        &reset,
        "reset-form",
        &[("code", &code), ("password", new_password)],
    )
    .await?;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(param(&done.location, "state").as_deref(), Some("st-2"));
    let (st, set) = redeem(
        &gw,
        &app,
        &param(&done.location, "code").unwrap_or_default(),
        VERIFIER,
    )
    .await?;
    assert_eq!(st, StatusCode::OK);
    let id_claims = verified_claims(&gw, &s(&set, "id_token"), &id).await?;
    assert_eq!(id_claims["amr"], json!(["email"]));
    let r = gw.get_auth("/oauth2/userinfo", &access).await?;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "recovery ended the app's older session"
    );
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": new_password }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    gw.stop().await?;
    Ok(())
}

async fn reauthentication_and_client_settings(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "reauth").await?;
    let app = web_app(
        &gw,
        json!({ "id_token_signed_response_alg": "RS256", "access_token_ttl": 600, "grant_types": ["authorization_code"] }),
    )
    .await?;
    let id = s(&app, "client_id");
    let mut b = Browser::new(&gw);
    let c = code(&mut b, &auth_query(&id, &[]), &email, &password).await?;
    let (st, set) = redeem(&gw, &app, &c, VERIFIER).await?;
    assert_eq!(st, StatusCode::OK, "{set}");
    // The client's settings: RS256 ID token, 10-minute access token, no refresh token.
    let header = jsonwebtoken::decode_header(s(&set, "id_token"))?;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(set["expires_in"], 600);
    assert!(set.get("refresh_token").is_none());
    let first = verified_claims(&gw, &s(&set, "id_token"), &id).await?;
    // The browser session answers at once; prompt=login and an exceeded max_age ask again.
    let r = b
        .get(&format!(
            "{}/oauth2/authorize?{}",
            gw.api,
            auth_query(&id, &[])
        ))
        .await?;
    assert!(r.location.starts_with(CALLBACK));
    gw.clock.advance(120);
    for extra in [vec![("prompt", "login")], vec![("max_age", "60")]] {
        let r = b
            .get(&format!(
                "{}/oauth2/authorize?{}",
                gw.api,
                auth_query(&id, &extra)
            ))
            .await?;
        assert!(
            r.location.contains("/login?authz="),
            "{extra:?}: {}",
            r.location
        );
    }
    let r = b
        .get(&format!(
            "{}/oauth2/authorize?{}",
            gw.api,
            auth_query(&id, &[("max_age", "600")])
        ))
        .await?;
    assert!(
        r.location.starts_with(CALLBACK),
        "a max_age the session meets"
    );
    // Signing in again (prompt=login) gives a later auth_time.
    let c = code(
        &mut b,
        &auth_query(&id, &[("prompt", "login")]),
        &email,
        &password,
    )
    .await?;
    let (_, set) = redeem(&gw, &app, &c, VERIFIER).await?;
    let again = verified_claims(&gw, &s(&set, "id_token"), &id).await?;
    assert!(again["auth_time"].as_i64() > first["auth_time"].as_i64());
    // The new browser session took over the first app session, so one logout ends all.
    let live = format!(
        "SELECT COUNT(*) FROM session WHERE revoked_at IS NULL AND account_id = '{}'",
        again["sub"].as_str().unwrap_or_default()
    );
    assert_eq!(
        count(&w, &live).await?,
        3,
        "the new browser session and two app sessions"
    );
    let replaced = "SELECT COUNT(*) FROM session WHERE revoked_reason = 'replaced'";
    assert_eq!(count(&w, replaced).await?, 1);
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &s(&set, "id_token"))
        .finish();
    let r = b.get(&format!("{}/oauth2/logout?{q}", gw.api)).await?;
    assert_eq!(r.status, StatusCode::OK, "signed out, no redirect asked");
    assert_eq!(count(&w, &live).await?, 0);
    // The pool's look: its colours in the generated stylesheet, its logo allowed by the CSP.
    let db = w.db().await?;
    let config: String = sqlx::query("SELECT config FROM pool WHERE name = 'main'")
        .fetch_one(&db)
        .await?
        .get(0);
    let mut config: Value = serde_json::from_str(&config)?;
    config["display_name"] = json!("Acme <Inc>");
    config["branding"] = json!({
        "logo_url": "https://cdn.acme.example/logo.svg", "primary_color": "#0a7d4f",
        "background_color": "#fff",
    });
    sqlx::query("UPDATE pool SET config = $1 WHERE name = 'main'")
        .bind(config.to_string())
        .execute(&db)
        .await?;
    gw.stop().await?;
    let gw = gateway(&w).await?;
    let res = gw.http.get(format!("{}/login", gw.api)).send().await?;
    let csp = res.headers()["content-security-policy"]
        .to_str()?
        .to_string();
    assert!(
        csp.contains("img-src 'self' https://cdn.acme.example;"),
        "{csp}"
    );
    let html = res.text().await?;
    // Escaped (the template engine writes numeric entities), never raw markup.
    assert!(html.contains("Acme &#60;Inc&#62;") && !html.contains("Acme <Inc>"));
    assert!(html.contains(r#"src="https://cdn.acme.example/logo.svg""#));
    let css = gw
        .http
        .get(format!("{}/assets/brand.css", gw.api))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(css.trim(), ":root { --brand: #0a7d4f; --page: #fff; }");
    gw.stop().await?;
    Ok(())
}
