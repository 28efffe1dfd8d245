//! Backends validating unified tokens: the `gatehouse-verify` crate (and its axum
//! integration), and the Node (jose) and Python (PyJWT) snippets of docs/backends.md.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use gatehouse_tests::{Gateway, World, clients_dir, doc_snippet, unique_email};
use gatehouse_verify::{Error, Verifier};
use gateway::keys::Alg;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use crate::TestResult;

crate::tests!(
    crate_accepts_real_tokens,
    crate_follows_key_rotation_with_tokens_in_flight,
    crate_refuses_forged_and_misused_tokens,
    forged_kids_cause_no_request_storm,
    axum_extractor_and_layer_answer_rfc6750,
    node_and_python_snippets_validate_and_refuse,
);

const PW: &str = "correct horse battery";

async fn verifier(gw: &Gateway) -> anyhow::Result<Verifier> {
    // The test gateway's public URL is not resolvable, so the JWKS address is given.
    Ok(Verifier::builder(&gw.issuer)
        .audience(&gw.issuer)
        .client_id("direct")
        .jwks_uri(format!("{}/.well-known/jwks.json", gw.api))
        .refetch_cooldown(Duration::from_secs(2))
        .build()
        .await?)
}

async fn signed_in(w: &World, gw: &Gateway) -> anyhow::Result<Value> {
    gw.signed_in(&w.mail, &unique_email("backend"), PW).await
}

/// A token signed by the pool's real current key, with any claims.
async fn sign(gw: &Gateway, typ: &str, claims: Value) -> anyhow::Result<String> {
    sign_with(gw, Alg::Es256, typ, claims).await
}

async fn sign_with(gw: &Gateway, alg: Alg, typ: &str, claims: Value) -> anyhow::Result<String> {
    let pool = gw.state.store.find_pool_by_name("main").await?.unwrap();
    let keys = gw.state.keys.keys(pool.id, gw.clock.now()).await?;
    Ok(keys.sign(alg, typ, &claims)?)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn crate_accepts_real_tokens(w: Arc<World>) -> TestResult {
    // This gateway's public URL is its real address, so discovery can be used as is.
    let gw = w
        .start_with(|c| c.public_url = url::Url::parse(&format!("http://{}", c.listen)).unwrap())
        .await?;
    let issuer = format!("{}/pools/main", gw.base);
    let v = Verifier::builder(&issuer)
        .audience(&issuer)
        .client_id("direct")
        .build()
        .await?;
    assert_eq!(v.fetch_count().await, 1);
    // Discovery must name the issuer asked for (OpenID Connect Discovery §4.3).
    let elsewhere = format!("{issuer}/");
    assert!(matches!(
        Verifier::discover(&elsewhere, &elsewhere).await,
        Err(Error::WrongIssuer)
    ));
    let set = signed_in(&w, &gw).await?;
    let at = v
        .verify_access_token(set["access_token"].as_str().unwrap())
        .await?;
    let me = gw
        .get_auth("/v1/me", set["access_token"].as_str().unwrap())
        .await?;
    assert_eq!(json!(at.sub), me.body["sub"]);
    assert_eq!(at.amr, ["pwd"]);
    assert!(at.has_scope("email") && !at.has_scope("admin"));
    assert!(at.authenticated_within(Duration::from_secs(60)));
    assert!(at.wallets.is_empty() && at.wallet.is_none());
    assert!(!at.has_wallet("eip155:1:0x0000000000000000000000000000000000000001"));
    assert_eq!(at.client_id, "direct");
    let id = v
        .verify_id_token(set["id_token"].as_str().unwrap(), None)
        .await?;
    assert_eq!(id.sub, at.sub);
    assert_eq!(id.email_verified, Some(true));
    assert!(matches!(
        v.verify_id_token(set["id_token"].as_str().unwrap(), Some("n-0S6"))
            .await,
        Err(Error::WrongNonce)
    ));
    // Neither kind passes for the other.
    assert!(matches!(
        v.verify_id_token(set["access_token"].as_str().unwrap(), None)
            .await,
        Err(Error::NotAnIdToken)
    ));
    assert!(matches!(
        v.verify_access_token(set["id_token"].as_str().unwrap())
            .await,
        Err(Error::NotAnAccessToken)
    ));
    // RS256 keys verify too, and only as RS256; wallet claims parse as CAIP-10.
    let payload_b64 = set["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    let mut claims: Value = serde_json::from_slice(&B64.decode(payload_b64)?)?;
    claims["wallets"] = json!(["eip155:1:0xAbC0000000000000000000000000000000000001"]);
    claims["wallet"] = json!("eip155:1:0xAbC0000000000000000000000000000000000001");
    let rs = sign_with(&gw, Alg::Rs256, "at+jwt", claims.clone()).await?;
    let rs_claims = v.verify_access_token(&rs).await?;
    assert!(
        rs_claims.has_wallet("eip155:1:0xabc0000000000000000000000000000000000001"),
        "CAIP-10, any case"
    );
    assert_eq!(
        rs_claims.wallet.unwrap().to_string(),
        "eip155:1:0xAbC0000000000000000000000000000000000001"
    );
    let es = sign_with(&gw, Alg::Es256, "at+jwt", claims).await?;
    let es_header: Value = serde_json::from_slice(&B64.decode(es.split('.').next().unwrap())?)?;
    let confused = format!(
        "{}.{}.{}",
        B64.encode(serde_json::to_vec(
            &json!({ "alg": "RS256", "typ": "at+jwt", "kid": es_header["kid"] })
        )?),
        rs.split('.').nth(1).unwrap(),
        rs.split('.').nth(2).unwrap()
    );
    assert!(matches!(
        v.verify_access_token(&confused).await,
        Err(Error::AlgorithmMismatch)
    ));
    gw.stop().await
}

async fn crate_follows_key_rotation_with_tokens_in_flight(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let v = verifier(&gw).await?;
    let email = unique_email("rotating");
    let old = gw.signed_in(&w.mail, &email, PW).await?;
    let old_at = old["access_token"].as_str().unwrap().to_string();
    v.verify_access_token(&old_at).await?;
    let fetches = v.fetch_count().await;

    let pool = gw.state.store.find_pool_by_name("main").await?.unwrap();
    gw.state.keys.rotate(&pool, 0, gw.clock.now()).await?;
    // Past the refetch cooldown since the verifier's first fetch (2 s here).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let new = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    let new_at = new.str("access_token");
    assert_ne!(
        jsonwebtoken::decode_header(&new_at)?.kid,
        jsonwebtoken::decode_header(&old_at)?.kid
    );
    v.verify_access_token(&new_at).await?;
    assert_eq!(
        v.fetch_count().await,
        fetches + 1,
        "the new kid is fetched once"
    );
    v.verify_access_token(&new_at).await?;
    v.verify_access_token(&old_at).await?;
    assert_eq!(
        v.fetch_count().await,
        fetches + 1,
        "old tokens stay valid from the same fetch"
    );
    gw.stop().await
}

async fn crate_refuses_forged_and_misused_tokens(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let v = verifier(&gw).await?;
    let set = signed_in(&w, &gw).await?;
    let at = set["access_token"].as_str().unwrap();
    let parts: Vec<&str> = at.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0])?)?;
    let mut payload: Value = serde_json::from_slice(&B64.decode(parts[1])?)?;
    let enc = |v: &Value| B64.encode(serde_json::to_vec(v).unwrap());

    // Tampered payload.
    let mut tampered = payload.clone();
    tampered["scope"] = json!("openid email profile admin");
    let t = format!("{}.{}.{}", parts[0], enc(&tampered), parts[2]);
    assert!(
        matches!(v.verify_access_token(&t).await, Err(Error::BadSignature)),
        "tampered"
    );

    // alg none, in any case.
    for alg in ["none", "NONE", "None"] {
        let h = json!({ "alg": alg, "typ": "at+jwt", "kid": header["kid"] });
        let t = format!("{}.{}.", enc(&h), parts[1]);
        assert!(
            matches!(v.verify_access_token(&t).await, Err(Error::Algorithm(_))),
            "{alg}"
        );
    }

    // HS256 signed with the published public key as the secret (the classic confusion).
    let jwks: Value = gw
        .http
        .get(format!("{}/.well-known/jwks.json", gw.api))
        .send()
        .await?
        .json()
        .await?;
    let public = serde_json::to_vec(&jwks["keys"][0])?;
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.typ = Some("at+jwt".into());
    h.kid = header["kid"].as_str().map(String::from);
    let hs = jsonwebtoken::encode(
        &h,
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )?;
    assert!(
        matches!(v.verify_access_token(&hs).await, Err(Error::Algorithm(_))),
        "HS256"
    );

    // Header parameters that would make a verifier trust the token's own key material.
    for (name, value) in [
        ("jwk", jwks["keys"][0].clone()),
        ("jku", json!("http://127.0.0.1:1/jwks")),
        ("x5u", json!("http://127.0.0.1:1/c")),
        ("crit", json!(["exp"])),
    ] {
        let mut h = header.clone();
        h[name] = value;
        let t = format!("{}.{}.{}", enc(&h), parts[1], parts[2]);
        assert!(
            matches!(
                v.verify_access_token(&t).await,
                Err(Error::ForbiddenHeader(_))
            ),
            "{name}"
        );
    }

    // An ID token is not an access token.
    let id = set["id_token"].as_str().unwrap();
    assert!(matches!(
        v.verify_access_token(id).await,
        Err(Error::NotAnAccessToken)
    ));

    // Genuinely signed, but expired, not yet valid, from the future, another issuer, another audience.
    let n = now();
    payload["exp"] = json!(n - 3600);
    payload["iat"] = json!(n - 7200);
    assert!(matches!(
        v.verify_access_token(&sign(&gw, "at+jwt", payload.clone()).await?)
            .await,
        Err(Error::Expired)
    ));
    payload["exp"] = json!(n + 3600);
    payload["iat"] = json!(n);
    payload["nbf"] = json!(n + 600);
    assert!(matches!(
        v.verify_access_token(&sign(&gw, "at+jwt", payload.clone()).await?)
            .await,
        Err(Error::NotYetValid)
    ));
    payload.as_object_mut().unwrap().remove("nbf");
    payload["iat"] = json!(n + 600);
    assert!(matches!(
        v.verify_access_token(&sign(&gw, "at+jwt", payload.clone()).await?)
            .await,
        Err(Error::IssuedInFuture)
    ));
    payload["iat"] = json!(n);
    payload["iss"] = json!("http://evil.test/pools/main");
    assert!(matches!(
        v.verify_access_token(&sign(&gw, "at+jwt", payload.clone()).await?)
            .await,
        Err(Error::WrongIssuer)
    ));
    payload["iss"] = json!(gw.issuer);
    payload["aud"] = json!("another-api");
    assert!(matches!(
        v.verify_access_token(&sign(&gw, "at+jwt", payload.clone()).await?)
            .await,
        Err(Error::WrongAudience)
    ));
    // And the same token with every claim right is accepted: the refusals above are real.
    payload["aud"] = json!(gw.issuer);
    v.verify_access_token(&sign(&gw, "at+jwt", payload).await?)
        .await?;
    gw.stop().await
}

async fn forged_kids_cause_no_request_storm(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let v = verifier(&gw).await?;
    let set = signed_in(&w, &gw).await?;
    let at = set["access_token"].as_str().unwrap().to_string();
    let parts: Vec<String> = at.split('.').map(String::from).collect();
    let header: Value = serde_json::from_slice(&B64.decode(&parts[0])?)?;
    // Let the cooldown since the first fetch pass, so one refetch is allowed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = (v.fetch_count().await, v.attempt_count());
    let forged: Vec<_> = (0..50)
        .map(|i| {
            let mut h = header.clone();
            h["kid"] = json!(format!("forged-{i}"));
            let t = format!(
                "{}.{}.{}",
                B64.encode(serde_json::to_vec(&h).unwrap()),
                parts[1],
                parts[2]
            );
            let v = v.clone();
            tokio::spawn(async move { v.verify_access_token(&t).await })
        })
        .collect();
    for task in forged {
        assert!(matches!(task.await?, Err(Error::UnknownKey)));
    }
    assert_eq!(
        (v.fetch_count().await, v.attempt_count()),
        (before.0 + 1, before.1 + 1),
        "50 concurrent forged kids, one fetch"
    );
    v.verify_access_token(&at).await?;

    // The issuer goes away: cached keys serve within max_stale, failed fetches are single
    // flight too, and past max_stale validation fails as unavailable (not as invalid).
    let outage = Verifier::builder(&gw.issuer)
        .audience(&gw.issuer)
        .jwks_uri(format!("{}/.well-known/jwks.json", gw.api))
        .cache_ttl(Duration::from_millis(500))
        .max_stale(Duration::from_millis(1500))
        .refetch_cooldown(Duration::from_millis(500))
        .fetch_timeout(Duration::from_secs(2))
        .build()
        .await?;
    gw.stop().await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let attempts = outage.attempt_count();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (o, t) = (outage.clone(), at.clone());
            tokio::spawn(async move { o.verify_access_token(&t).await })
        })
        .collect();
    for call in calls {
        call.await??; // stale but within max_stale: still accepted
    }
    assert_eq!(
        outage.attempt_count(),
        attempts + 1,
        "one failed attempt for 20 callers"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        matches!(outage.verify_access_token(&at).await, Err(Error::Fetch(_))),
        "past max_stale"
    );
    Ok(())
}

async fn axum_extractor_and_layer_answer_rfc6750(w: Arc<World>) -> TestResult {
    use axum::Router;
    use axum::extract::FromRef;
    use axum::routing::get;
    use gatehouse_verify::web::{Bearer, RequireBearerLayer};

    #[derive(Clone)]
    struct St(Verifier);
    impl FromRef<St> for Verifier {
        fn from_ref(s: &St) -> Verifier {
            s.0.clone()
        }
    }
    let gw = w.start().await?;
    let v = verifier(&gw).await?;
    let api = Router::new()
        .route(
            "/layered",
            get(
                |axum::Extension(c): axum::Extension<gatehouse_verify::AccessClaims>| async move {
                    c.sub
                },
            ),
        )
        .layer(RequireBearerLayer::new(v.clone()));
    let app = Router::new()
        .route("/extracted", get(|Bearer(c): Bearer| async move { c.sub }))
        .merge(api)
        .with_state(St(v));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let set = signed_in(&w, &gw).await?;
    let good = set["access_token"].as_str().unwrap();
    let sub = gw.get_auth("/v1/me", good).await?.body["sub"]
        .as_str()
        .unwrap()
        .to_string();
    for path in ["/extracted", "/layered"] {
        let url = format!("{base}{path}");
        let r = gw.http.get(&url).bearer_auth(good).send().await?;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await?, sub);
        let r = gw.http.get(&url).send().await?;
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        for bad in [set["id_token"].as_str().unwrap(), "garbage"] {
            let r = gw.http.get(&url).bearer_auth(bad).send().await?;
            assert_eq!(r.status(), 401, "{path}");
            assert_eq!(
                r.headers()["www-authenticate"],
                "Bearer error=\"invalid_token\""
            );
        }
    }
    server.abort();
    gw.stop().await
}

async fn node_and_python_snippets_validate_and_refuse(w: Arc<World>) -> TestResult {
    let clients = clients_dir()?;
    let gw = w.start().await?;
    let set = signed_in(&w, &gw).await?;
    let good = set["access_token"].as_str().unwrap().to_string();
    let parts: Vec<&str> = good.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&B64.decode(parts[1])?)?;
    payload["sub"] = json!("someone-else");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(serde_json::to_vec(&payload)?),
        parts[2]
    );
    let id_token = set["id_token"].as_str().unwrap().to_string();
    // Right in every claim but `typ`: only the typ check refuses it.
    let mut access_claims: Value = serde_json::from_slice(&B64.decode(parts[1])?)?;
    let not_at = sign(&gw, "JWT", access_claims.clone()).await?;
    access_claims["exp"] = json!(now() - 3600);
    access_claims["iat"] = json!(now() - 7200);
    let expired = sign(&gw, "at+jwt", access_claims).await?;
    let mut forged_header: Value = serde_json::from_slice(&B64.decode(parts[0])?)?;
    forged_header["kid"] = json!("forged");
    let forged = format!(
        "{}.{}.{}",
        B64.encode(serde_json::to_vec(&forged_header)?),
        parts[1],
        parts[2]
    );

    // Beside node_modules (so `import 'jose'` resolves), under names of this test's own,
    // removed when dropped whatever the outcome.
    let node_file = tempfile::Builder::new()
        .prefix("verify-")
        .suffix(".mjs")
        .tempfile_in(&clients)?;
    std::fs::write(node_file.path(), doc_snippet("backends.md", "verify.mjs")?)?;
    let py_file = tempfile::Builder::new()
        .prefix("verify-")
        .suffix(".py")
        .tempfile_in(&clients)?;
    std::fs::write(py_file.path(), doc_snippet("backends.md", "verify.py")?)?;
    let (node, py) = (node_file.path().to_path_buf(), py_file.path().to_path_buf());
    let run = |program: std::path::PathBuf, script: std::path::PathBuf, token: String| {
        let issuer = gw.issuer.clone();
        let jwks = format!("{}/.well-known/jwks.json", gw.api);
        let dir = clients.clone();
        async move {
            tokio::process::Command::new(program)
                .arg(script)
                .arg(token)
                .current_dir(dir)
                .env("GATEHOUSE_ISSUER", issuer)
                .env("GATEHOUSE_JWKS_URI", jwks)
                .output()
                .await
        }
    };
    let python = clients.join(".venv/bin/python");
    for (program, script) in [
        (std::path::PathBuf::from("node"), node.clone()),
        (python, py.clone()),
    ] {
        let ok = run(program.clone(), script.clone(), good.clone()).await?;
        assert!(
            ok.status.success(),
            "{}: {}",
            script.display(),
            String::from_utf8_lossy(&ok.stderr)
        );
        let claims: Value = serde_json::from_slice(&ok.stdout)?;
        assert_eq!(
            claims["sub"],
            gw.get_auth("/v1/me", &good).await?.body["sub"]
        );
        for bad in [&tampered, &id_token, &not_at, &expired, &forged] {
            let out = run(program.clone(), script.clone(), bad.clone()).await?;
            assert!(
                !out.status.success(),
                "{} accepted a bad token",
                script.display()
            );
        }
    }
    gw.stop().await
}
