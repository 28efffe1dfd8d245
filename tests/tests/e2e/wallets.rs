//! Wallet credentials with EOAs (contract wallets: `contracts.rs`): SIWE nonces across
//! instances, sign-in, policy refusals, linking, the last-credential rule, recovery of a
//! wallet-first account by email, and dApps' own clients (viem, the `siwe` package, ethers,
//! jose) driving the gateway.

use gatehouse_tests::{Backend, World, node_client, unique_email, verified_claims};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    wallet_sign_in_creates_an_account_once,
    nonces_are_issued_here_and_single_use,
    messages_outside_policy_are_refused,
    linking_conflicts_and_the_last_credential,
    recovery_relinks_a_lost_wallet,
    a_nonce_is_used_once_across_instances,
    dapp_clients_sign_in_and_validate_with_jose,
);

const PW: &str = "correct horse battery";

async fn count(w: &World, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&w.db().await?).await?.get(0))
}

async fn wallet_sign_in_creates_an_account_once(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let signed = gw.siwe_signed(None, json!({})).await?;
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(at["amr"], json!(["siwe"]));
    assert_eq!(at["wallet"], signed.caip10(1));
    assert_eq!(at["wallets"], json!([signed.caip10(1)]));
    let sub = at["sub"].as_str().unwrap().to_string();
    assert!(
        !sub.to_lowercase()
            .contains(&signed.address[2..].to_lowercase()),
        "sub is never the address"
    );
    let id = verified_claims(&gw, &r.str("id_token"), "direct").await?;
    assert_eq!(id["wallets"], json!([signed.caip10(1)]));
    assert_eq!(id["email"], json!(null));
    // Backends validate it with gatehouse-verify and see the wallet (issue 6).
    let verifier = gatehouse_verify::Verifier::builder(&gw.issuer)
        .audience(&gw.issuer)
        .jwks_uri(format!("{}/.well-known/jwks.json", gw.api))
        .build()
        .await?;
    let claims = verifier.verify_access_token(&r.str("access_token")).await?;
    assert!(claims.signed_in_with("siwe"));
    assert!(claims.has_wallet(&signed.caip10(1).to_lowercase()));
    assert_eq!(claims.wallet.map(|w| w.to_string()), Some(signed.caip10(1)));

    // Stored: an active account with one EOA credential and nothing else.
    let db = w.db().await?;
    let row = sqlx::query("SELECT a.status, w.kind, w.chain_id, w.address, w.address_key FROM account a JOIN wallet_credential w ON w.account_id = a.id WHERE a.id = $1")
        .bind(&sub)
        .fetch_one(&db)
        .await?;
    assert_eq!(row.get::<String, _>("status"), "active");
    assert_eq!(row.get::<String, _>("kind"), "eoa");
    assert_eq!(
        row.get::<i64, _>("chain_id"),
        0,
        "an EOA is the same wallet on every chain"
    );
    assert_eq!(row.get::<String, _>("address"), signed.address);
    assert_eq!(
        row.get::<String, _>("address_key"),
        signed.address.to_lowercase()
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM email_credential").await?, 0);

    // The same wallet again (a new message and nonce): the same account.
    let again = gw.siwe_signed(Some(&signed.private_key), json!({})).await?;
    let r2 = gw.post("/v1/sessions/siwe", again.body()).await?;
    let at2 = verified_claims(&gw, &r2.str("access_token"), &gw.issuer).await?;
    assert_eq!(at2["sub"], sub.as_str());
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 1);
    let me = gw.get_auth("/v1/me", &r2.str("access_token")).await?;
    assert_eq!(
        me.body["credentials"]["wallets"][0]["caip10"],
        signed.caip10(1)
    );
    assert!(me.body["credentials"]["wallets"][0]["last_used_at"].is_i64());
    let kinds: Vec<String> =
        sqlx::query("SELECT kind FROM audit_event WHERE account_id = $1 ORDER BY id")
            .bind(&sub)
            .fetch_all(&db)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(kinds, ["signup", "sign_in", "sign_in"]);
    // Refresh keeps the signer in the token.
    let refreshed = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": r2.str("refresh_token") }),
        )
        .await?;
    let at3 = verified_claims(&gw, &refreshed.str("access_token"), &gw.issuer).await?;
    assert_eq!(at3["wallet"], signed.caip10(1));
    gw.stop().await
}

async fn nonces_are_issued_here_and_single_use(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let n = gw.post("/v1/siwe/nonce", json!({})).await?;
    assert_eq!(n.status, StatusCode::OK);
    assert_eq!(n.header("cache-control"), "no-store");
    let nonce = n.str("nonce");
    assert!(
        nonce.len() >= 16 && nonce.chars().all(|c| c.is_ascii_alphanumeric()),
        "{nonce}"
    );
    assert!(n.str("expires_at").ends_with('Z'));
    assert_ne!(gw.siwe_nonce().await?, nonce);

    let signed = gw.siwe_signed(None, json!({})).await?;
    assert_eq!(
        gw.post("/v1/sessions/siwe", signed.body()).await?.status,
        StatusCode::OK
    );
    let replay = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(
        (replay.status, replay.code()),
        (StatusCode::BAD_REQUEST, "nonce_invalid")
    );
    // A nonce the gateway never issued.
    let forged = gatehouse_tests::siwe_sign(&json!({
        "domain": "gatehouse.test", "uri": "http://gatehouse.test/login", "chainId": 1, "nonce": "neverissued12345"
    }))
    .await?;
    let r = gw.post("/v1/sessions/siwe", forged.body()).await?;
    assert_eq!(r.code(), "nonce_invalid");
    // Expired nonce: the ephemeral store forgets it after 5 minutes (checked through the
    // message's issued-at, which the policy bounds by the nonce lifetime).
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 1);
    gw.stop().await
}

async fn messages_outside_policy_are_refused(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let past = "2020-01-01T00:00:00Z";
    let cases = [
        (
            json!({ "domain": "evil.test" }),
            StatusCode::BAD_REQUEST,
            "siwe_domain_mismatch",
        ),
        (
            json!({ "uri": "http://evil.test/login" }),
            StatusCode::BAD_REQUEST,
            "siwe_uri_mismatch",
        ),
        (
            json!({ "chainId": 137 }),
            StatusCode::BAD_REQUEST,
            "siwe_chain_not_allowed",
        ),
        (
            json!({ "expirationTime": past }),
            StatusCode::BAD_REQUEST,
            "siwe_expired",
        ),
        (
            json!({ "notBefore": "2100-01-01T00:00:00Z" }),
            StatusCode::BAD_REQUEST,
            "siwe_not_yet_valid",
        ),
        (
            json!({ "issuedAt": past }),
            StatusCode::BAD_REQUEST,
            "siwe_issued_at_invalid",
        ),
        (
            json!({ "address": "0x0000000000000000000000000000000000000001" }),
            StatusCode::UNAUTHORIZED,
            "signature_invalid",
        ),
    ];
    for (extra, status, code) in cases {
        let signed = gw.siwe_signed(None, extra.clone()).await?;
        let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
        assert_eq!((r.status, r.code()), (status, code), "{extra}");
        assert_eq!(r.header("content-type"), "application/problem+json");
    }
    let signed = gw.siwe_signed(None, json!({})).await?;
    for (body, code) in [
        (
            json!({ "message": signed.message, "signature": "0x1234" }),
            "signature_invalid",
        ),
        (
            json!({ "message": signed.message.replace('\n', "\r\n"), "signature": signed.signature }),
            "siwe_message_invalid",
        ),
        (
            json!({ "message": "hello", "signature": signed.signature }),
            "siwe_message_invalid",
        ),
    ] {
        let r = gw.post("/v1/sessions/siwe", body).await?;
        assert_eq!(r.code(), code);
    }
    assert_eq!(
        count(&w, "SELECT COUNT(*) FROM account").await?,
        0,
        "nothing was created"
    );
    assert_eq!(
        count(&w, "SELECT COUNT(*) FROM wallet_credential").await?,
        0
    );
    // Chain ids default to 1 plus every chain with an RPC endpoint configured.
    let local = gw.siwe_signed(None, json!({ "chainId": 31337 })).await?;
    assert_eq!(
        gw.post("/v1/sessions/siwe", local.body()).await?.code(),
        "siwe_chain_not_allowed"
    );
    gw.stop().await?;
    let gw = w
        .start_with(|c| {
            c.rpc_urls = vec![(31337, accounts::secret::Secret::new("http://127.0.0.1:1"))]
        })
        .await?;
    // Now allowed; and since the chain can be read, it is asked first (ERC-6492's order):
    // its endpoint being down refuses the sign-in (sign-ins that work: contracts.rs).
    let local = gw.siwe_signed(None, json!({ "chainId": 31337 })).await?;
    let r = gw.post("/v1/sessions/siwe", local.body()).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"),
        "{r:?}"
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 0);
    gw.stop().await
}

async fn linking_conflicts_and_the_last_credential(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("linker");
    let set = gw.signed_in(&w.mail, &email, PW).await?;
    let token = set["access_token"].as_str().unwrap().to_string();
    let me = gw.get_auth("/v1/me", &token).await?;
    let sub = me.body["sub"].as_str().unwrap().to_string();

    // Link W: a fresh signature by W, with the session.
    let w1 = gw.siwe_signed(None, json!({})).await?;
    let r = gw.post_auth("/v1/me/wallets", w1.body(), &token).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["wallets"], json!([w1.caip10(1)]));
    w.mail.wait(&email, "wallet was linked").await?;
    // Unauthenticated linking is refused.
    let w_other = gw.siwe_signed(None, json!({})).await?;
    assert_eq!(
        gw.post("/v1/me/wallets", w_other.body()).await?.status,
        StatusCode::UNAUTHORIZED
    );
    // W signs in to the same account; its token now lists the wallet.
    let again = gw.siwe_signed(Some(&w1.private_key), json!({})).await?;
    let r = gw.post("/v1/sessions/siwe", again.body()).await?;
    let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(at["sub"], sub.as_str());

    // A wallet-only account B cannot take W: 409 and nothing changes.
    let w2 = gw.siwe_signed(None, json!({})).await?;
    let b = gw.post("/v1/sessions/siwe", w2.body()).await?;
    let b_token = b.str("access_token");
    let steal = gw.siwe_signed(Some(&w1.private_key), json!({})).await?;
    let r = gw
        .post_auth("/v1/me/wallets", steal.body(), &b_token)
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "wallet_already_linked")
    );
    let owner: String =
        sqlx::query("SELECT account_id FROM wallet_credential WHERE address_key = $1")
            .bind(w1.address.to_lowercase())
            .fetch_one(&w.db().await?)
            .await?
            .get(0);
    assert_eq!(owner, sub);
    // B's only wallet is its last credential.
    let path = format!("/v1/me/wallets/{}", w2.caip10(1));
    let r = gw.call(Method::DELETE, &path, None, Some(&b_token)).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "last_credential")
    );
    assert_eq!(
        count(&w, "SELECT COUNT(*) FROM wallet_credential").await?,
        2
    );
    // Unknown wallet.
    let r = gw
        .call(
            Method::DELETE,
            "/v1/me/wallets/eip155:1:0x0000000000000000000000000000000000000001",
            None,
            Some(&token),
        )
        .await?;
    assert_eq!(r.code(), "wallet_not_found");

    // The email account may drop W (it keeps its password), in any address case.
    let path = format!("/v1/me/wallets/eip155:1:{}", w1.address.to_lowercase());
    let r = gw.call(Method::DELETE, &path, None, Some(&token)).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["wallets"], json!([]));
    w.mail.wait(&email, "wallet was removed").await?;
    // W is nobody's now: its next sign-in makes a new account.
    let fresh = gw.siwe_signed(Some(&w1.private_key), json!({})).await?;
    let r = gw.post("/v1/sessions/siwe", fresh.body()).await?;
    let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_ne!(at["sub"], sub.as_str());
    let kinds = count(
        &w,
        "SELECT COUNT(*) FROM audit_event WHERE kind IN ('wallet_linked', 'wallet_unlinked')",
    )
    .await?;
    assert_eq!(kinds, 2);

    // B links a second wallet; unlinking both at once leaves one (DESIGN rule 3).
    let w3 = gw.siwe_signed(None, json!({})).await?;
    let r = gw.post_auth("/v1/me/wallets", w3.body(), &b_token).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let (p2, p3) = (
        format!("/v1/me/wallets/{}", w2.caip10(1)),
        format!("/v1/me/wallets/{}", w3.caip10(1)),
    );
    let (r2, r3) = tokio::join!(
        gw.call(Method::DELETE, &p2, None, Some(&b_token)),
        gw.call(Method::DELETE, &p3, None, Some(&b_token)),
    );
    let mut statuses = vec![r2?.status, r3?.status];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::CONFLICT]);
    let left: i64 = sqlx::query(
        "SELECT COUNT(*) FROM wallet_credential w JOIN wallet_credential b \
         ON b.account_id = w.account_id WHERE b.address_key = $1",
    )
    .bind(w3.address.to_lowercase())
    .fetch_optional(&w.db().await?)
    .await?
    .map_or(0, |r| r.get(0));
    let left2: i64 = sqlx::query(
        "SELECT COUNT(*) FROM wallet_credential w JOIN wallet_credential b \
         ON b.account_id = w.account_id WHERE b.address_key = $1",
    )
    .bind(w2.address.to_lowercase())
    .fetch_optional(&w.db().await?)
    .await?
    .map_or(0, |r| r.get(0));
    assert_eq!(left + left2, 1, "exactly one wallet stays with B");
    gw.stop().await
}

async fn recovery_relinks_a_lost_wallet(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    // A wallet-first account adds and verifies an email.
    let lost = gw.siwe_signed(None, json!({})).await?;
    let r = gw.post("/v1/sessions/siwe", lost.body()).await?;
    let token = r.str("access_token");
    let sub = verified_claims(&gw, &token, &gw.issuer).await?["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let email = unique_email("walletfirst");
    assert_eq!(
        gw.post_auth("/v1/me/email", json!({ "email": email }), &token)
            .await?
            .status,
        StatusCode::ACCEPTED
    );
    let code = w.mail.wait_code(&email, "confirm this address").await?;
    assert_eq!(
        gw.post_auth("/v1/me/email/confirm", json!({ "code": code }), &token)
            .await?
            .status,
        StatusCode::OK
    );

    // The wallet is lost: recovery by email gives a recovery session.
    let rec = gw.recovered(&w.mail, &email).await?;
    assert_eq!(rec.status, StatusCode::OK, "{rec:?}");
    let rec_token = rec.str("access_token");
    assert_eq!(
        verified_claims(&gw, &rec_token, &gw.issuer).await?["amr"],
        json!(["email"])
    );
    w.mail.wait(&email, "was recovered").await?;
    // It links a new wallet and drops the lost one.
    let new_wallet = gw.siwe_signed(None, json!({})).await?;
    assert_eq!(
        gw.post_auth("/v1/me/wallets", new_wallet.body(), &rec_token)
            .await?
            .status,
        StatusCode::CREATED
    );
    w.mail.wait(&email, "wallet was linked").await?;
    let path = format!("/v1/me/wallets/{}", lost.caip10(1));
    let r = gw
        .call(Method::DELETE, &path, None, Some(&rec_token))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    w.mail.wait(&email, "wallet was removed").await?;
    // The new wallet signs in to the same account; the old session is over.
    let signed = gw
        .siwe_signed(Some(&new_wallet.private_key), json!({}))
        .await?;
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(
        verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?["sub"],
        sub.as_str()
    );
    assert_eq!(
        gw.get_auth("/v1/me", &token).await?.status,
        StatusCode::UNAUTHORIZED
    );
    gw.stop().await
}

async fn a_nonce_is_used_once_across_instances(w: Arc<World>) -> TestResult {
    let a = w.start().await?;
    let b = w.start().await?;
    // Issued by A, used at B, then tried again at both.
    let signed = a.siwe_signed(None, json!({})).await?;
    let at_b = b.post("/v1/sessions/siwe", signed.body()).await?;
    let again_a = a.post("/v1/sessions/siwe", signed.body()).await?;
    let again_b = b.post("/v1/sessions/siwe", signed.body()).await?;
    match w.backend {
        // One Redis: B knows A's nonce and consumes it; it is gone for both.
        Backend::Postgres { .. } => {
            assert_eq!(at_b.status, StatusCode::OK, "{at_b:?}");
            assert_eq!(again_a.code(), "nonce_invalid");
        }
        // In-process stores are per instance: B never issued it; A consumes it once.
        Backend::Sqlite => {
            assert_eq!(at_b.code(), "nonce_invalid");
            assert_eq!(again_a.status, StatusCode::OK, "{again_a:?}");
        }
    }
    assert_eq!(again_b.code(), "nonce_invalid");
    assert_eq!(
        a.post("/v1/sessions/siwe", signed.body()).await?.code(),
        "nonce_invalid"
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 1);
    assert_eq!(count(&w, "SELECT COUNT(*) FROM session").await?, 1);
    a.stop().await?;
    b.stop().await
}

/// A dApp's sign-in in Node, with viem and with the `siwe` package (signed by ethers), and
/// the tokens validated with jose (`tests/clients/siwe-client.mjs`).
async fn dapp_clients_sign_in_and_validate_with_jose(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    for builder in ["viem", "siwe"] {
        let input = json!({
            "api": gw.api, "issuer": gw.issuer, "domain": "gatehouse.test",
            "uri": "http://gatehouse.test/login", "chainId": 1, "builder": builder,
        });
        let r: serde_json::Value = node_client("siwe-client.mjs", &input).await?;
        assert_eq!(r["status"], 200, "{builder}: {r}");
        let caip10 = format!("eip155:1:{}", r["address"].as_str().unwrap());
        assert_eq!(r["access"]["wallet"], caip10.as_str(), "{builder}");
        assert_eq!(r["access"]["amr"], json!(["siwe"]));
        assert_eq!(r["id"]["wallets"], json!([caip10]));
        assert_eq!(r["access"]["sub"], r["id"]["sub"]);
        let stored: i64 = sqlx::query(
            "SELECT COUNT(*) FROM wallet_credential WHERE account_id = $1 AND address_key = $2",
        )
        .bind(r["access"]["sub"].as_str().unwrap())
        .bind(r["address"].as_str().unwrap().to_lowercase())
        .fetch_one(&w.db().await?)
        .await?
        .get(0);
        assert_eq!(stored, 1, "{builder}");
    }
    assert_eq!(count(&w, "SELECT COUNT(*) FROM account").await?, 2);
    gw.stop().await
}
