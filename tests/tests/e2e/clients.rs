//! App clients through the admin API (`GATEHOUSE_ADMIN_TOKEN`), and the token endpoint's
//! client_credentials grant with both client authentication methods.

use accounts::secret::Secret;
use base64::Engine;
use gatehouse_tests::{Gateway, World, verified_claims};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(admin_api_manages_clients, client_credentials_tokens,);

/// A token request: form, Authorization header, expected status and `error`.
type Case<'a> = (Vec<(&'a str, &'a str)>, Option<String>, StatusCode, &'a str);

const ADMIN: &str = "test-admin-token-0123456789abcdef";

async fn with_admin(w: &World) -> anyhow::Result<Gateway> {
    w.start_with(|c| c.admin_token = Some(Secret::new(ADMIN)))
        .await
}

async fn admin(
    gw: &Gateway,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> anyhow::Result<gatehouse_tests::Answer> {
    gw.call(
        method,
        &format!("//admin/v1/pools/main{path}"),
        body,
        Some(token),
    )
    .await
}

async fn create_client(gw: &Gateway, body: Value) -> anyhow::Result<gatehouse_tests::Answer> {
    admin(gw, Method::POST, "/clients", Some(body), ADMIN).await
}

async fn count(w: &World, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&w.db().await?).await?.get(0))
}

async fn admin_api_manages_clients(w: Arc<World>) -> TestResult {
    // Off without a token.
    let gw = w.start().await?;
    let r = admin(&gw, Method::GET, "/clients", None, ADMIN).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "admin_disabled")
    );
    gw.stop().await?;

    let gw = with_admin(&w).await?;
    let r = admin(&gw, Method::GET, "/clients", None, "wrong").await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let created = create_client(
        &gw,
        json!({
            "name": "Web app", "redirect_uris": ["https://app.example/callback"], "public": false,
            "post_logout_redirect_uris": ["https://app.example/"],
            "id_token_signed_response_alg": "RS256",
        }),
    )
    .await?;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.str("client_id");
    let secret = created.str("client_secret");
    assert!(secret.len() >= 40);
    assert_eq!(created.body["id_token_signed_response_alg"], "RS256");
    assert_eq!(
        created.body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    // Stored hashed, never in the clear; audited.
    let db = w.db().await?;
    let hash: String = sqlx::query("SELECT secret_hash FROM app_client WHERE id = $1")
        .bind(&id)
        .fetch_one(&db)
        .await?
        .get(0);
    assert!(!hash.contains(&secret) && hash != secret);
    assert_eq!(
        count(
            &w,
            "SELECT COUNT(*) FROM audit_event WHERE kind = 'client_created'"
        )
        .await?,
        1
    );
    let list = admin(&gw, Method::GET, "/clients", None, ADMIN).await?;
    assert_eq!(list.body["clients"][0]["client_id"], id.as_str());
    assert!(!list.body.to_string().contains(&secret));
    let one = admin(&gw, Method::GET, &format!("/clients/{id}"), None, ADMIN).await?;
    assert_eq!(one.body["name"], "Web app");
    assert!(one.body.get("client_secret").is_none());
    let public = create_client(
        &gw,
        json!({ "name": "SPA", "public": true, "redirect_uris": ["http://localhost:5173/cb"] }),
    )
    .await?;
    assert_eq!(public.status, StatusCode::CREATED);
    assert!(public.body.get("client_secret").is_none());

    // Bad metadata: 400 with the reason, nothing stored.
    for bad in [
        json!({ "name": "x", "redirect_uris": ["http://app.example/cb"] }),
        json!({ "name": "x", "redirect_uris": ["https://app.example/cb#x"] }),
        json!({ "name": "x", "redirect_uris": ["https://*.example/cb"] }),
        json!({ "name": "x", "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"] }),
        json!({ "name": "x", "redirect_uris": ["https://a.example/cb"], "grant_types": ["password"] }),
        json!({ "name": "x", "public": true, "grant_types": ["client_credentials"] }),
        json!({ "name": "x", "grant_types": ["authorization_code"] }),
        json!({ "name": "x", "redirect_uris": ["https://a.example/cb"], "scopes": ["a b"] }),
        json!({ "name": "x", "redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "HS256" }),
        json!({ "name": "", "redirect_uris": ["https://a.example/cb"] }),
    ] {
        let r = admin(&gw, Method::POST, "/clients", Some(bad.clone()), ADMIN).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_client_metadata"),
            "{bad}"
        );
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM app_client").await?, 2);

    let r = admin(&gw, Method::DELETE, &format!("/clients/{id}"), None, ADMIN).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = admin(&gw, Method::DELETE, &format!("/clients/{id}"), None, ADMIN).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "client_not_found")
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM app_client").await?, 1);
    assert_eq!(
        count(
            &w,
            "SELECT COUNT(*) FROM audit_event WHERE kind = 'client_deleted'"
        )
        .await?,
        1
    );
    gw.stop().await
}

async fn client_credentials_tokens(w: Arc<World>) -> TestResult {
    let gw = with_admin(&w).await?;
    let created = create_client(
        &gw,
        json!({
            "name": "Billing service", "grant_types": ["client_credentials"],
            "scopes": ["api:read", "api:write", "openid"],
        }),
    )
    .await?;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let (id, secret) = (created.str("client_id"), created.str("client_secret"));
    let token_url = format!("{}/oauth2/token", gw.api);
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };

    // client_secret_basic, every scope by default (user scopes never).
    let r = gw
        .http
        .post(&token_url)
        .header("authorization", basic(&id, &secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await?;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api:read api:write");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let claims = verified_claims(&gw, body["access_token"].as_str().unwrap(), &gw.issuer).await?;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert!(claims.get("sid").is_none() && claims.get("amr").is_none());
    // Backends tell a client's own token from a user's with gatehouse-verify.
    let verifier = gatehouse_verify::Verifier::builder(&gw.issuer)
        .audience(&gw.issuer)
        .jwks_uri(format!("{}/.well-known/jwks.json", gw.api))
        .build()
        .await?;
    let verified = verifier
        .verify_access_token(body["access_token"].as_str().unwrap())
        .await?;
    assert!(verified.is_client_token() && verified.has_scope("api:write"));
    assert!(!verified.authenticated_within(std::time::Duration::from_secs(3600)));
    // Not a user's token: the account API refuses it.
    let me = gw
        .get_auth("/v1/me", body["access_token"].as_str().unwrap())
        .await?;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);

    // client_secret_post, a narrower scope.
    let r = gw
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "api:read"),
        ])
        .send()
        .await?;
    let body: Value = r.json().await?;
    assert_eq!(body["scope"], "api:read");

    // Refusals, in RFC 6749 §5.2's words.
    let cases: Vec<Case> = vec![
        (
            vec![("grant_type", "client_credentials")],
            Some(basic(&id, "wrong-secret")),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            None,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials"), ("scope", "api:admin")],
            Some(basic(&id, &secret)),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            vec![("grant_type", "client_credentials"), ("scope", "openid")],
            Some(basic(&id, &secret)),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "a"),
                ("password", "b"),
            ],
            Some(basic(&id, &secret)),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            Some(basic(&id, &secret)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
            Some(basic(&id, &secret)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (form, auth, status, error) in cases {
        let mut req = gw.http.post(&token_url).form(&form);
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await?;
        assert_eq!(r.status(), status, "{form:?}");
        if status == StatusCode::UNAUTHORIZED && auth.is_some() {
            assert!(
                r.headers()["www-authenticate"]
                    .to_str()?
                    .starts_with("Basic")
            );
        }
        let body: Value = r.json().await?;
        assert_eq!(body["error"], error, "{form:?}");
    }
    // A client without the grant may not use it.
    let web = create_client(
        &gw,
        json!({ "name": "Web", "redirect_uris": ["https://app.example/cb"] }),
    )
    .await?;
    let r = gw
        .http
        .post(&token_url)
        .header(
            "authorization",
            basic(&web.str("client_id"), &web.str("client_secret")),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    let body: Value = r.json().await?;
    assert_eq!(body["error"], "unauthorized_client");

    // Discovery lists the grants and methods that are implemented, nothing more.
    let d = gw
        .http
        .get(format!("{}/.well-known/openid-configuration", gw.api))
        .send()
        .await?
        .json::<Value>()
        .await?;
    assert_eq!(d["token_endpoint"], format!("{}/oauth2/token", gw.issuer));
    assert_eq!(
        d["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    for endpoint in ["authorize", "userinfo", "revoke", "introspect", "logout"] {
        assert!(
            d.as_object()
                .unwrap()
                .values()
                .any(|v| v == &json!(format!("{}/oauth2/{endpoint}", gw.issuer))),
            "{endpoint}"
        );
    }
    // Introspection (RFC 7662) for the confidential client.
    let introspect = |token: String, auth: Option<String>| {
        let mut req = gw
            .http
            .post(format!("{}/oauth2/introspect", gw.api))
            .form(&[("token", token)]);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    let own = gw
        .http
        .post(&token_url)
        .header("authorization", basic(&id, &secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json::<Value>()
        .await?["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = introspect(own.clone(), Some(basic(&id, &secret))).await?;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let info: Value = r.json().await?;
    assert_eq!(
        (info["active"].clone(), info["sub"].clone()),
        (json!(true), json!(id))
    );
    let user = gw
        .signed_in(
            &w.mail,
            &gatehouse_tests::unique_email("introspect"),
            "correct horse battery",
        )
        .await?;
    let user_token = user["access_token"].as_str().unwrap().to_string();
    let info: Value = introspect(user_token.clone(), Some(basic(&id, &secret)))
        .await?
        .json()
        .await?;
    assert_eq!(info["active"], true);
    assert_eq!(info["amr"], json!(["pwd"]));
    gw.post_auth("/v1/me/sessions/revoke-all", json!({}), &user_token)
        .await?;
    let info: Value = introspect(user_token.clone(), Some(basic(&id, &secret)))
        .await?
        .json()
        .await?;
    assert_eq!(info, json!({ "active": false }), "its session is over");
    for garbage in [
        "nope".to_string(),
        format!("{own}x"),
        user["refresh_token"].as_str().unwrap().to_string(),
    ] {
        let info: Value = introspect(garbage, Some(basic(&id, &secret)))
            .await?
            .json()
            .await?;
        assert_eq!(info, json!({ "active": false }));
    }
    assert_eq!(
        introspect(own.clone(), None).await?.status(),
        StatusCode::UNAUTHORIZED
    );
    let spa = create_client(
        &gw,
        json!({ "name": "SPA", "public": true, "redirect_uris": ["http://127.0.0.1:3000/cb"] }),
    )
    .await?;
    let r = introspect(own, Some(basic(&spa.str("client_id"), ""))).await?;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "public clients cannot introspect"
    );

    // A deleted client's secret stops working.
    admin(&gw, Method::DELETE, &format!("/clients/{id}"), None, ADMIN).await?;
    let r = gw
        .http
        .post(&token_url)
        .header("authorization", basic(&id, &secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    gw.stop().await
}
