//! `GET /openapi.json` against what the gateway really answers. The document is validated as
//! OpenAPI 3.1, then real exchanges of many routes (sign-up to the token endpoint, the
//! account's own API, the admin API, problem details and RFC 6749 errors) are validated
//! against it, by validators nobody here wrote (`tests/clients/openapi.mjs`:
//! @seriousme/openapi-schema-validator and ajv): the document cannot drift from the wire.

use accounts::secret::Secret;
use base64::Engine;
use gatehouse_tests::openapi::{Auth, Body, Exchanges, validate};
use gatehouse_tests::{World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::TestResult;

crate::tests!(real_answers_match_the_document);

const ADMIN: &str = "test-admin-token-0123456789abcdef";
const PW: &str = "correct horse battery";

async fn real_answers_match_the_document(w: Arc<World>) -> TestResult {
    let gw = w
        .start_with(|c| c.admin_token = Some(Secret::new(ADMIN)))
        .await?;
    // The document: at the root, without credentials, JSON, OpenAPI 3.1 of this version.
    let r = gw
        .http
        .get(format!("{}/openapi.json", gw.base))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let document: Value = r.json().await?;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));

    let mut x = Exchanges::new(&gw);
    use Method as M;

    // Sign-up, sign-in, refresh, and their refusals.
    let email = unique_email("openapi");
    let signup = json!({ "email": email, "password": PW, "attributes": { "name": "Ada" } });
    let r = x
        .send(M::POST, "/v1/signup", Body::Json(signup), Auth::None)
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let resend = json!({ "email": unique_email("nobody") });
    let r = x
        .send(M::POST, "/v1/signup/resend", Body::Json(resend), Auth::None)
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    let confirm = json!({ "email": email, "code": code, "password": PW });
    let r = x
        .send(
            M::POST,
            "/v1/signup/confirm",
            Body::Json(confirm),
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let wrong = json!({ "email": email, "password": "not the password" });
    let r = x
        .send(
            M::POST,
            "/v1/sessions/password",
            Body::Json(wrong),
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.body["code"], "invalid_credentials");
    let r = x
        .send(
            M::POST,
            "/v1/sessions/password",
            Body::Raw("application/json", "{\"email\":"),
            Auth::None,
        )
        .await?;
    assert_eq!(r.body["code"], "invalid_json");
    let r = x
        .send(
            M::POST,
            "/v1/sessions/password",
            Body::Raw("text/plain", "hello"),
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
    let right = json!({ "email": email, "password": PW });
    let r = x
        .send(
            M::POST,
            "/v1/sessions/password",
            Body::Json(right),
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refresh = json!({ "refresh_token": r.str("refresh_token") });
    let r = x
        .send(
            M::POST,
            "/v1/sessions/refresh",
            Body::Json(refresh),
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (access, refresh_token) = (r.str("access_token"), r.str("refresh_token"));
    let user = Auth::Bearer;

    // The account's own API.
    let r = x.send(M::GET, "/v1/me", Body::None, user(&access)).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let attributes = json!({ "attributes": { "name": "Ada L.", "custom:team": null } });
    let r = x
        .send(M::PATCH, "/v1/me", Body::Json(attributes), user(&access))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = x.send(M::GET, "/v1/me", Body::None, Auth::None).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    for path in ["/v1/me/sessions", "/v1/me/export"] {
        let r = x.send(M::GET, path, Body::None, user(&access)).await?;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let gone = "/v1/me/sessions/00000000-0000-4000-8000-000000000000";
    let r = x.send(M::DELETE, gone, Body::None, user(&access)).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = x
        .send(M::GET, "//pools/nowhere/v1/me", Body::None, user(&access))
        .await?;
    assert_eq!(r.body["code"], "pool_not_found");

    // Wallets: a nonce, a wallet's sign-in, linking and unlinking.
    let r = x
        .send(M::POST, "/v1/siwe/nonce", Body::None, Auth::None)
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let signed = gw.siwe_signed(None, json!({})).await?;
    let r = x
        .send(
            M::POST,
            "/v1/sessions/siwe",
            Body::Json(signed.body()),
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let wallet_access = r.str("access_token");
    let linked = gw.siwe_signed(None, json!({})).await?;
    let r = x
        .send(
            M::POST,
            "/v1/me/wallets",
            Body::Json(linked.body()),
            user(&access),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let unlink = format!("/v1/me/wallets/{}", linked.caip10(1));
    let r = x
        .send(M::DELETE, &unlink, Body::None, user(&access))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = x
        .send(M::DELETE, &unlink, Body::None, user(&access))
        .await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Password, storage (off here), recovery, the email-change undo.
    let change = json!({ "current_password": PW, "new_password": "a new correct horse" });
    let r = x
        .send(
            M::POST,
            "/v1/me/password",
            Body::Json(change),
            user(&access),
        )
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let grant = json!({ "role": "recovery", "objects": [{ "key": "kit", "action": "get" }] });
    let r = x
        .send(
            M::POST,
            "/v1/storage/credentials",
            Body::Json(grant),
            user(&access),
        )
        .await?;
    assert!(r.status.is_client_error() || r.status.is_server_error());
    let r = x
        .send(
            M::POST,
            "/v1/recovery",
            Body::Json(json!({ "email": email })),
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let undo = json!({ "token": "not-a-token" });
    let r = x
        .send(
            M::POST,
            "/v1/email-change/undo",
            Body::Json(undo),
            Auth::None,
        )
        .await?;
    assert!(r.status.is_client_error());

    // OpenID Connect: discovery, keys, userinfo, the browser endpoints.
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let r = x.send(M::GET, path, Body::None, Auth::None).await?;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let r = x
        .send(M::GET, "/oauth2/userinfo", Body::None, user(&access))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = x
        .send(M::POST, "/oauth2/userinfo", Body::None, Auth::None)
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = x
        .send(
            M::GET,
            "/oauth2/authorize?client_id=nobody",
            Body::None,
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = x
        .send(M::GET, "/oauth2/logout", Body::None, Auth::None)
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    admin_api(&mut x).await?;

    // The end of sessions, and of the account.
    let r = x
        .send(
            M::POST,
            "/v1/sessions/revoke",
            Body::Json(json!({ "refresh_token": refresh_token })),
            Auth::None,
        )
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = x
        .send(
            M::POST,
            "/v1/me/sessions/revoke-all",
            Body::None,
            user(&wallet_access),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let again = json!({ "email": email, "password": "a new correct horse" });
    let r = x
        .send(
            M::POST,
            "/v1/sessions/password",
            Body::Json(again),
            Auth::None,
        )
        .await?;
    let fresh = r.str("access_token");
    let r = x
        .send(M::DELETE, "/v1/me", Body::None, user(&fresh))
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    // Every exchange against the document.
    let seen = std::mem::take(&mut x.seen);
    let report = validate(w.dir.path(), &document, &seen).await?;
    assert_eq!(report["version"], "3.1", "{report}");
    assert_eq!(report["documentErrors"], json!([]), "{report:#}");
    assert_eq!(report["failures"], json!([]), "{report:#}");
    assert_eq!(report["checked"], seen.len());
    let covered: Vec<&str> = report["covered"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for must in [
        "POST /pools/{pool}/v1/signup 202",
        "POST /pools/{pool}/v1/sessions/password 200",
        "POST /pools/{pool}/v1/sessions/password 401",
        "POST /pools/{pool}/v1/sessions/refresh 200",
        "GET /pools/{pool}/v1/me 200",
        "GET /pools/{pool}/v1/me/sessions 200",
        "GET /pools/{pool}/v1/me/export 200",
        "POST /pools/{pool}/v1/siwe/nonce 200",
        "POST /pools/{pool}/oauth2/token 200",
        "POST /admin/v1/pools/{pool}/users 201",
        "GET /admin/v1/pools/{pool}/users 200",
        "GET /admin/v1/pools/{pool}/users/{sub} 200",
        "POST /admin/v1/pools/{pool}/groups 201",
        "GET /admin/v1/pools/{pool}/groups 200",
        "GET /admin/v1/pools/{pool}/audit 200",
        "GET /admin/v1/pools/{pool} 200",
        "POST /admin/v1/pools/{pool}/clients 201",
    ] {
        assert!(covered.contains(&must), "not exercised: {must}");
    }
    gw.stop().await
}

/// The operators' API: pools, users, groups, the audit log, clients, and a client's token
/// from the token endpoint used on it; introspection and revocation.
async fn admin_api(x: &mut Exchanges<'_>) -> TestResult {
    use Method as M;
    let pool = format!("oa{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let new_pool = Body::Json(json!({ "name": pool }));
    let r = x
        .send(M::POST, "//admin/v1/pools", new_pool, Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = x
        .send(
            M::GET,
            "//admin/v1/pools?limit=1",
            Body::None,
            Auth::Bearer(ADMIN),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = x
        .send(
            M::GET,
            "//admin/v1/pools/main",
            Body::None,
            Auth::Bearer(ADMIN),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let one = format!("//admin/v1/pools/{pool}");
    let patch = json!({ "display_name": "OpenAPI" });
    let r = x
        .send_with(
            M::PATCH,
            &one,
            Body::Json(patch.clone()),
            Auth::Bearer(ADMIN),
            &[("if-match", "\"999\"")],
        )
        .await?;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.body);
    let r = x
        .send(M::PATCH, &one, Body::Json(patch), Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = x
        .send(M::DELETE, &one, Body::None, Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    // Users.
    let users = "//admin/v1/pools/main/users";
    let invited =
        json!({ "email": unique_email("invited"), "attributes": { "custom:plan": "pro" } });
    let r = x
        .send(M::POST, users, Body::Json(invited), Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let sub = r.str("sub");
    let address = format!(
        "0x{}",
        hex::encode(uuid::Uuid::new_v4().as_bytes()) + "00112233"
    );
    let wallet_only = json!({ "wallet": address, "wallet_kind": "eoa" });
    let r = x
        .send(M::POST, users, Body::Json(wallet_only), Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let search = format!("{users}?email=invited&limit=2");
    let r = x
        .send(M::GET, &search, Body::None, Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = x
        .send(
            M::GET,
            &format!("{users}?limit=0"),
            Body::None,
            Auth::Bearer(ADMIN),
        )
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = x
        .send(M::GET, users, Body::None, Auth::Bearer("wrong"))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let user = format!("{users}/{sub}");
    let r = x
        .send(M::GET, &user, Body::None, Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let patch = json!({ "attributes": { "custom:plan": null }, "email_verified": true });
    let r = x
        .send(M::PATCH, &user, Body::Json(patch), Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (method, tail, status) in [
        (M::POST, "/sign-out", StatusCode::OK),
        (M::POST, "/reset-password", StatusCode::ACCEPTED),
        (M::DELETE, "/mfa", StatusCode::OK),
    ] {
        let path = format!("{user}{tail}");
        let r = x
            .send(method, &path, Body::None, Auth::Bearer(ADMIN))
            .await?;
        assert_eq!(r.status, status, "{path}");
    }
    let nobody = format!("{users}/00000000-0000-4000-8000-000000000000");
    let r = x
        .send(M::GET, &nobody, Body::None, Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Groups and members.
    let groups = "//admin/v1/pools/main/groups";
    let staff = json!({ "name": "staff", "description": "Employees", "precedence": 1 });
    let r = x
        .send(
            M::POST,
            groups,
            Body::Json(staff.clone()),
            Auth::Bearer(ADMIN),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = x
        .send(M::POST, groups, Body::Json(staff), Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let group = format!("{groups}/staff");
    let member = format!("{group}/members/{sub}");
    let members = format!("{group}/members");
    let description = json!({ "description": "Everyone on staff" });
    for (method, path, body, status) in [
        (M::GET, groups.to_string(), None, StatusCode::OK),
        (M::GET, group.clone(), None, StatusCode::OK),
        (M::PATCH, group.clone(), Some(description), StatusCode::OK),
        (M::PUT, member.clone(), None, StatusCode::NO_CONTENT),
        (M::GET, members, None, StatusCode::OK),
        (M::DELETE, member, None, StatusCode::NO_CONTENT),
        (M::DELETE, group.clone(), None, StatusCode::NO_CONTENT),
        (M::GET, group, None, StatusCode::NOT_FOUND),
        (M::DELETE, user, None, StatusCode::NO_CONTENT),
    ] {
        let body = body.map_or(Body::None, Body::Json);
        let r = x
            .send(method.clone(), &path, body, Auth::Bearer(ADMIN))
            .await?;
        assert_eq!(r.status, status, "{method} {path}");
    }

    // The audit log: a page, a refusal, the stream.
    let audit = "//admin/v1/pools/main/audit";
    let page = format!("{audit}?limit=5");
    let r = x
        .send(M::GET, &page, Body::None, Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let bad = format!("{audit}?sub=nobody");
    let r = x
        .send(M::GET, &bad, Body::None, Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let ndjson = [("accept", "application/x-ndjson")];
    let r = x
        .send_with(M::GET, audit, Body::None, Auth::Bearer(ADMIN), &ndjson)
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Clients, and a client's own token: used on the admin API, introspected, revoked.
    let clients = "//admin/v1/pools/main/clients";
    let reader = json!({
        "name": "Ops reader", "grant_types": ["client_credentials"], "scopes": ["admin:read"],
    });
    let r = x
        .send(M::POST, clients, Body::Json(reader), Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (id, secret) = (r.str("client_id"), r.str("client_secret"));
    let client = format!("{clients}/{id}");
    for path in [clients, client.as_str()] {
        let r = x
            .send(M::GET, path, Body::None, Auth::Bearer(ADMIN))
            .await?;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let grant = || Body::Form(vec![("grant_type", "client_credentials".to_string())]);
    let r = x
        .send(M::POST, "/oauth2/token", grant(), Auth::Basic(&id, "wrong"))
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.body["error"], "invalid_client");
    let password = Body::Form(vec![("grant_type", "password".to_string())]);
    let r = x
        .send(
            M::POST,
            "/oauth2/token",
            password,
            Auth::Basic(&id, &secret),
        )
        .await?;
    assert_eq!(r.body["error"], "unsupported_grant_type");
    let r = x
        .send(M::POST, "/oauth2/token", grant(), Auth::Basic(&id, &secret))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.str("access_token");
    let r = x
        .send(M::GET, users, Body::None, Auth::Bearer(&token))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = x
        .send(
            M::POST,
            groups,
            Body::Json(json!({ "name": "x" })),
            Auth::Bearer(&token),
        )
        .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    for (form_token, active) in [(token.clone(), true), ("garbage".to_string(), false)] {
        let form = Body::Form(vec![("token", form_token)]);
        let r = x
            .send(
                M::POST,
                "/oauth2/introspect",
                form,
                Auth::Basic(&id, &secret),
            )
            .await?;
        assert_eq!(r.body["active"], active);
    }
    let form = Body::Form(vec![
        ("token", token.clone()),
        ("client_id", id.clone()),
        ("client_secret", secret.clone()),
    ]);
    let r = x.send(M::POST, "/oauth2/revoke", form, Auth::None).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let twice = [("authorization", format!("Basic {basic}"))];
    let form = Body::Form(vec![("token", token), ("client_secret", secret.clone())]);
    let headers: Vec<(&str, &str)> = twice.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = x
        .send_with(M::POST, "/oauth2/revoke", form, Auth::None, &headers)
        .await?;
    assert_eq!(r.body["error"], "invalid_request");
    let r = x
        .send(M::DELETE, &client, Body::None, Auth::Bearer(ADMIN))
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    Ok(())
}
