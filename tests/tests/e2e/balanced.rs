//! Three instances behind a real balancer (HAProxy, round robin per request), public at the
//! balancer's address, behave as one: a sign-up confirmed with a code that another instance
//! mailed, a lockout counted across all three, a refresh family rotated and then revoked
//! across them, SIWE nonces issued by one and taken by another (each once), and an
//! authorization code redeemed once wherever it is presented. Every instance served part of
//! it.

use gatehouse_tests::balancer::Balancer;
use gatehouse_tests::redis_nodes::free_port;
use gatehouse_tests::siwe_key::SiweKey;
use gatehouse_tests::{Gateway, World, unique_email};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::TestResult;
use crate::oauth::{ADMIN, Browser, CALLBACK, VERIFIER, auth_query, param, redeem, web_app};
use accounts::secret::Secret;

crate::tests!(three_instances_behind_a_balancer_behave_as_one);

const PW: &str = "correct horse battery";

/// `POST {lb}/pools/main{path}`: the status and the body.
async fn post(lb: &str, path: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
    let res = reqwest::Client::new()
        .post(format!("{lb}/pools/main{path}"))
        .json(&body)
        .send()
        .await?;
    Ok((res.status(), res.json().await.unwrap_or(Value::Null)))
}

/// Requests an instance answered on the pool's routes.
fn served(gw: &Gateway) -> u64 {
    let text = gw.state.metrics.render().unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("gatehouse_http_requests_total{route=\"/pools/{pool}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn three_instances_behind_a_balancer_behave_as_one(w: Arc<World>) -> TestResult {
    let port = free_port()?;
    let lb = format!("http://127.0.0.1:{port}");
    let public = url::Url::parse(&lb)?;
    let mut gws = Vec::new();
    for _ in 0..3 {
        gws.push(
            w.start_with(|c| {
                c.public_url = public.clone();
                c.admin_token = Some(Secret::new(ADMIN));
            })
            .await?,
        );
    }
    let dir = tempfile::tempdir()?;
    let ports: Vec<u16> = gws
        .iter()
        .map(|g| {
            g.base
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    let _balancer = Balancer::start(dir.path(), &ports, port).await?;
    let before: Vec<u64> = gws.iter().map(served).collect();

    // A sign-up: the code mailed by whichever worker, confirmed through the balancer.
    let email = unique_email("balanced");
    let (status, _) = post(&lb, "/v1/signup", json!({ "email": email, "password": PW })).await?;
    assert_eq!(status, StatusCode::ACCEPTED);
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    let (status, body) = post(
        &lb,
        "/v1/signup/confirm",
        json!({ "email": email, "code": code, "password": PW }),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.mail.to(&email).len(), 1, "one mail, three workers");

    // A refresh family across instances: a repeat within the grace period gets the same
    // successor wherever it lands; a reuse after it revokes the family everywhere.
    let (status, set) = post(
        &lb,
        "/v1/sessions/password",
        json!({ "email": email, "password": PW }),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{set}");
    let t0 = set["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut successors = Vec::new();
    for _ in 0..3 {
        let (status, next) =
            post(&lb, "/v1/sessions/refresh", json!({ "refresh_token": t0 })).await?;
        assert_eq!(status, StatusCode::OK, "{next}");
        successors.push(
            next["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "the family forked"
    );
    for gw in &gws {
        gw.clock.advance(30);
    }
    for token in [&t0, &successors[0]] {
        let (status, body) = post(
            &lb,
            "/v1/sessions/refresh",
            json!({ "refresh_token": token }),
        )
        .await?;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }

    // SIWE: each nonce issued by one instance and taken by the next, once.
    let authority = format!("127.0.0.1:{port}");
    let key = SiweKey::new();
    for _ in 0..3 {
        let (_, nonce) = post(&lb, "/v1/siwe/nonce", json!({})).await?;
        let body = key.sign_in_body(&authority, nonce["nonce"].as_str().unwrap_or_default());
        let (status, answer) = post(&lb, "/v1/sessions/siwe", body.clone()).await?;
        assert_eq!(status, StatusCode::OK, "{answer}");
        for _ in 0..3 {
            let (status, replay) = post(&lb, "/v1/sessions/siwe", body.clone()).await?;
            assert_eq!(
                (status, replay["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("nonce_invalid"))
            );
        }
    }

    // An authorization code: obtained through one instance's login page (the page itself
    // served through the balancer), redeemed at another, refused at the third.
    let app = web_app(&gws[0], json!({})).await?;
    let client_id = app["client_id"].as_str().unwrap_or_default().to_string();
    let mut browser = Browser::new(&gws[0]);
    let callback = browser
        .authorize(&auth_query(&client_id, &[]), &email, PW)
        .await?;
    assert!(callback.starts_with(CALLBACK));
    let code = param(&callback, "code").unwrap_or_default();
    let (status, tokens) = redeem(&gws[1], &app, &code, VERIFIER).await?;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, again) = redeem(&gws[2], &app, &code, VERIFIER).await?;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A lockout counted across the three: the pool's limit of failures per email and
    // address, reached through the balancer, holds at every instance.
    let mut locked = false;
    for _ in 0..12 {
        let (status, _) = post(
            &lb,
            "/v1/sessions/password",
            json!({ "email": email, "password": "a wrong guess here" }),
        )
        .await?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            locked = true;
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(locked, "the lockout was reached");
    for gw in &gws {
        let r = gw
            .post(
                "/v1/sessions/password",
                json!({ "email": email, "password": PW }),
            )
            .await?;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    }

    for (i, gw) in gws.iter().enumerate() {
        assert!(served(gw) > before[i], "instance {i} served none of it");
    }
    for gw in gws {
        gw.stop().await?;
    }
    Ok(())
}
