//! Storage credentials against a real S3-compatible server that checks SigV4 (s3s-fs):
//! first that it refuses tampered and expired URLs (so the rest means something), then the
//! recovery story (a wallet user's encrypted kit, back after a recovery by email), the fiat
//! story (a browser POST upload within size and type), and refusals.

use gatehouse_tests::s3::{BUCKET, S3Server};
use gatehouse_tests::{Gateway, World, unique_email, verified_claims};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    the_store_refuses_tampered_and_expired_urls,
    recovery_kit_survives_a_lost_wallet,
    fiat_documents_upload_within_size_and_type,
    grants_stay_inside_the_role,
    without_a_store_the_answer_names_the_settings,
);

const PW: &str = "correct horse battery";

async fn gateway(w: &World, s3: &S3Server) -> anyhow::Result<Gateway> {
    let settings = s3.settings();
    w.start_with(move |c| c.s3 = Some(settings)).await
}

/// A confirmed email account, signed in: its access token.
async fn email_user(w: &World, gw: &Gateway, tag: &str) -> anyhow::Result<String> {
    let set = gw.signed_in(&w.mail, &unique_email(tag), PW).await?;
    Ok(set["access_token"].as_str().unwrap().to_string())
}

async fn grant(gw: &Gateway, token: &str, body: Value) -> anyhow::Result<gatehouse_tests::Answer> {
    gw.post_auth("/v1/storage/credentials", body, token).await
}

fn url_of(g: &Value, i: usize) -> String {
    g["urls"][i]["url"].as_str().unwrap().to_string()
}

/// Sends a presigned request with the headers the grant says to send.
async fn send(
    http: &reqwest::Client,
    g: &Value,
    i: usize,
    body: Option<Vec<u8>>,
) -> anyhow::Result<(StatusCode, Vec<u8>)> {
    let entry = &g["urls"][i];
    let method: Method = entry["method"].as_str().unwrap().parse()?;
    let mut req = http.request(method, entry["url"].as_str().unwrap());
    if let Some(headers) = entry["headers"].as_object() {
        for (k, v) in headers {
            if k != "content-length" {
                req = req.header(k, v.as_str().unwrap());
            }
        }
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await?;
    Ok((r.status(), r.bytes().await?.to_vec()))
}

async fn storage_grants(w: &World) -> anyhow::Result<Vec<Value>> {
    Ok(
        sqlx::query("SELECT detail FROM audit_event WHERE kind = 'storage_grant' ORDER BY id")
            .fetch_all(&w.db().await?)
            .await?
            .iter()
            .map(|r| serde_json::from_str(&r.get::<String, _>(0)).unwrap())
            .collect(),
    )
}

async fn the_store_refuses_tampered_and_expired_urls(w: Arc<World>) -> TestResult {
    let s3 = S3Server::start().await?;
    let gw = gateway(&w, &s3).await?;
    // A pool role that lives one second, for the expiry check.
    let db = w.db().await?;
    let config: String = sqlx::query("SELECT config FROM pool WHERE name = 'main'")
        .fetch_one(&db)
        .await?
        .get(0);
    let mut config: Value = serde_json::from_str(&config)?;
    config["storage_roles"].as_array_mut().unwrap().push(json!({
        "name": "brief", "actions": ["get", "put"], "prefix": "brief/{sub}/", "ttl_seconds": 1,
        "max_size": 1024,
    }));
    config["storage_roles"].as_array_mut().unwrap().push(json!({
        "name": "shelf", "actions": ["put", "list", "delete"], "prefix": "{pool}/shelf/{sub}/",
        "ttl_seconds": 600, "max_size": 1024,
    }));
    sqlx::query("UPDATE pool SET config = $1 WHERE name = 'main'")
        .bind(config.to_string())
        .execute(&db)
        .await?;
    gw.stop().await?;
    let gw = gateway(&w, &s3).await?;
    let token = email_user(&w, &gw, "s3check").await?;
    let http = reqwest::Client::new();

    let kit = b"sealed recovery kit".to_vec();
    let g = grant(
        &gw,
        &token,
        json!({ "role": "recovery", "objects": [
            { "key": "kit.bin", "action": "put", "size": kit.len() },
            { "key": "kit.bin", "action": "get" },
        ]}),
    )
    .await?;
    assert_eq!(g.status, StatusCode::OK, "{g:?}");
    let g = g.body;
    assert_eq!(
        send(&http, &g, 0, Some(kit.clone())).await?.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&http, &g, 1, None).await?,
        (StatusCode::OK, kit.clone())
    );

    // Tampered: another key in the path, a flipped signature, a longer expiry.
    let get = url_of(&g, 1);
    let tampered = [
        get.replace("kit.bin", "other.bin"),
        {
            let i = get.find("X-Amz-Signature=").unwrap() + 16;
            let flipped = if &get[i..=i] == "0" { "1" } else { "0" };
            format!("{}{flipped}{}", &get[..i], &get[i + 1..])
        },
        get.replace("X-Amz-Expires=900", "X-Amz-Expires=3600"),
    ];
    for url in tampered {
        assert_ne!(url, get);
        let r = http.get(&url).send().await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{url}");
    }
    // A PUT that does not send the signed size is refused too.
    let put = url_of(&g, 0);
    let r = http
        .put(&put)
        .body(b"a different, longer body".to_vec())
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        s3.object(&format!("{}kit.bin", g["prefix"].as_str().unwrap())),
        Some(kit)
    );

    // A role with list and delete, its prefix templated with the pool.
    let shelf = grant(
        &gw,
        &token,
        json!({ "role": "shelf", "objects": [
            { "key": "a/one.txt", "action": "put", "size": 1 },
            { "action": "list" },
            { "key": "a/one.txt", "action": "delete" },
        ]}),
    )
    .await?;
    assert_eq!(shelf.status, StatusCode::OK, "{shelf:?}");
    let prefix = shelf.body["prefix"].as_str().unwrap().to_string();
    assert!(prefix.starts_with("main/shelf/"), "{prefix}");
    assert!(
        shelf.body["post"]["fields"]["key"]
            .as_str()
            .unwrap()
            .starts_with(&prefix)
    );
    assert_eq!(
        send(&http, &shelf.body, 0, Some(b"1".to_vec())).await?.0,
        StatusCode::OK
    );
    let (status, listing) = send(&http, &shelf.body, 1, None).await?;
    let listing = String::from_utf8_lossy(&listing);
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert!(listing.contains(&format!("{prefix}a/one.txt")), "{listing}");
    assert!(!listing.contains("kit.bin"), "only this prefix is listed");
    assert!(send(&http, &shelf.body, 2, None).await?.0.is_success());
    assert!(s3.object(&format!("{prefix}a/one.txt")).is_none());

    // Expired: a one-second grant, used after two.
    let brief = grant(
        &gw,
        &token,
        json!({ "role": "brief", "objects": [{ "key": "x.bin", "action": "put", "size": 4 }] }),
    )
    .await?;
    assert_eq!(brief.status, StatusCode::OK, "{brief:?}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = send(&http, &brief.body, 0, Some(b"late".to_vec())).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&body).contains("AccessDenied"));
    assert!(
        s3.object(&format!("{}x.bin", brief.body["prefix"].as_str().unwrap()))
            .is_none()
    );
    gw.stop().await
}

async fn recovery_kit_survives_a_lost_wallet(w: Arc<World>) -> TestResult {
    let s3 = S3Server::start().await?;
    let gw = gateway(&w, &s3).await?;
    let http = reqwest::Client::new();
    // A wallet user adds and verifies an email, then stores an encrypted kit.
    let wallet = gw.siwe_signed(None, json!({})).await?;
    let token = gw
        .post("/v1/sessions/siwe", wallet.body())
        .await?
        .str("access_token");
    let sub = verified_claims(&gw, &token, &gw.issuer).await?["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = grant(&gw, &token, json!({ "role": "recovery", "objects": [] })).await?;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "role_conditions_unmet"),
        "no verified email yet"
    );
    let email = unique_email("kit");
    gw.post_auth("/v1/me/email", json!({ "email": email }), &token)
        .await?;
    let code = w.mail.wait_code(&email, "confirm this address").await?;
    gw.post_auth("/v1/me/email/confirm", json!({ "code": code }), &token)
        .await?;

    let kit: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let g = grant(
        &gw,
        &token,
        json!({ "role": "recovery", "objects": [{ "key": "kit.age", "action": "put", "size": kit.len() }] }),
    )
    .await?;
    assert_eq!(g.status, StatusCode::OK, "{g:?}");
    assert_eq!(g.body["prefix"], format!("recovery/{sub}/"));
    assert_eq!(g.body["bucket"], BUCKET);
    assert_eq!(
        g.body["urls"][0]["headers"]["content-length"],
        kit.len().to_string()
    );
    assert_eq!(
        send(&http, &g.body, 0, Some(kit.clone())).await?.0,
        StatusCode::OK
    );

    // The wallet is lost: recovery by email, then the kit comes back.
    let rec = gw.recovered(&w.mail, &email).await?;
    let rec_token = rec.str("access_token");
    let g2 = grant(
        &gw,
        &rec_token,
        json!({ "role": "recovery", "objects": [{ "key": "kit.age", "action": "get" }] }),
    )
    .await?;
    assert_eq!(g2.status, StatusCode::OK, "{g2:?}");
    assert_eq!(send(&http, &g2.body, 0, None).await?, (StatusCode::OK, kit));

    // Audited: role, prefix, expiry, objects; never a signed URL.
    let grants = storage_grants(&w).await?;
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[1]["role"], "recovery");
    assert_eq!(grants[1]["prefix"], format!("recovery/{sub}/"));
    assert!(grants[1]["expires_at"].is_string());
    for g in &grants {
        assert!(!g.to_string().contains("X-Amz-Signature"));
    }
    gw.stop().await
}

async fn fiat_documents_upload_within_size_and_type(w: Arc<World>) -> TestResult {
    let s3 = S3Server::start().await?;
    let gw = gateway(&w, &s3).await?;
    let token = email_user(&w, &gw, "fiat").await?;
    let sub = verified_claims(&gw, &token, &gw.issuer).await?["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();

    let missing = grant(&gw, &token, json!({ "role": "fiat" })).await?;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::BAD_REQUEST, "upload_limits")
    );
    let g = grant(
        &gw,
        &token,
        json!({ "role": "fiat", "content_type": "image/png" }),
    )
    .await?;
    assert_eq!(g.status, StatusCode::OK, "{g:?}");
    let post = &g.body["post"];
    assert_eq!(post["max_size"], 10 * 1024 * 1024);
    let upload = |name: &str, content_type: &str, bytes: Vec<u8>, key: Option<String>| {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in post["fields"].as_object().unwrap() {
            let v = match (k.as_str(), &key) {
                ("key", Some(key)) => key.clone(),
                // The app names the object inside the prefix (s3s-fs does not substitute
                // the `${filename}` of the default key, as AWS and MinIO do).
                ("key", None) => v.as_str().unwrap().replace("${filename}", name),
                ("Content-Type", _) => content_type.to_string(),
                _ => v.as_str().unwrap().to_string(),
            };
            form = form.text(k.clone(), v);
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        http.post(post["url"].as_str().unwrap())
            .multipart(form)
            .send()
    };
    let png = b"\x89PNG\r\n\x1a\n fake but small".to_vec();
    let r = upload("passport.png", "image/png", png.clone(), None).await?;
    assert!(r.status().is_success(), "{}", r.text().await?);
    assert_eq!(
        s3.object(&format!("kyc/{sub}/passport.png")),
        Some(png.clone()),
        "{:?}",
        walk(s3.root.path())
    );

    // Over the size limit, another type, or a key outside the prefix: refused by the store.
    let big = vec![0u8; 10 * 1024 * 1024 + 1];
    let refused = |r: reqwest::Response, code: &'static str| async move {
        let status = r.status();
        let body = r.text().await?;
        assert!(
            status.is_client_error() && body.contains(code),
            "{status} {body}"
        );
        anyhow::Ok(())
    };
    refused(
        upload("big.png", "image/png", big, None).await?,
        "EntityTooLarge",
    )
    .await?;
    refused(
        upload("script.png", "text/html", png.clone(), None).await?,
        "InvalidPolicyDocument",
    )
    .await?;
    let r = upload(
        "x.png",
        "image/png",
        png.clone(),
        Some("kyc/someone-else/x.png".into()),
    )
    .await?;
    refused(r, "InvalidPolicyDocument").await?;
    for key in ["big.png", "script.png"] {
        assert!(s3.object(&format!("kyc/{sub}/{key}")).is_none());
    }
    assert!(s3.object("kyc/someone-else/x.png").is_none());

    // A policy for one exact key: any other key is refused by the store.
    let exact = grant(
        &gw,
        &token,
        json!({ "role": "fiat", "content_type": "application/pdf", "upload_key": "proof.pdf" }),
    )
    .await?;
    assert_eq!(exact.status, StatusCode::OK, "{exact:?}");
    let fields = &exact.body["post"]["fields"];
    assert_eq!(fields["key"], format!("kyc/{sub}/proof.pdf"));
    let send_exact = |key: &str| {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields.as_object().unwrap() {
            let v = if k == "key" {
                key.to_string()
            } else {
                v.as_str().unwrap().to_string()
            };
            form = form.text(k.clone(), v);
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(b"%PDF-1.7".to_vec()),
        );
        http.post(exact.body["post"]["url"].as_str().unwrap())
            .multipart(form)
            .send()
    };
    refused(
        send_exact(&format!("kyc/{sub}/other.pdf")).await?,
        "InvalidPolicyDocument",
    )
    .await?;
    assert!(
        send_exact(&format!("kyc/{sub}/proof.pdf"))
            .await?
            .status()
            .is_success()
    );
    assert_eq!(
        s3.object(&format!("kyc/{sub}/proof.pdf")),
        Some(b"%PDF-1.7".to_vec())
    );

    // Write only: no reading back, not even its own documents.
    let r = grant(
        &gw,
        &token,
        json!({ "role": "fiat", "content_type": "image/png", "objects": [{ "key": "passport.png", "action": "get" }] }),
    )
    .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "action_not_allowed")
    );
    let r = grant(
        &gw,
        &token,
        json!({ "role": "fiat", "content_type": "text/html" }),
    )
    .await?;
    assert_eq!(r.code(), "upload_limits");
    gw.stop().await
}

async fn grants_stay_inside_the_role(w: Arc<World>) -> TestResult {
    let s3 = S3Server::start().await?;
    let gw = gateway(&w, &s3).await?;
    let token = email_user(&w, &gw, "inside").await?;
    let other = email_user(&w, &gw, "neighbour").await?;
    let http = reqwest::Client::new();
    let before = storage_grants(&w).await?.len();

    for key in [
        "../x",
        "a/../../b",
        "/abs",
        "a%2F..%2Fb",
        "a\u{7}b",
        "a//b",
        "",
        &"k".repeat(1100),
    ] {
        let r = grant(
            &gw,
            &token,
            json!({ "role": "recovery", "objects": [{ "key": key, "action": "get" }] }),
        )
        .await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "object_key_invalid"),
            "{key:?}"
        );
    }
    let r = grant(&gw, &token, json!({ "role": "admin", "objects": [] })).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "role_not_found")
    );
    let r = grant(
        &gw,
        &token,
        json!({ "role": "recovery", "objects": [{ "key": "k", "action": "put" }] }),
    )
    .await?;
    assert_eq!(r.code(), "upload_limits", "a put must name its size");
    let r = grant(
        &gw,
        &token,
        json!({ "role": "recovery", "objects": [{ "key": "k", "action": "put", "size": 2 * 1024 * 1024 }] }),
    )
    .await?;
    assert_eq!(r.code(), "upload_limits");

    // The neighbour's kit cannot be reached with this account's grant.
    let theirs = grant(
        &gw,
        &other,
        json!({ "role": "recovery", "objects": [{ "key": "kit", "action": "put", "size": 3 }] }),
    )
    .await?
    .body;
    assert_eq!(
        send(&http, &theirs, 0, Some(b"abc".to_vec())).await?.0,
        StatusCode::OK
    );
    let mine = grant(
        &gw,
        &token,
        json!({ "role": "recovery", "objects": [{ "key": "kit", "action": "get" }] }),
    )
    .await?
    .body;
    assert_ne!(mine["prefix"], theirs["prefix"]);
    let swapped = url_of(&mine, 0).replace(
        mine["prefix"].as_str().unwrap(),
        theirs["prefix"].as_str().unwrap(),
    );
    assert_eq!(
        http.get(&swapped).send().await?.status(),
        StatusCode::FORBIDDEN
    );

    // A forged token, then a stale sign-in (16 minutes) for `recovery`, then an expired token.
    // One signature character changed, away from the last one (whose low bits are padding).
    let at = token.len() - 10;
    let swap = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{swap}{}", &token[..at], &token[at + 1..]);
    assert_ne!(forged, token);
    let r = grant(&gw, &forged, json!({ "role": "recovery" })).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    gw.clock.advance(16 * 60);
    let r = grant(&gw, &token, json!({ "role": "recovery" })).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "role_conditions_unmet")
    );
    assert!(r.body["detail"].as_str().unwrap().contains("15 minutes"));
    gw.clock.advance(3600);
    let r = grant(&gw, &token, json!({ "role": "recovery" })).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        storage_grants(&w).await?.len(),
        before + 2,
        "only the two grants given"
    );
    gw.stop().await
}

async fn without_a_store_the_answer_names_the_settings(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let token = email_user(&w, &gw, "nostore").await?;
    let r = grant(&gw, &token, json!({ "role": "recovery" })).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "storage_not_configured")
    );
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("GATEHOUSE_S3_ENDPOINT")
    );
    assert_eq!(storage_grants(&w).await?.len(), 0);
    gw.stop().await
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
