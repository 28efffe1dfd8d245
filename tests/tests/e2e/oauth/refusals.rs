//! The refusals the flow owes: unregistered redirect URIs, PKCE missing, `plain` or
//! downgraded, wrong verifiers and secrets, code replay, other clients' refresh tokens,
//! scope escalation, forged CSRF tokens and open redirects through logout.

use gatehouse_tests::{World, verified_claims};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

use super::*;
use crate::TestResult;

crate::tests!(
    authorization_requests_refused,
    token_requests_refused,
    hosted_pages_refuse_forged_forms,
    logout_never_redirects_elsewhere,
    https_cookies_are_host_prefixed_and_secure,
);

async fn authorization_requests_refused(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let public = client(
        &gw,
        json!({ "name": "SPA", "public": true, "redirect_uris": [CALLBACK] }),
    )
    .await?;
    let id = s(&public, "client_id");
    let mut b = Browser::new(&gw);
    // Never redirected: an unknown client, or a redirect URI that isn't registered exactly.
    for query in [
        auth_query("no-such-client", &[]),
        auth_query(&id, &[("redirect_uri", "http://127.0.0.1:9/callback/")]),
        auth_query(&id, &[("redirect_uri", "http://127.0.0.1:9/callback?x=1")]),
        auth_query(&id, &[("redirect_uri", "https://evil.example/callback")]),
    ] {
        let r = b
            .get(&format!("{}/oauth2/authorize?{query}", gw.api))
            .await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(r.location, "", "{query}");
        assert!(r.body.contains("not registered"), "{}", r.body);
    }
    // Redirected back with an error: no PKCE from a public client, `plain`, a verifier
    // shape as challenge method; a scope the client may not have; prompt=none unsigned.
    for (extra, error) in [
        (
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none")], "login_required"),
    ] {
        let r = b
            .get(&format!(
                "{}/oauth2/authorize?{}",
                gw.api,
                auth_query(&id, &extra)
            ))
            .await?;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{extra:?}");
        assert!(
            r.location.starts_with(CALLBACK),
            "{extra:?}: {}",
            r.location
        );
        assert_eq!(
            param(&r.location, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(param(&r.location, "state").as_deref(), Some("st-1"));
        assert_eq!(param(&r.location, "iss").as_deref(), Some(gw.api.as_str()));
        assert!(param(&r.location, "code").is_none());
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM session").await?, 0);
    gw.stop().await?;
    Ok(())
}

async fn token_requests_refused(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "tokens").await?;
    let app = web_app(
        &gw,
        json!({ "scopes": ["openid", "email", "profile", "offline_access"] }),
    )
    .await?;
    let other = web_app(&gw, json!({})).await?;
    let (id, secret) = (s(&app, "client_id"), s(&app, "client_secret"));
    let mut b = Browser::new(&gw);
    let q = auth_query(&id, &[]);

    // A wrong verifier, and a code presented by another client, are refused.
    let c = code(&mut b, &q, &email, &password).await?;
    let (st, body) = redeem(&gw, &app, &c, &format!("{VERIFIER}x")).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let c = code(&mut b, &q, &email, &password).await?;
    let (st, body) = redeem(&gw, &other, &c, VERIFIER).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    // A wrong secret: 401 with a challenge, and the code is not spent on it.
    let c = code(&mut b, &q, &email, &password).await?;
    let (st, body) = token(
        &gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
        Some((&id, "wrong-secret")),
    )
    .await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    // Another redirect URI than the request's.
    let (st, body) = token(
        &gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", AFTER_LOGOUT),
            ("code_verifier", VERIFIER),
        ],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // PKCE downgrade: no challenge in the request, a verifier at the token endpoint.
    let plain = auth_query(
        &id,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let c = code(&mut b, &plain, &email, &password).await?;
    let (st, body) = redeem(&gw, &app, &c, VERIFIER).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert!(s(&body, "error_description").contains("code_challenge"));

    // A request without redirect_uri (the client has one): the token request may leave it
    // out too, but may not name another.
    let bare = auth_query(&id, &[("redirect_uri", "")]);
    let c = code(&mut b, &bare, &email, &password).await?;
    let (st, body) = token(
        &gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("code_verifier", VERIFIER),
        ],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(st, StatusCode::OK, "{body}");

    // Replay: the first redemption works; the second fails and revokes the first's session.
    let c = code(&mut b, &q, &email, &password).await?;
    let (st, first) = redeem(&gw, &app, &c, VERIFIER).await?;
    assert_eq!(st, StatusCode::OK, "{first}");
    assert_eq!(s(&first, "scope"), "openid email offline_access");
    let r = gw
        .get_auth("/oauth2/userinfo", &s(&first, "access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    // An app's token is for userinfo and the app's own backends, never the account API.
    let app_token = s(&first, "access_token");
    for (method, path, body) in [
        (Method::GET, "/v1/me", None),
        (
            Method::PATCH,
            "/v1/me",
            Some(json!({ "attributes": { "name": "x" } })),
        ),
        (Method::POST, "/v1/me/sessions/revoke-all", Some(json!({}))),
        (
            Method::POST,
            "/v1/storage/credentials",
            Some(json!({ "role": "recovery" })),
        ),
    ] {
        let r = gw.call(method, path, body, Some(&app_token)).await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (st, body) = redeem(&gw, &app, &c, VERIFIER).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let r = gw
        .get_auth("/oauth2/userinfo", &s(&first, "access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let refresh = s(&first, "refresh_token");
    let (st, _) = token(
        &gw,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "the replayed code's refresh token is dead"
    );

    // A live session's refresh token: not for another client, not for the direct API,
    // and both refusals leave it usable; no scope beyond the grant.
    let c = code(&mut b, &q, &email, &password).await?;
    let (_, set) = redeem(&gw, &app, &c, VERIFIER).await?;
    let refresh = s(&set, "refresh_token");
    let (st, body) = token(
        &gw,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&s(&other, "client_id"), &s(&other, "client_secret"))),
    )
    .await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let r = gw
        .post("/v1/sessions/refresh", json!({ "refresh_token": refresh }))
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let (st, body) = token(
        &gw,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "openid profile"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
    // The refused request left the token unused: it still rotates, after 10 minutes
    // (well past the 10-second grace for repeats), to a narrower scope.
    gw.clock.advance(600);
    let (st, narrowed) = token(
        &gw,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "openid"),
        ],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(st, StatusCode::OK, "{narrowed}");
    assert_eq!(s(&narrowed, "scope"), "openid");
    let access = verified_claims(&gw, &s(&narrowed, "access_token"), &gw.api).await?;
    assert_eq!(access["scope"], "openid");
    // RFC 7009: revoking answers 200, and the token is dead; unknown tokens answer alike.
    let next = s(&narrowed, "refresh_token");
    for t in [next.as_str(), "unknown-token"] {
        let res = gw
            .http
            .post(format!("{}/oauth2/revoke", gw.api))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", t)])
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (st, _) = token(
        &gw,
        &[("grant_type", "refresh_token"), ("refresh_token", &next)],
        Some((&id, &secret)),
    )
    .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    gw.stop().await?;
    Ok(())
}

async fn hosted_pages_refuse_forged_forms(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "csrf").await?;
    let mut b = Browser::new(&gw);
    let page = b.get(&format!("{}/login", gw.api)).await?;
    assert_eq!(page.status, StatusCode::OK);
    let csp = gw
        .http
        .get(format!("{}/login", gw.api))
        .send()
        .await?
        .headers()["content-security-policy"]
        .to_str()?
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(page.body.contains(r#"<label for="email">Email</label>"#));
    let csrf = hidden(&page.body, "csrf").unwrap_or_default();
    let before = count(&w, "SELECT COUNT(*) FROM session").await?;
    // A forged token, a missing one, a token without its cookie, a cross-site origin.
    for (token, cookies, origin) in [
        ("forged", true, None),
        ("", true, None),
        (csrf.as_str(), false, None),
        (csrf.as_str(), true, Some("https://evil.example")),
    ] {
        let mut req = gw.http.post(format!("{}/login", gw.api)).form(&[
            ("csrf", token),
            ("email", email.as_str()),
            ("password", password.as_str()),
        ]);
        if cookies {
            let jar: Vec<String> = b.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", jar.join("; "));
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.send().await?;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{token} {cookies} {origin:?}"
        );
        assert!(res.headers().get("set-cookie").is_none());
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM session").await?, before);
    // The genuine form signs in: a browser session cookie, HttpOnly, SameSite=Lax.
    let ok = b
        .post(
            &format!("{}/login", gw.api),
            &[("csrf", &csrf), ("email", &email), ("password", &password)],
        )
        .await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("You are signed in"));
    let cookie = ok
        .set_cookies
        .iter()
        .find(|c| c.starts_with("gh_session_main="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM session").await?, before + 1);
    // Someone else signing in on the same browser ends the first person's browser session.
    let (other, other_password) = person(&w, &gw, "csrf-other").await?;
    let again = b
        .post(
            &format!("{}/login", gw.api),
            &[
                ("csrf", &csrf),
                ("email", &other),
                ("password", &other_password),
            ],
        )
        .await?;
    assert_eq!(again.status, StatusCode::OK);
    let first_live = format!(
        "SELECT COUNT(*) FROM session WHERE revoked_at IS NULL AND account_id IN \
         (SELECT account_id FROM email_credential WHERE email = '{email}')"
    );
    assert_eq!(count(&w, &first_live).await?, 0);
    // A tampered cookie is no session: the next authorization asks to sign in.
    let value = b.jar["gh_session_main"].clone();
    b.jar
        .insert("gh_session_main".into(), value.replace('.', ".0"));
    let app = web_app(&gw, json!({})).await?;
    let r = b
        .get(&format!(
            "{}/oauth2/authorize?{}",
            gw.api,
            auth_query(&s(&app, "client_id"), &[])
        ))
        .await?;
    assert!(r.location.contains("/login?authz="), "{}", r.location);
    // Sign-up and recovery forms are protected the same way.
    for path in ["/signup", "/recover", "/signup/confirm", "/recover/confirm"] {
        let res = gw
            .http
            .post(format!("{}{path}", gw.api))
            .form(&[
                ("csrf", "forged"),
                ("email", "x@example.com"),
                ("password", "pw"),
                ("code", "1"),
            ])
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    gw.stop().await?;
    Ok(())
}

async fn logout_never_redirects_elsewhere(w: Arc<World>) -> TestResult {
    let gw = gateway(&w).await?;
    let (email, password) = person(&w, &gw, "logout").await?;
    let app = web_app(&gw, json!({})).await?;
    let id = s(&app, "client_id");
    let mut b = Browser::new(&gw);
    let callback = b
        .authorize(&auth_query(&id, &[]), &email, &password)
        .await?;
    let (_, set) = redeem(
        &gw,
        &app,
        &param(&callback, "code").unwrap_or_default(),
        VERIFIER,
    )
    .await?;
    let id_token = s(&set, "id_token");
    let logout = |extra: &[(&str, &str)]| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(extra)
            .finish();
        format!("{}/oauth2/logout?{q}", gw.api)
    };
    // Open-redirect attempts: an unregistered URI, one registered for another client, a
    // hint from another pool's issuer (forged).
    let other = web_app(
        &gw,
        json!({ "post_logout_redirect_uris": ["http://127.0.0.1:9/other"] }),
    )
    .await?;
    for q in [
        vec![
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![
            ("client_id", id.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/other"),
        ],
        vec![("post_logout_redirect_uri", AFTER_LOGOUT)],
        vec![
            ("id_token_hint", "eyJhbGciOiJub25lIn0.e30."),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
        ],
        vec![
            ("id_token_hint", id_token.as_str()),
            ("client_id", &s(&other, "client_id")),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
        ],
    ] {
        let r = b.get(&logout(&q)).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q:?}");
        assert_eq!(r.location, "", "{q:?}");
    }
    let live = format!(
        "SELECT COUNT(*) FROM session WHERE revoked_at IS NULL AND account_id IN (SELECT account_id FROM email_credential WHERE email = '{email}')"
    );
    assert_eq!(
        count(&w, &live).await?,
        2,
        "browser and client sessions still live"
    );
    // A code issued before the logout is worthless after it.
    let pending = code(&mut b, &auth_query(&id, &[]), &email, &password).await?;
    // Without a hint the person is asked; with the client's hint it happens at once.
    let r = b
        .get(&logout(&[
            ("client_id", id.as_str()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
        ]))
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("logout-form"));
    let r = b
        .get(&logout(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "s1"),
        ]))
        .await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location, format!("{AFTER_LOGOUT}?state=s1"));
    assert!(
        r.set_cookies
            .iter()
            .any(|c| c.starts_with("gh_session_main=;"))
    );
    assert_eq!(count(&w, &live).await?, 0, "logout ended both sessions");
    let (st, body) = redeem(&gw, &app, &pending, VERIFIER).await?;
    assert_eq!(
        (st, s(&body, "error").as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(
        count(&w, &live).await?,
        0,
        "no session opened after the logout"
    );
    let r = gw
        .get_auth("/oauth2/userinfo", &s(&set, "access_token"))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    gw.stop().await?;
    Ok(())
}

async fn https_cookies_are_host_prefixed_and_secure(w: Arc<World>) -> TestResult {
    // Behind TLS (a proxy terminates it; the gateway sees the public URL's scheme).
    let gw = w
        .start_with(|c| c.public_url = url::Url::parse("https://id.example").expect("URL"))
        .await?;
    let (email, password) = person(&w, &gw, "https").await?;
    let mut b = Browser::new(&gw);
    let page = b.get(&format!("{}/login", gw.api)).await?;
    let csrf_cookie = page
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-gh_csrf="))
        .expect("a __Host- CSRF cookie");
    assert!(csrf_cookie.contains("; Secure") && csrf_cookie.contains("Path=/"));
    assert!(!csrf_cookie.contains("Domain="));
    let csrf = hidden(&page.body, "csrf").unwrap_or_default();
    let ok = b
        .post(
            &format!("{}/login", gw.api),
            &[("csrf", &csrf), ("email", &email), ("password", &password)],
        )
        .await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let session = ok
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-gh_session_main="))
        .expect("a __Host- session cookie");
    for attr in ["; Secure", "; HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{attr}: {session}");
    }
    let res = gw.http.get(format!("{}/login", gw.api)).send().await?;
    assert!(res.headers().get("strict-transport-security").is_some());
    gw.stop().await?;
    Ok(())
}
