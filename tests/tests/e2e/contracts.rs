//! Contract wallets against a real local chain (anvil): ERC-1271 sign-in with a deployed
//! account, ERC-6492 sign-in with a counterfactual one, the old owner refused after an owner
//! change, EOAs on a chain the gateway reads, and chains that are down, hanging or not
//! configured; and the `wallet` crate's ERC-6492 verdicts checked against viem's. Messages
//! are signed with viem; the contracts are `contracts/`.

use accounts::secret::Secret;
use gatehouse_tests::chain::{
    Anvil, CHAIN_ID, closed_rpc, factory_calldata, hanging_rpc, new_key, salt_bytes,
};
use gatehouse_tests::{Gateway, SignedSiwe, World, verified_claims};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use wallet::{Chains, SiweMessage, VerifyError, WalletKind};

use crate::TestResult;

crate::tests!(
    deployed_account_signs_in_with_erc1271,
    counterfactual_account_signs_in_with_erc6492,
    old_owner_is_refused_after_an_owner_change,
    eoa_on_a_chain_with_rpc_is_still_an_eoa,
    unreachable_chains_refuse_and_never_accept,
    erc6492_verdicts_match_viem,
    contract_artifacts_rebuild_identically,
);

async fn gateway_on(w: &World, rpc: &str, timeout_ms: u64) -> anyhow::Result<Gateway> {
    let rpc = rpc.to_string();
    w.start_with(move |c| {
        c.rpc_urls = vec![(CHAIN_ID, Secret::new(rpc))];
        c.rpc_timeout_ms = timeout_ms;
    })
    .await
}

fn on_chain(address: &str) -> serde_json::Value {
    json!({ "address": address, "chainId": CHAIN_ID })
}

async fn wallet_rows(w: &World) -> anyhow::Result<Vec<(String, String, i64, String)>> {
    Ok(sqlx::query(
        "SELECT account_id, kind, chain_id, address_key FROM wallet_credential ORDER BY created_at, id",
    )
    .fetch_all(&w.db().await?)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect())
}

async fn deployed_account_signs_in_with_erc1271(w: Arc<World>) -> TestResult {
    let chain = Anvil::start().await?;
    let gw = gateway_on(&w, &chain.rpc, 5000).await?;
    let factory = chain.deploy_factory().await?;
    let (owner_key, owner) = new_key();
    let account = chain.deploy_account(&factory, &owner, 1).await?;
    assert_ne!(chain.code(&account).await?, "0x");

    let signed = gw.siwe_signed(Some(&owner_key), on_chain(&account)).await?;
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    let caip10 = format!("eip155:{CHAIN_ID}:{account}");
    assert_eq!(at["wallet"], caip10.as_str());
    assert_eq!(at["wallets"], json!([caip10]));
    assert_eq!(at["amr"], json!(["siwe"]));
    let sub = at["sub"].as_str().unwrap().to_string();
    // Stored as a contract wallet of this chain, keyed (chain id, address).
    assert_eq!(
        wallet_rows(&w).await?,
        [(
            sub.clone(),
            "contract".to_string(),
            CHAIN_ID as i64,
            account.to_lowercase()
        )]
    );

    // The owner's key alone is another wallet (an EOA), never the account.
    let as_owner = gw
        .siwe_signed(Some(&owner_key), json!({ "chainId": CHAIN_ID }))
        .await?;
    let r = gw.post("/v1/sessions/siwe", as_owner.body()).await?;
    let at_owner = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_ne!(at_owner["sub"], sub.as_str());
    assert_eq!(at_owner["wallet"], format!("eip155:{CHAIN_ID}:{owner}"));

    // Someone else's key for the account: refused, nothing written.
    let (other_key, _) = new_key();
    let forged = gw.siwe_signed(Some(&other_key), on_chain(&account)).await?;
    let r = gw.post("/v1/sessions/siwe", forged.body()).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "signature_invalid")
    );
    assert_eq!(wallet_rows(&w).await?.len(), 2);

    // The same account on chain 1, which has no RPC endpoint here: a clear refusal.
    let elsewhere = gw
        .siwe_signed(
            Some(&owner_key),
            json!({ "address": account, "chainId": 1 }),
        )
        .await?;
    let r = gw.post("/v1/sessions/siwe", elsewhere.body()).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "signature_invalid")
    );
    assert!(
        r.body["detail"].as_str().unwrap().contains("RPC endpoint"),
        "{r:?}"
    );
    assert_eq!(wallet_rows(&w).await?.len(), 2);
    gw.stop().await
}

async fn counterfactual_account_signs_in_with_erc6492(w: Arc<World>) -> TestResult {
    let chain = Anvil::start().await?;
    let gw = gateway_on(&w, &chain.rpc, 5000).await?;
    let factory = chain.deploy_factory().await?;
    let (owner_key, owner) = new_key();
    let account = chain.account_address(&factory, &owner, 7).await?;
    // The factory's answer and the crate's own CREATE2 computation agree.
    let computed =
        contracts::factory::account_address(factory.parse()?, owner.parse()?, salt_bytes(7));
    assert_eq!(format!("{computed:#x}"), account.to_lowercase());
    assert_eq!(chain.code(&account).await?, "0x", "not deployed");
    let factory_data = factory_calldata(&owner, 7)?;
    let wrap = json!({ "factory": factory, "factoryData": factory_data });

    let mut input = on_chain(&account);
    input["erc6492"] = wrap.clone();
    let signed = gw.siwe_signed(Some(&owner_key), input.clone()).await?;
    assert!(signed.signature.ends_with(&"6492".repeat(16)));
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(at["wallet"], format!("eip155:{CHAIN_ID}:{account}"));
    let sub = at["sub"].as_str().unwrap().to_string();
    assert_eq!(
        chain.code(&account).await?,
        "0x",
        "validation deploys only inside the eth_call"
    );
    assert_eq!(wallet_rows(&w).await?[0].1, "contract");

    // A wrapped signature by a key that does not own the account.
    let (other_key, _) = new_key();
    let forged = gw.siwe_signed(Some(&other_key), input.clone()).await?;
    let r = gw.post("/v1/sessions/siwe", forged.body()).await?;
    assert_eq!(r.code(), "signature_invalid", "{r:?}");

    // Once deployed, plain ERC-1271 (and the wrapped form) sign in to the same account.
    chain.deploy_account(&factory, &owner, 7).await?;
    for body in [
        gw.siwe_signed(Some(&owner_key), on_chain(&account)).await?,
        gw.siwe_signed(Some(&owner_key), input.clone()).await?,
    ] {
        let r = gw.post("/v1/sessions/siwe", body.body()).await?;
        let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
        assert_eq!(at["sub"], sub.as_str());
    }
    assert_eq!(wallet_rows(&w).await?.len(), 1);

    // On a chain without an RPC endpoint, a wrapped signature cannot be checked: 400.
    let mut no_rpc = input.clone();
    no_rpc["chainId"] = json!(1);
    let signed = gw.siwe_signed(Some(&owner_key), no_rpc).await?;
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "chain_not_configured")
    );
    gw.stop().await
}

async fn old_owner_is_refused_after_an_owner_change(w: Arc<World>) -> TestResult {
    let chain = Anvil::start().await?;
    let gw = gateway_on(&w, &chain.rpc, 5000).await?;
    let factory = chain.deploy_factory().await?;
    let (old_key, old) = new_key();
    let (new_key_hex, new) = new_key();
    let account = chain.deploy_account(&factory, &old, 3).await?;
    let r = gw.siwe_sign_in(Some(&old_key), on_chain(&account)).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let sub = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?["sub"].clone();

    let changed = chain
        .run(
            "setOwner",
            json!({ "account": account, "ownerKey": old_key, "newOwner": new }),
        )
        .await?;
    assert_eq!(changed["owner"], new.as_str());

    let r = gw.siwe_sign_in(Some(&old_key), on_chain(&account)).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "signature_invalid"),
        "the old owner no longer signs for the account"
    );
    let r = gw
        .siwe_sign_in(Some(&new_key_hex), on_chain(&account))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let at = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?;
    assert_eq!(at["sub"], sub, "the same wallet, so the same account");
    assert_eq!(wallet_rows(&w).await?.len(), 1);
    let sign_ins: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_event WHERE kind = 'sign_in' AND account_id = $1")
            .bind(sub.as_str().unwrap())
            .fetch_one(&w.db().await?)
            .await?
            .get(0);
    assert_eq!(sign_ins, 2, "two sign-ins; the refused one is not one");
    gw.stop().await
}

async fn eoa_on_a_chain_with_rpc_is_still_an_eoa(w: Arc<World>) -> TestResult {
    let chain = Anvil::start().await?;
    let gw = gateway_on(&w, &chain.rpc, 5000).await?;
    let signed = gw.siwe_signed(None, json!({ "chainId": CHAIN_ID })).await?;
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let sub = verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?["sub"].clone();
    let rows = wallet_rows(&w).await?;
    assert_eq!((rows[0].1.as_str(), rows[0].2), ("eoa", 0));
    // The same key on chain 1 (no RPC): the same wallet, the same account.
    let again = gw
        .siwe_signed(Some(&signed.private_key), json!({ "chainId": 1 }))
        .await?;
    let r = gw.post("/v1/sessions/siwe", again.body()).await?;
    assert_eq!(
        verified_claims(&gw, &r.str("access_token"), &gw.issuer).await?["sub"],
        sub
    );
    // Malformed signatures (64, 66 and 0 bytes) on the RPC path; high-s: wallet unit tests.
    for bad in [
        &signed.signature[..130],
        &format!("{}00", signed.signature),
        "0x",
    ] {
        let s = gw
            .siwe_signed(Some(&signed.private_key), json!({ "chainId": CHAIN_ID }))
            .await?;
        let r = gw
            .post(
                "/v1/sessions/siwe",
                json!({ "message": s.message, "signature": bad }),
            )
            .await?;
        assert_eq!(r.code(), "signature_invalid", "{bad}: {r:?}");
    }
    assert_eq!(wallet_rows(&w).await?.len(), 1);
    gw.stop().await
}

async fn unreachable_chains_refuse_and_never_accept(w: Arc<World>) -> TestResult {
    let accounts = || async {
        Ok::<i64, anyhow::Error>(
            sqlx::query("SELECT COUNT(*) FROM account")
                .fetch_one(&w.db().await?)
                .await?
                .get(0),
        )
    };
    // Nothing listens.
    let gw = gateway_on(&w, &closed_rpc()?, 2000).await?;
    let signed = gw.siwe_signed(None, json!({ "chainId": CHAIN_ID })).await?;
    let r = gw.post("/v1/sessions/siwe", signed.body()).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"),
        "{r:?}"
    );
    // EOAs on chains without an RPC endpoint still work meanwhile.
    let r = gw
        .post(
            "/v1/sessions/siwe",
            gw.siwe_signed(None, json!({})).await?.body(),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(accounts().await?, 1);
    gw.stop().await?;

    // An endpoint that accepts and never answers: the timeout refuses the sign-in.
    let (hanging, task) = hanging_rpc().await?;
    let gw = gateway_on(&w, &hanging, 300).await?;
    let started = std::time::Instant::now();
    let r = gw
        .post(
            "/v1/sessions/siwe",
            gw.siwe_signed(None, json!({ "chainId": CHAIN_ID }))
                .await?
                .body(),
        )
        .await?;
    assert_eq!(r.code(), "chain_unavailable", "{r:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the call timed out instead of hanging"
    );
    task.abort();
    gw.stop().await?;

    // A chain that worked, then stopped: the next sign-in is refused, not waved through.
    let mut chain = Anvil::start().await?;
    let gw = gateway_on(&w, &chain.rpc, 2000).await?;
    let factory = chain.deploy_factory().await?;
    let (owner_key, owner) = new_key();
    let account = chain.deploy_account(&factory, &owner, 9).await?;
    let ok = gw.siwe_signed(Some(&owner_key), on_chain(&account)).await?;
    assert_eq!(
        gw.post("/v1/sessions/siwe", ok.body()).await?.status,
        StatusCode::OK
    );
    let pending = gw.siwe_signed(Some(&owner_key), on_chain(&account)).await?;
    chain.stop().await?;
    let r = gw.post("/v1/sessions/siwe", pending.body()).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable")
    );
    assert_eq!(accounts().await?, 2);
    gw.stop().await
}

/// A SIWE message for `address` on the test chain, signed by `key` with viem, and wrapped by
/// viem (`serializeErc6492Signature`) when `erc6492` is `{factory, factoryData}`.
async fn viem_signed(
    key: &str,
    address: &str,
    nonce: &str,
    erc6492: Option<Value>,
) -> anyhow::Result<SignedSiwe> {
    let mut input = json!({
        "privateKey": key,
        "address": address,
        "domain": "gatehouse.test",
        "uri": "https://gatehouse.test/login",
        "chainId": CHAIN_ID,
        "nonce": nonce,
    });
    if let Some(wrap) = erc6492 {
        input["erc6492"] = wrap;
    }
    gatehouse_tests::siwe_sign(&input).await
}

fn unhex(s: &str) -> anyhow::Result<Vec<u8>> {
    Ok(hex::decode(s.trim_start_matches("0x"))?)
}

/// Differential test of the ERC-6492 validator: for each signature, the `wallet` crate's
/// verdict (`Chains::verify`, the gateway's own path) and viem's `verifyMessage` (its own
/// universal validator) on the same anvil chain, both compared with the verdict the case must
/// have: counterfactual and deployed wallets, wrapped and plain, a wrong signer, a wrong
/// message, and malformed wrappers.
async fn erc6492_verdicts_match_viem(_w: Arc<World>) -> TestResult {
    let chain = Anvil::start().await?;
    let factory = chain.deploy_factory().await?;
    let (owner_key, owner) = new_key();
    let (other_key, other) = new_key();
    let counterfactual = chain.account_address(&factory, &owner, 11).await?;
    let deployed = chain.deploy_account(&factory, &owner, 12).await?;
    let wrap = |salt| -> anyhow::Result<Value> {
        Ok(json!({ "factory": factory, "factoryData": factory_calldata(&owner, salt)? }))
    };

    let good = viem_signed(&owner_key, &counterfactual, "cf6492owner", Some(wrap(11)?)).await?;
    let by_other = viem_signed(&other_key, &counterfactual, "cf6492other", Some(wrap(11)?)).await?;
    let elsewhere = viem_signed(&owner_key, &counterfactual, "cf6492else", Some(wrap(11)?)).await?;
    let plain = viem_signed(&owner_key, &counterfactual, "cf6492plain", None).await?;
    let inner = unhex(&plain.signature)?;
    let factory_address = factory.parse()?;
    let wrapped_by = |calldata: &[u8], inner: &[u8]| {
        format!(
            "0x{}",
            hex::encode(contracts::validator::wrap(factory_address, calldata, inner))
        )
    };
    let deploy_owner = unhex(&factory_calldata(&owner, 11)?)?;
    let deploy_other = unhex(&factory_calldata(&other, 11)?)?;
    let mut truncated = unhex(&good.signature)?;
    let suffix_at = truncated.len() - 32;
    truncated.drain(suffix_at - 32..suffix_at);
    let suffix = hex::encode(contracts::validator::SUFFIX);

    let deployed_plain = viem_signed(&owner_key, &deployed, "dp6492plain", None).await?;
    let deployed_wrapped =
        viem_signed(&owner_key, &deployed, "dp6492wrap", Some(wrap(12)?)).await?;
    let deployed_other = viem_signed(&other_key, &deployed, "dp6492other", Some(wrap(12)?)).await?;
    let deployed_other_plain = viem_signed(&other_key, &deployed, "dp6492otherp", None).await?;

    // (case, signed message, signature, the verdict it must have)
    let cases: Vec<(&str, &str, String, bool)> = vec![
        (
            "counterfactual, owner's key",
            &good.message,
            good.signature.clone(),
            true,
        ),
        (
            "counterfactual, another key",
            &by_other.message,
            by_other.signature.clone(),
            false,
        ),
        (
            "counterfactual, signature of another message",
            &elsewhere.message,
            good.signature.clone(),
            false,
        ),
        (
            "counterfactual, wrapped by the contracts crate",
            &plain.message,
            wrapped_by(&deploy_owner, &inner),
            true,
        ),
        (
            "counterfactual, unwrapped owner's signature",
            &plain.message,
            plain.signature.clone(),
            false,
        ),
        (
            "malformed: the suffix after junk",
            &good.message,
            format!("0xdeadbeef{suffix}"),
            false,
        ),
        (
            "malformed: the suffix alone",
            &good.message,
            format!("0x{suffix}"),
            false,
        ),
        (
            "malformed: a word cut out of the wrapper",
            &good.message,
            format!("0x{}", hex::encode(&truncated)),
            false,
        ),
        (
            "malformed: a factory call that reverts",
            &plain.message,
            wrapped_by(&[0x12, 0x34, 0x56, 0x78], &inner),
            false,
        ),
        (
            "malformed: the factory deploys another wallet",
            &plain.message,
            wrapped_by(&deploy_other, &inner),
            false,
        ),
        (
            "deployed, owner's key, ERC-1271",
            &deployed_plain.message,
            deployed_plain.signature.clone(),
            true,
        ),
        (
            "deployed, owner's key, wrapped",
            &deployed_wrapped.message,
            deployed_wrapped.signature.clone(),
            true,
        ),
        (
            "deployed, another key, wrapped",
            &deployed_other.message,
            deployed_other.signature.clone(),
            false,
        ),
        (
            "deployed, another key, ERC-1271",
            &deployed_other_plain.message,
            deployed_other_plain.signature.clone(),
            false,
        ),
    ];

    let chains = Chains::new([(CHAIN_ID, chain.rpc.as_str())], Duration::from_secs(10))
        .map_err(anyhow::Error::msg)?;
    let mut ours = Vec::new();
    let mut viem_cases = Vec::new();
    for (case, message, signature, _) in &cases {
        let parsed = SiweMessage::parse(message)?;
        let address = parsed.address();
        ours.push(match chains.verify(&parsed, &unhex(signature)?).await {
            Ok(signer) => {
                assert_eq!(
                    (signer.kind, signer.address),
                    (WalletKind::Contract, address),
                    "{case}"
                );
                true
            }
            Err(VerifyError::WrongSigner | VerifyError::BadSignature) => false,
            Err(e) => anyhow::bail!("{case}: no verdict from the wallet crate: {e}"),
        });
        viem_cases.push(json!({
            "address": address.to_string(),
            "message": message,
            "signature": signature,
        }));
    }
    let viem: Value = gatehouse_tests::node_client(
        "erc6492.mjs",
        &json!({ "rpc": chain.rpc, "cases": viem_cases }),
    )
    .await?;
    let viem: Vec<bool> = serde_json::from_value(viem["valid"].clone())?;

    assert_eq!(viem.len(), cases.len());
    let mut wrong = Vec::new();
    for (i, (case, _, _, expected)) in cases.iter().enumerate() {
        if (ours[i], viem[i]) != (*expected, *expected) {
            wrong.push(format!(
                "{case}: expected {expected}, wallet {}, viem {}",
                ours[i], viem[i]
            ));
        }
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
    assert_eq!(
        chain.code(&counterfactual).await?,
        "0x",
        "validation deploys only inside the eth_call"
    );
    Ok(())
}

/// `contracts/artifacts` is what the npm `solc` compiler makes of `contracts/sol`.
async fn contract_artifacts_rebuild_identically(_w: Arc<World>) -> TestResult {
    gatehouse_tests::clients_dir()?;
    let root = gatehouse_tests::workspace_root();
    let out = tokio::process::Command::new("node")
        .arg(root.join("contracts/build.mjs"))
        .arg("--check")
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "contracts/build.mjs --check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
