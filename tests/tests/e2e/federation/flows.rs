//! Signing in through each kind of IdP.

use gatehouse_tests::{Backend, World, verified_claims};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

use super::{IDENTITIES_OF, Idp, account_of, admin, count, gateway, oidc_idp, person, through};
use crate::oauth::{Browser, CALLBACK, VERIFIER, auth_query, param, redeem, s, web_app};
use crate::{TestResult, tests};

tests!(
    a_first_sign_in_creates_the_account_and_the_next_finds_it,
    authorize_with_idp_goes_straight_to_it_and_tokens_say_so,
    an_oauth2_idp_in_githubs_shape_signs_in,
    private_key_jwt_and_apples_signed_secret_sign_in,
    the_login_page_has_a_button_per_enabled_idp,
    a_sign_in_started_on_one_instance_finishes_on_another,
    a_person_in_chromium_signs_in_with_the_idp_button,
);

async fn a_first_sign_in_creates_the_account_and_the_next_finds_it(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    let (sub, email, p) = person("ada", true);
    idp.next(p).await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(b.jar.contains_key("gh_session_main"), "a browser session");
    assert!(!b.jar.contains_key("gh_fed"), "the binding is cleared");
    // One account, with the trusted verified email, the identity and the mapped name.
    let account = account_of(&w, &sub).await?;
    let verified = format!(
        "SELECT COUNT(*) FROM email_credential WHERE account_id = '{account}' \
         AND verified_at IS NOT NULL AND email = $1"
    );
    assert_eq!(count(&w, &verified, &email).await?, 1);
    let named = "SELECT COUNT(*) FROM account WHERE attributes LIKE '%Person ada%' AND id = $1";
    assert_eq!(count(&w, named, &account).await?, 1);
    let audited =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind IN ('signup', 'sign_in')";
    assert_eq!(count(&w, audited, &account).await?, 2);

    // Again, in a new browser: the same account, no second identity or account.
    idp.next(json!({ "sub": sub, "email": email, "email_verified": true, "name": "Ada L." }))
        .await?;
    let mut b2 = Browser::new(&gw);
    let (page, _) = through(&mut b2, &gw, "corp", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(account_of(&w, &sub).await?, account);
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);
    let accounts = "SELECT COUNT(*) FROM email_credential WHERE email = $1";
    assert_eq!(count(&w, accounts, &email).await?, 1);
    // The mapping copies the name on every sign-in.
    let renamed = "SELECT COUNT(*) FROM account WHERE attributes LIKE '%Ada L.%' AND id = $1";
    assert_eq!(count(&w, renamed, &account).await?, 1);
    gw.stop().await
}

async fn authorize_with_idp_goes_straight_to_it_and_tokens_say_so(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    let app = web_app(&gw, json!({})).await?;
    let (sub, _, p) = person("grace", true);
    idp.next(p).await?;
    let mut b = Browser::new(&gw);
    let query = auth_query(&s(&app, "client_id"), &[("idp", "corp")]);
    let first = b
        .get(&format!("{}/oauth2/authorize?{query}", gw.api))
        .await?;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert!(
        first.location.contains("/federation/corp/start?authz="),
        "past the login page: {}",
        first.location
    );
    let (_, callback) = super::follow(&mut b, &gw, first.location.clone()).await?;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(param(&callback, "state").as_deref(), Some("st-1"));
    let code = param(&callback, "code").unwrap_or_default();
    let (status, tokens) = redeem(&gw, &app, &code, VERIFIER).await?;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id = verified_claims(
        &gw,
        tokens["id_token"].as_str().unwrap_or_default(),
        &s(&app, "client_id"),
    )
    .await?;
    let access = verified_claims(
        &gw,
        tokens["access_token"].as_str().unwrap_or_default(),
        &gw.issuer,
    )
    .await?;
    assert_eq!(id["amr"], json!(["fed"]));
    assert_eq!(id["idp"], "corp");
    assert_eq!(access["amr"], json!(["fed"]));
    assert_eq!(access["idp"], "corp");
    assert_eq!(id["sub"], account_of(&w, &sub).await?);
    // A refresh keeps what the sign-in was.
    let (status, refreshed) = crate::oauth::token(
        &gw,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().unwrap_or_default(),
            ),
        ],
        Some((&s(&app, "client_id"), &s(&app, "client_secret"))),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let again = verified_claims(
        &gw,
        refreshed["access_token"].as_str().unwrap_or_default(),
        &gw.issuer,
    )
    .await?;
    assert_eq!(again["idp"], "corp");
    assert_eq!(again["amr"], json!(["fed"]));
    gw.stop().await
}

async fn an_oauth2_idp_in_githubs_shape_signs_in(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    let i = &idp.issuer;
    // The GitHub preset with its URLs pointed at the test IdP: a numeric `id` as the
    // subject, the verified primary email from the emails list.
    let r = admin(
        &gw,
        Method::POST,
        "",
        Some(json!({
            "name": "gh", "preset": "github", "client_id": "gatehouse-post",
            "client_secret": "gatehouse-secret", "authorize_url": format!("{i}/auth"),
            "token_url": format!("{i}/token"), "userinfo_url": format!("{i}/account"),
            "emails_url": format!("{i}/account/emails"), "scopes": ["user"],
        })),
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["kind"], "oauth2");
    assert_eq!(r.body["display_name"], "GitHub");
    let sub = format!("{}", 100_000 + rand_u32() % 800_000);
    let email = gatehouse_tests::unique_email("octo");
    idp.next(json!({ "sub": sub, "email": email, "email_verified": true, "name": "Octo Cat" }))
        .await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "gh", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let account = account_of(&w, &sub).await?;
    let found =
        "SELECT COUNT(*) FROM email_credential WHERE email = $1 AND verified_at IS NOT NULL";
    assert_eq!(count(&w, found, &email).await?, 1);
    let nickname = format!("user{sub}");
    let attrs = "SELECT COUNT(*) FROM account WHERE id = $1 AND attributes LIKE '%Octo Cat%'";
    assert_eq!(count(&w, attrs, &account).await?, 1);
    let nick =
        format!("SELECT COUNT(*) FROM account WHERE id = $1 AND attributes LIKE '%{nickname}%'");
    assert_eq!(count(&w, &nick, &account).await?, 1);
    gw.stop().await
}

fn rand_u32() -> u32 {
    let b = uuid::Uuid::new_v4();
    u32::from_le_bytes([
        b.as_bytes()[0],
        b.as_bytes()[1],
        b.as_bytes()[2],
        b.as_bytes()[3],
    ])
}

async fn private_key_jwt_and_apples_signed_secret_sign_in(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    // private_key_jwt: the IdP checks our ES256 assertion against the client's key.
    oidc_idp(
        &gw,
        &idp,
        "jwtcorp",
        json!({ "client_id": "gatehouse-jwt", "client_auth": "private_key_jwt",
                "key_id": idp.info["client_key_kid"], "private_key": idp.info["client_key_pem"],
                "client_secret": null }),
    )
    .await?;
    let (sub, _, p) = person("jwt", true);
    idp.next(p).await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "jwtcorp", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);

    // Apple: the preset (its discovery pointed here), `form_post`, and a client secret the
    // gateway signs with the team's key; the IdP verifies it with jose. The name comes
    // once, in the POST's `user` field.
    let r = admin(
        &gw,
        Method::POST,
        "",
        Some(json!({
            "name": "apple", "preset": "apple", "discovery_url": idp.discovery(),
            "client_id": "gatehouse-apple", "team_id": idp.info["apple_team"],
            "key_id": idp.info["apple_key_kid"], "private_key": idp.info["apple_key_pem"],
            "attribute_mapping": { "given_name": "given_name", "family_name": "family_name" },
        })),
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["private_key_set"], true);
    assert!(
        !r.body.to_string().contains("PRIVATE KEY"),
        "the key is never shown"
    );
    let (sub, _, p) = person("apple", true);
    idp.next(p).await?;
    let mut b = Browser::new(&gw);
    let (form, _) = through(&mut b, &gw, "apple", "").await?;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("Submitting Callback"), "{}", form.body);
    let field = |name: &str| crate::oauth::hidden(&form.body, name).unwrap_or_default();
    let (code, state) = (field("code"), field("state"));
    let user = r#"{"name":{"firstName":"Tim","lastName":"Apple"}}"#;
    let done = b
        .post(
            &format!("{}/federation/apple/callback", gw.api),
            &[("code", &code), ("state", &state), ("user", user)],
        )
        .await?;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let account = account_of(&w, &sub).await?;
    let named = "SELECT COUNT(*) FROM account WHERE id = $1 AND attributes LIKE '%Tim%' AND attributes LIKE '%Apple%'";
    assert_eq!(count(&w, named, &account).await?, 1);
    gw.stop().await
}

async fn the_login_page_has_a_button_per_enabled_idp(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({ "display_name": "Corp <SSO>" })).await?;
    oidc_idp(
        &gw,
        &idp,
        "notrust",
        json!({ "display_name": "Hidden", "enabled": false }),
    )
    .await?;
    let page = reqwest::get(format!("{}/login?authz=a1", gw.api)).await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    assert!(
        html.contains("Sign in with Corp &#60;SSO&#62;")
            || html.contains("Sign in with Corp &lt;SSO&gt;"),
        "{html}"
    );
    assert!(
        html.contains("/pools/main/federation/corp/start?authz=a1"),
        "{html}"
    );
    assert!(!html.contains("Hidden"), "a disabled IdP has no button");
    // A disabled or unknown IdP signs no one in.
    for name in ["notrust", "nobody"] {
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?
            .get(format!("{}/federation/{name}/start", gw.api))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}");
    }
    let icon = reqwest::get(format!("{}/assets/idp/github.svg", gw.api)).await?;
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    gw.stop().await
}

async fn a_sign_in_started_on_one_instance_finishes_on_another(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let a = gateway(&w).await?;
    let b_gw = gateway(&w).await?;
    oidc_idp(&a, &idp, "corp", json!({})).await?;
    let (sub, _, p) = person("twin", true);
    idp.next(p).await?;
    // Start at A; the IdP sends the browser back to the public URL, which B serves.
    let mut browser = Browser::new(&a);
    let start = browser
        .get(&format!("{}/federation/corp/start", a.api))
        .await?;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let (landing, _) = super::follow(&mut browser, &b_gw, start.location.clone()).await?;
    match w.backend {
        // One Redis: B finds the state A stored.
        Backend::Postgres { .. } => {
            assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
            assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);
        }
        // In-process stores are per instance: B never saw it, and nothing is written.
        Backend::Sqlite => {
            assert_eq!(landing.status, StatusCode::BAD_REQUEST, "{}", landing.body);
            assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 0);
        }
    }
    a.stop().await?;
    b_gw.stop().await
}

async fn a_person_in_chromium_signs_in_with_the_idp_button(w: Arc<World>) -> TestResult {
    // The browser must reach the gateway at its public URL: the gateway's own address.
    let gw = w
        .start_with(|c| {
            c.admin_token = Some(accounts::secret::Secret::new(crate::oauth::ADMIN));
            c.public_url = url::Url::parse(&format!("http://{}", c.listen)).expect("listen");
        })
        .await?;
    let idp = Idp::start_for(&gw.base).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    let app = web_app(&gw, json!({})).await?;
    let (sub, email, p) = person("chromium", true);
    idp.register(p).await?;
    let out: serde_json::Value = gatehouse_tests::node_client(
        "federation-browser.mjs",
        &json!({
            "issuer": gw.issuer, "client_id": s(&app, "client_id"),
            "client_secret": s(&app, "client_secret"), "redirect_uri": CALLBACK,
            "button": "Sign in with Corp SSO", "login": sub,
        }),
    )
    .await?;
    let claims = &out["claims"];
    assert_eq!(claims["amr"], json!(["fed"]), "{out}");
    assert_eq!(claims["idp"], "corp");
    assert_eq!(claims["email"], email);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["sub"], account_of(&w, &sub).await?);
    gw.stop().await
}
