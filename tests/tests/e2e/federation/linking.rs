//! The linking rules (DESIGN rule 2, Federation): a trusted verified email that has an
//! account links only once the person signs in to that account; unverified or untrusted
//! emails never link; a signed-in person links and unlinks; the last credential stays. And
//! the admin API that configures IdPs.

use gatehouse_tests::{Gateway, World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

use super::{IDENTITIES_OF, Idp, account_of, admin, count, gateway, oidc_idp, person, through};
use crate::oauth::{Browser, submit};
use crate::{TestResult, tests};

tests!(
    a_trusted_email_links_only_after_signing_in_to_its_account,
    unverified_or_untrusted_emails_never_link,
    signed_in_people_link_and_unlink_but_keep_one_credential,
    operators_manage_identity_providers,
    a_pool_that_challenges_federated_sign_ins_asks_for_the_second_factor,
);

const PASSWORD: &str = "correct horse battery staple";

async fn account_with_email(w: &World, gw: &Gateway, email: &str) -> anyhow::Result<String> {
    gw.signup_confirmed(&w.mail, email, PASSWORD).await?;
    let by_email = "SELECT account_id FROM email_credential WHERE email = $1";
    use sqlx::Row;
    Ok(sqlx::query(by_email)
        .bind(email.to_string())
        .fetch_one(&w.db().await?)
        .await?
        .get(0))
}

/// Signs in on the login `page` with `email` and the tests' password.
async fn sign_in_as(
    b: &mut Browser<'_>,
    page: &crate::oauth::Seen,
    email: &str,
) -> anyhow::Result<crate::oauth::Seen> {
    submit(
        b,
        page,
        "login-form",
        &[("email", email), ("password", PASSWORD)],
    )
    .await
}

async fn a_trusted_email_links_only_after_signing_in_to_its_account(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    let email = unique_email("owner");
    let owner = account_with_email(&w, &gw, &email).await?;
    let (sub, _, _) = person("owner", true);
    idp.next(json!({ "sub": sub, "email": email, "email_verified": true }))
        .await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "corp", "").await?;
    // Asked to sign in to that account; nothing linked, no account made, no session.
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("already exists"), "{}", page.body);
    assert!(b.jar.contains_key("gh_fedlink"));
    assert!(!b.jar.contains_key("gh_session_main"));
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 0);
    let accounts = "SELECT COUNT(*) FROM account WHERE id <> $1";
    let before = count(&w, accounts, &owner).await?;
    // Signing in to it links the identity, tells the owner, and it signs in from then on.
    let done = sign_in_as(&mut b, &page, &email).await?;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(account_of(&w, &sub).await?, owner);
    assert!(!b.jar.contains_key("gh_fedlink"));
    w.mail
        .wait(&email, "Sign-in with Corp SSO was added")
        .await?;
    let linked =
        "SELECT COUNT(*) FROM audit_event WHERE account_id = $1 AND kind = 'identity_linked'";
    assert_eq!(count(&w, linked, &owner).await?, 1);
    idp.next(json!({ "sub": sub, "email": email, "email_verified": true }))
        .await?;
    let mut b2 = Browser::new(&gw);
    let (page, _) = through(&mut b2, &gw, "corp", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(b2.jar.contains_key("gh_session_main"));
    assert_eq!(count(&w, accounts, &owner).await?, before);

    // Someone else signing in on the page the wait was for links nothing.
    let email2 = unique_email("victim");
    account_with_email(&w, &gw, &email2).await?;
    let other = unique_email("other");
    account_with_email(&w, &gw, &other).await?;
    let (sub2, _, _) = person("victim", true);
    idp.next(json!({ "sub": sub2, "email": email2, "email_verified": true }))
        .await?;
    let mut b3 = Browser::new(&gw);
    let (page, _) = through(&mut b3, &gw, "corp", "").await?;
    assert!(page.body.contains("already exists"));
    let done = sign_in_as(&mut b3, &page, &other).await?;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(count(&w, IDENTITIES_OF, &sub2).await?, 0);
    gw.stop().await
}

async fn unverified_or_untrusted_emails_never_link(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    oidc_idp(&gw, &idp, "notrust", json!({ "trust_email": false })).await?;
    for (name, verified) in [("corp", false), ("notrust", true)] {
        let email = unique_email(name);
        let owner = account_with_email(&w, &gw, &email).await?;
        let (sub, _, _) = person(name, verified);
        idp.next(json!({ "sub": sub, "email": email, "email_verified": verified }))
            .await?;
        let mut b = Browser::new(&gw);
        let (page, _) = through(&mut b, &gw, name, "").await?;
        assert_eq!(page.status, StatusCode::OK, "{name}: {}", page.body);
        assert!(!page.body.contains("already exists"));
        // A new account of its own, without the email; the owner's account untouched.
        let new = account_of(&w, &sub).await?;
        assert_ne!(new, owner, "{name}");
        let emails = "SELECT COUNT(*) FROM email_credential WHERE account_id = $1";
        assert_eq!(count(&w, emails, &new).await?, 0, "{name}");
        let owners = "SELECT COUNT(*) FROM federated_identity WHERE account_id = $1";
        assert_eq!(count(&w, owners, &owner).await?, 0, "{name}");
    }
    // A sign-up nobody confirmed holds an address without owning it: the trusted email
    // neither links to it nor waits for it; the new account goes without the email.
    let email = unique_email("pending");
    let r = gw
        .post(
            "/v1/signup",
            json!({ "email": email, "password": PASSWORD }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let (sub, _, _) = person("pending", true);
    idp.next(json!({ "sub": sub, "email": email, "email_verified": true }))
        .await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("already exists"));
    let new = account_of(&w, &sub).await?;
    let emails = "SELECT COUNT(*) FROM email_credential WHERE account_id = $1";
    assert_eq!(count(&w, emails, &new).await?, 0);
    gw.stop().await
}

async fn signed_in_people_link_and_unlink_but_keep_one_credential(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({ "trust_email": false })).await?;
    let email = unique_email("linker");
    let owner = account_with_email(&w, &gw, &email).await?;
    // Without a session, `link=1` asks for a sign-in first.
    let mut b = Browser::new(&gw);
    let r = b
        .get(&format!("{}/federation/corp/start?link=1", gw.api))
        .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("Sign in again"));
    // Signed in on the page, the person links their IdP account.
    let login = b.get(&format!("{}/login", gw.api)).await?;
    let done = sign_in_as(&mut b, &login, &email).await?;
    assert_eq!(done.status, StatusCode::OK);
    let (sub, _, p) = person("linker", true);
    idp.next(p).await?;
    let (page, url) = through(&mut b, &gw, "corp", "?link=1").await?;
    assert!(url.ends_with("/account"), "{url}");
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(account_of(&w, &sub).await?, owner);
    w.mail
        .wait(&email, "Sign-in with Corp SSO was added")
        .await?;
    // Listed, then unlinked (a password remains); told by mail; audited.
    let set = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PASSWORD }),
        )
        .await?;
    let token = set.str("access_token");
    let list = gw.get_auth("/v1/me/identities", &token).await?;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["identities"][0]["idp"], "corp");
    assert_eq!(list.body["identities"][0]["subject"], sub);
    let export = gw.get_auth("/v1/me/export", &token).await?;
    assert_eq!(export.body["identities"][0]["idp"], "corp", "{export:?}");
    let r = gw
        .call(Method::DELETE, "/v1/me/identities/corp", None, Some(&token))
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 0);
    w.mail
        .wait(&email, "Sign-in with Corp SSO was removed")
        .await?;
    let r = gw
        .call(Method::DELETE, "/v1/me/identities/corp", None, Some(&token))
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "identity_not_found")
    );

    // An identity linked to one account cannot be linked to another.
    let (sub2, _, p2) = person("taken", true);
    idp.next(p2.clone()).await?;
    let mut fed = Browser::new(&gw);
    let (page, _) = through(&mut fed, &gw, "corp", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    idp.next(p2).await?;
    let (page, _) = through(&mut b, &gw, "corp", "?link=1").await?;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert_ne!(account_of(&w, &sub2).await?, owner);
    // Its own account has nothing else: on its account page, removing it is refused,
    // however many removals race.
    let mine = fed.get(&format!("{}/account", gw.api)).await?;
    assert!(mine.body.contains("Corp SSO"), "{}", mine.body);
    let csrf = crate::oauth::hidden(&mine.body, "csrf").unwrap_or_default();
    let cookie: Vec<String> = fed.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cookie = cookie.join("; ");
    let tries = (0..4).map(|_| {
        gw.http
            .post(format!("{}/account/identities/remove", gw.api))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("idp", "corp")])
            .send()
    });
    for r in futures_util::future::join_all(tries).await {
        let r = r?;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await?.contains("last way to sign in"));
    }
    assert_eq!(count(&w, IDENTITIES_OF, &sub2).await?, 1);
    gw.stop().await
}

async fn operators_manage_identity_providers(w: Arc<World>) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    let created = admin(
        &gw,
        Method::POST,
        "",
        Some(
            json!({ "name": "corp", "preset": "google", "client_id": "gatehouse",
            "client_secret": "gatehouse-secret", "discovery_url": idp.discovery() }),
        ),
    )
    .await?;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["display_name"], "Google");
    assert_eq!(created.body["client_secret_set"], true);
    assert!(!created.body.to_string().contains("gatehouse-secret"));
    assert_eq!(
        created.body["redirect_uri"],
        format!("{}/federation/corp/callback", gw.issuer)
    );
    // Sealed at rest: the secret is in no column as text.
    let plain = "SELECT COUNT(*) FROM identity_provider WHERE config LIKE $1";
    assert_eq!(count(&w, plain, "%gatehouse-secret%").await?, 0);
    let r = admin(
        &gw,
        Method::POST,
        "",
        Some(json!({ "name": "corp", "preset": "google",
        "client_id": "x", "client_secret": "y" })),
    )
    .await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "idp_exists"));
    for bad in [
        json!({ "name": "Bad Name", "preset": "google", "client_id": "x", "client_secret": "y" }),
        json!({ "name": "x1", "preset": "google", "client_id": "x" }),
        json!({ "name": "x2", "kind": "oidc", "client_id": "x", "client_secret": "y",
                "display_name": "X", "discovery_url": "http://idp.example/d", "scopes": ["openid"] }),
        json!({ "name": "x3", "kind": "saml", "client_id": "x", "client_secret": "y", "display_name": "X" }),
        json!({ "name": "x4", "preset": "apple", "client_id": "x", "team_id": "T", "key_id": "K",
                "private_key": "not a key" }),
        json!({ "name": "x5", "preset": "google", "client_id": "x", "client_secret": "y",
                "id_token_algs": ["none"] }),
    ] {
        let r = admin(&gw, Method::POST, "", Some(bad.clone())).await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_idp_config"),
            "{bad}"
        );
    }
    let patched = admin(
        &gw,
        Method::PATCH,
        "/corp",
        Some(json!({ "display_name": "Work", "enabled": false })),
    )
    .await?;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert_eq!(patched.body["display_name"], "Work");
    assert_eq!(patched.body["enabled"], false);
    assert_eq!(
        patched.body["client_secret_set"], true,
        "the secret is kept"
    );
    let list = admin(&gw, Method::GET, "", None).await?;
    assert_eq!(
        list.body["identity_providers"].as_array().map(Vec::len),
        Some(1)
    );
    // In use: refused until its identities are gone.
    admin(
        &gw,
        Method::PATCH,
        "/corp",
        Some(json!({ "enabled": true })),
    )
    .await?;
    let (sub, _, p) = person("used", true);
    idp.next(p).await?;
    let mut b = Browser::new(&gw);
    through(&mut b, &gw, "corp", "").await?;
    assert_eq!(count(&w, IDENTITIES_OF, &sub).await?, 1);
    let r = admin(&gw, Method::DELETE, "/corp", None).await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "idp_in_use"));
    let none = admin(&gw, Method::DELETE, "/nobody", None).await?;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::NOT_FOUND, "idp_not_found")
    );
    oidc_idp(&gw, &idp, "notrust", json!({})).await?;
    let r = admin(&gw, Method::DELETE, "/notrust", None).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let audited = "SELECT COUNT(*) FROM audit_event WHERE kind LIKE $1";
    assert_eq!(count(&w, audited, "idp_created").await?, 2);
    assert_eq!(count(&w, audited, "idp_updated").await?, 2);
    assert_eq!(count(&w, audited, "idp_deleted").await?, 1);

    // The CLI: the configuration from a file (secrets never on the command line).
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("idp.json");
    let config = json!({ "preset": "google", "client_id": "cli-app", "client_secret": "cli-secret",
        "discovery_url": idp.discovery() });
    std::fs::write(&file, config.to_string())?;
    let add = gateway::cli::Command::Idp {
        command: gateway::cli::IdpCommand::Add {
            name: "fromcli".into(),
            pool: "main".into(),
            from: file.clone(),
        },
    };
    gateway::cli::run_admin(&add, w.config(0), false).await?;
    let shown = admin(&gw, Method::GET, "/fromcli", None).await?;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");
    assert_eq!(shown.body["client_id"], "cli-app");
    assert_eq!(shown.body["client_secret_set"], true);
    let remove = gateway::cli::Command::Idp {
        command: gateway::cli::IdpCommand::Remove {
            name: "fromcli".into(),
            pool: "main".into(),
        },
    };
    gateway::cli::run_admin(&remove, w.config(0), false).await?;
    let gone = admin(&gw, Method::GET, "/fromcli", None).await?;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    gw.stop().await
}

/// Answers the challenge `page` shows with the `nth` code mailed to `email`.
async fn answer_by_mail(
    w: &World,
    b: &mut Browser<'_>,
    page: &crate::oauth::Seen,
    email: &str,
    nth: usize,
) -> anyhow::Result<crate::oauth::Seen> {
    let sent = submit(b, page, "mfa-email-form", &[]).await?;
    let mail = w.mail.wait_nth(email, "sign-in code", nth).await?;
    let code = mail.code().unwrap_or_default();
    submit(
        b,
        &sent,
        "mfa-form",
        &[("factor", "email"), ("code", &code)],
    )
    .await
}

async fn a_pool_that_challenges_federated_sign_ins_asks_for_the_second_factor(
    w: Arc<World>,
) -> TestResult {
    let idp = Idp::start().await?;
    let gw = gateway(&w).await?;
    oidc_idp(&gw, &idp, "corp", json!({})).await?;
    let r = gw
        .call(
            Method::PATCH,
            "//admin/v1/pools/main",
            Some(
                json!({ "mfa": { "mode": "optional", "factors": ["totp", "email"],
                                  "challenge_federated": true } }),
            ),
            Some(crate::oauth::ADMIN),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // An account with emailed codes as its second factor, and its IdP account linked.
    let email = unique_email("mfafed");
    let owner = account_with_email(&w, &gw, &email).await?;
    let set = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PASSWORD }),
        )
        .await?;
    let token = set.str("access_token");
    let r = gw.post_auth("/v1/me/mfa/email", json!({}), &token).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let (sub, _, _) = person("mfafed", true);
    let who = json!({ "sub": sub, "email": email, "email_verified": true });
    idp.next(who.clone()).await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "corp", "").await?;
    assert!(page.body.contains("already exists"));
    let done = sign_in_as(&mut b, &page, &email).await?;
    // The password sign-in itself is challenged (the policy is `optional`, a factor is set).
    let done = answer_by_mail(&w, &mut b, &done, &email, 1).await?;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(account_of(&w, &sub).await?, owner);

    // Through the IdP now: the challenge page, no session until the code is given.
    idp.next(who).await?;
    let mut b = Browser::new(&gw);
    let (page, _) = through(&mut b, &gw, "corp", "").await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"id="mfa-form""#), "{}", page.body);
    assert!(!b.jar.contains_key("gh_session_main"));
    let done = answer_by_mail(&w, &mut b, &page, &email, 2).await?;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(b.jar.contains_key("gh_session_main"));
    let amr = "SELECT COUNT(*) FROM session WHERE account_id = $1 AND amr LIKE '%fed%' \
        AND amr LIKE '%mfa%' AND amr LIKE '%idp:corp%'";
    assert_eq!(count(&w, amr, &owner).await?, 1);
    gw.stop().await
}
