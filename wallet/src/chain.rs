//! Signatures of any wallet, in ERC-6492's order: a wrapped (counterfactual) signature goes
//! to the universal validator, a signer with code is asked through ERC-1271, and only a
//! signer without code is checked with ecrecover (EIP-191). ecrecover never comes before
//! ERC-1271 on a chain the gateway can read.
//!
//! Each chain id has at most one JSON-RPC endpoint (`GATEHOUSE_RPC_URLS`), reached through an
//! alloy RPC client over one shared reqwest client (rustls with aws-lc-rs and the webpki
//! roots). Every call has a timeout, and any failure to get an answer rejects the sign-in
//! (`ChainUnavailable`): an unreachable chain never makes a signature valid. Without an
//! endpoint for the message's chain, EOAs still work and what can only be a contract wallet
//! is refused (`NoRpc`).
//!
//! An observer ([`Chains::observed`]) is told of every JSON-RPC request: its chain, what came
//! of it and how long it took (the gateway's metrics); this crate keeps no metrics itself.

use alloy_primitives::{Address as EthAddress, Bytes, U64};
use alloy_rpc_client::RpcClient;
use alloy_transport::{RpcError, TransportError, TransportErrorKind};
use contracts::{erc1271, validator};
use std::collections::HashMap;
use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Address, SiweMessage, VerifyError, WalletKind, verify_eoa};

/// The wallet behind a valid signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signer {
    pub kind: WalletKind,
    pub address: Address,
}

/// What came of one JSON-RPC request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcOutcome {
    /// The node answered with a result.
    Answered,
    /// The node ran the call and it reverted (an answer: "not valid").
    Reverted,
    /// No answer within the timeout.
    TimedOut,
    /// Any other failure: transport, HTTP status, an RPC error other than a revert, a result
    /// that does not decode.
    Failed,
}

impl RpcOutcome {
    /// `ok`, `reverted`, `timeout` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            RpcOutcome::Answered => "ok",
            RpcOutcome::Reverted => "reverted",
            RpcOutcome::TimedOut => "timeout",
            RpcOutcome::Failed => "error",
        }
    }
}

/// Told of every JSON-RPC request: the chain id, what came of it, how long it took.
pub type RpcObserver = Arc<dyn Fn(u64, RpcOutcome, Duration) + Send + Sync>;

/// JSON-RPC endpoints by chain id.
pub struct Chains {
    providers: HashMap<u64, RpcClient>,
    timeout: Duration,
    observer: Option<RpcObserver>,
}

impl fmt::Debug for Chains {
    /// Chain ids only: endpoint URLs often carry an API key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.providers.keys().collect();
        ids.sort();
        f.debug_struct("Chains")
            .field("chain_ids", &ids)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What came back from a call.
enum CallError {
    /// The node ran the call and it reverted: an answer, meaning "not valid".
    Reverted,
    /// No answer: transport error, timeout, an RPC error other than a revert.
    Unavailable,
}

/// The call object of `eth_call`: no `from`, and the code or call data as `data`, the name
/// every node reads (`input` is the newer one, which some older nodes ignore).
#[derive(Clone, Debug, serde::Serialize)]
struct CallRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<EthAddress>,
    gas: U64,
    data: Bytes,
}

/// Gas for each `eth_call`: ample for a wallet's deployment and ERC-1271 check, and a bound
/// on the work a signer-chosen factory call can make the node do.
const CALL_GAS: u64 = 10_000_000;
/// The longest signature taken (ERC-6492 wrappers carry the factory call).
pub const MAX_SIGNATURE_BYTES: usize = 8 * 1024;

/// The EIP-7702 delegation designator: an EOA whose code is `0xef0100 || address`.
const DELEGATION_PREFIX: [u8; 3] = [0xef, 0x01, 0x00];

impl Chains {
    /// Endpoints as `(chain id, URL)`. The error names the chain, never the URL.
    pub fn new<'a>(
        endpoints: impl IntoIterator<Item = (u64, &'a str)>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let http = http_client()?;
        let mut providers = HashMap::new();
        for (chain_id, url) in endpoints {
            let url = reqwest::Url::parse(url)
                .map_err(|_| format!("the RPC URL of chain {chain_id} is not a valid URL"))?;
            providers.insert(chain_id, RpcClient::new_http_with_client(http.clone(), url));
        }
        Ok(Self {
            providers,
            timeout,
            observer: None,
        })
    }

    /// Tells `observer` of every JSON-RPC request from now on.
    pub fn observed(mut self, observer: RpcObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Verifies `signature` of `message` by the message's address, whatever the wallet.
    pub async fn verify(
        &self,
        message: &SiweMessage,
        signature: &[u8],
    ) -> Result<Signer, VerifyError> {
        if signature.len() > MAX_SIGNATURE_BYTES {
            return Err(VerifyError::BadSignature);
        }
        let chain_id = message.chain_id();
        let address = message.address();
        let eoa = || {
            verify_eoa(message, signature).map(|address| Signer {
                kind: WalletKind::Eoa,
                address,
            })
        };
        let Some(provider) = self.providers.get(&chain_id) else {
            // Only an EOA signature can be checked without a chain. A wrapped one is surely a
            // contract wallet's; any other that does not recover may be one.
            if validator::is_wrapped(signature) {
                return Err(VerifyError::NoRpc(chain_id));
            }
            return eoa().map_err(|e| match e {
                VerifyError::WrongSigner | VerifyError::BadSignature => {
                    VerifyError::SignerUnknown(chain_id)
                }
                e => e,
            });
        };
        let hash = message
            .message
            .eip191_hash()
            .map_err(|_| VerifyError::Malformed("message".into()))?;
        let signer = EthAddress::from(address.0);
        let contract = Signer {
            kind: WalletKind::Contract,
            address,
        };
        let unavailable = |_| VerifyError::ChainUnavailable(chain_id);

        // 1. ERC-6492: the validator deploys the wallet inside the call, then asks ERC-1271.
        if validator::is_wrapped(signature) {
            let data = validator::call_data(signer, hash, signature);
            return match self.call(chain_id, provider, None, data).await {
                Ok(out) => match validator::outcome(&out) {
                    Some(true) => Ok(contract),
                    Some(false) => Err(VerifyError::WrongSigner),
                    None => Err(VerifyError::ChainUnavailable(chain_id)),
                },
                // The factory call or the wallet reverted: the signature cannot be valid.
                Err(CallError::Reverted) => Err(VerifyError::WrongSigner),
                Err(CallError::Unavailable) => Err(VerifyError::ChainUnavailable(chain_id)),
            };
        }

        // 2. A signer with code answers through ERC-1271.
        let code: Bytes = self
            .timed(
                chain_id,
                provider.request("eth_getCode", (signer, "latest")),
            )
            .await
            .map_err(unavailable)?;
        if code.is_empty() {
            // 3. No code: an EOA.
            return eoa();
        }
        let delegated = code.len() == 23 && code[..3] == DELEGATION_PREFIX;
        let data = erc1271::is_valid_signature(hash, signature);
        match self.call(chain_id, provider, Some(signer), data).await {
            // A delegated EOA whose delegate vouched: an EOA (every chain) only if its own key
            // signed; anyone else the delegate accepts proves a wallet of this chain only.
            Ok(out) if erc1271::is_magic(&out) && delegated => Ok(eoa().unwrap_or(contract)),
            Ok(out) if erc1271::is_magic(&out) => Ok(contract),
            // EIP-7702: a delegated EOA's own key still signs for it, whatever the delegate
            // says; it stays an EOA, valid on every chain.
            Ok(_) | Err(CallError::Reverted) if delegated => eoa(),
            Ok(_) | Err(CallError::Reverted) => Err(VerifyError::WrongSigner),
            Err(CallError::Unavailable) => Err(VerifyError::ChainUnavailable(chain_id)),
        }
    }

    /// Runs one request to `chain_id` under the timeout, and tells the observer of it.
    async fn timed<T>(
        &self,
        chain_id: u64,
        call: impl IntoFuture<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        let started = Instant::now();
        let (result, outcome) = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(r)) => (Ok(r), RpcOutcome::Answered),
            Ok(Err(e)) if is_revert(&e) => (Err(e), RpcOutcome::Reverted),
            Ok(Err(e)) => (Err(e), RpcOutcome::Failed),
            Err(_) => (
                Err(TransportErrorKind::custom_str("timed out")),
                RpcOutcome::TimedOut,
            ),
        };
        if let Some(observe) = &self.observer {
            observe(chain_id, outcome, started.elapsed());
        }
        result
    }

    /// `eth_call` at the latest block; `to: None` runs `data` as creation code.
    async fn call(
        &self,
        chain_id: u64,
        provider: &RpcClient,
        to: Option<EthAddress>,
        data: Bytes,
    ) -> Result<Bytes, CallError> {
        let tx = CallRequest {
            to,
            gas: U64::from(CALL_GAS),
            data,
        };
        match self
            .timed(chain_id, provider.request("eth_call", (tx, "latest")))
            .await
        {
            Ok(out) => Ok(out),
            Err(e) if is_revert(&e) => Err(CallError::Reverted),
            Err(_) => Err(CallError::Unavailable),
        }
    }
}

/// One HTTP client for every endpoint: rustls with aws-lc-rs (the provider the rest of the
/// gateway uses, so no second crypto library) and the webpki roots. The error names no URL.
fn http_client() -> Result<reqwest::Client, String> {
    let failed =
        |e: String| format!("the HTTP client for the RPC endpoints could not be built: {e}");
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| failed(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| failed(e.to_string()))
}

/// A JSON-RPC error that says the call ran and reverted (code 3, or -32000/-32015 with
/// "revert" in the message, as geth, anvil, Nethermind and Erigon put it). The error may come
/// with a non-2xx HTTP status, as some endpoints send it: it is read from the body then (only
/// an error; a result behind an error status is no answer).
fn is_revert(e: &TransportError) -> bool {
    let reverted = |code: i64, message: &str| {
        code == 3 || (message.to_ascii_lowercase().contains("revert") && code < 0)
    };
    match e {
        RpcError::ErrorResp(payload) => reverted(payload.code, &payload.message),
        RpcError::Transport(TransportErrorKind::HttpError(http)) => {
            #[derive(serde::Deserialize)]
            struct ErrorBody {
                error: ErrorObject,
            }
            #[derive(serde::Deserialize)]
            struct ErrorObject {
                code: i64,
                message: String,
            }
            serde_json::from_str::<ErrorBody>(&http.body)
                .is_ok_and(|b| reverted(b.error.code, &b.error.message))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use k256::ecdsa::SigningKey;

    fn key() -> (SigningKey, Address) {
        let key = SigningKey::from_slice(&[0x42; 32]).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let hash = alloy_primitives::keccak256(&point.as_bytes()[1..]);
        let mut a = [0u8; 20];
        a.copy_from_slice(&hash[12..]);
        (key, Address(a))
    }

    fn signed(address: Address, by: &SigningKey) -> (SiweMessage, Vec<u8>) {
        let text = format!(
            "example.com wants you to sign in with your Ethereum account:\n{address}\n\nSign in.\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: abcdefgh12\nIssued At: 2026-01-01T00:00:00Z"
        );
        let msg = SiweMessage::parse(&text).unwrap();
        let hash = msg.message.eip191_hash().unwrap();
        let (sig, recid) = by.sign_prehash_recoverable(&hash).unwrap();
        let mut bytes = sig.to_bytes().to_vec();
        bytes.push(27 + recid.to_byte());
        (msg, bytes)
    }

    #[tokio::test]
    async fn without_rpc_eoas_work_and_contract_wallets_are_named() {
        let chains = Chains::new([], Duration::from_secs(5)).unwrap();
        let (key, address) = key();
        let (msg, sig) = signed(address, &key);
        assert_eq!(
            chains.verify(&msg, &sig).await,
            Ok(Signer {
                kind: WalletKind::Eoa,
                address
            })
        );
        let other = SigningKey::from_slice(&[0x43; 32]).unwrap();
        let (msg2, wrong) = signed(address, &other);
        assert_eq!(
            chains.verify(&msg2, &wrong).await,
            Err(VerifyError::SignerUnknown(1))
        );
        assert_eq!(
            chains.verify(&msg, &sig[..64]).await,
            Err(VerifyError::SignerUnknown(1))
        );
        let wrapped = validator::wrap(EthAddress::repeat_byte(9), &[1, 2, 3], &sig);
        assert_eq!(
            chains.verify(&msg, &wrapped).await,
            Err(VerifyError::NoRpc(1))
        );
    }

    /// A JSON-RPC endpoint on loopback that answers each request with `answer(request)`:
    /// an HTTP status and a body (`{id}` in it is replaced by the request's id). The requests
    /// it got are kept, in order.
    async fn rpc(
        answer: fn(&serde_json::Value) -> (u16, String),
    ) -> (String, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let body = loop {
                    let mut chunk = [0u8; 4096];
                    let n = conn.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap();
                        if body.len() >= len {
                            break body.to_string();
                        }
                    }
                };
                let request: serde_json::Value = serde_json::from_str(&body).unwrap();
                let (status, answer_body) = answer(&request);
                let answer_body = answer_body.replace("{id}", &request["id"].to_string());
                log.lock().unwrap().push(request);
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer_body}",
                    answer_body.len()
                );
                conn.write_all(response.as_bytes()).await.unwrap();
            }
        });
        (url, seen)
    }

    fn ok(result: &str) -> (u16, String) {
        (
            200,
            format!(r#"{{"jsonrpc":"2.0","id":{{id}},"result":"{result}"}}"#),
        )
    }

    fn error(status: u16, code: i64, message: &str) -> (u16, String) {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{{id}},"error":{{"code":{code},"message":"{message}"}}}}"#
        );
        (status, body)
    }

    async fn verify_with(
        answer: fn(&serde_json::Value) -> (u16, String),
        wrapped: bool,
    ) -> (Result<Signer, VerifyError>, Vec<serde_json::Value>) {
        let (url, seen) = rpc(answer).await;
        let chains = Chains::new([(1, url.as_str())], Duration::from_secs(5)).unwrap();
        let (key, address) = key();
        let (msg, mut sig) = signed(address, &key);
        if wrapped {
            sig = validator::wrap(EthAddress::repeat_byte(9), &[1, 2, 3], &sig);
        }
        let outcome = chains.verify(&msg, &sig).await;
        let requests = seen.lock().unwrap().clone();
        (outcome, requests)
    }

    #[tokio::test]
    async fn wrapped_signatures_go_to_the_validator_as_creation_code() {
        let (_, address) = key();
        let contract = Ok(Signer {
            kind: WalletKind::Contract,
            address,
        });
        let (outcome, requests) = verify_with(|_| ok("0x01"), true).await;
        assert_eq!(outcome, contract);
        // One eth_call: no `to`, the gas bound, the validator's code, the latest block.
        assert_eq!(requests.len(), 1);
        let (method, params) = (&requests[0]["method"], &requests[0]["params"]);
        assert_eq!(method, "eth_call");
        assert_eq!(params[1], "latest");
        let call = params[0].as_object().unwrap();
        assert_eq!(call.keys().collect::<Vec<_>>(), ["data", "gas"]);
        assert_eq!(call["gas"], "0x989680");
        assert!(call["data"].as_str().unwrap().ends_with(&"6492".repeat(16)));

        for (answer, expected) in [
            (
                (|_: &_| ok("0x00")) as fn(&_) -> _,
                Err(VerifyError::WrongSigner),
            ),
            // Not one byte: no answer the validator gives.
            (|_: &_| ok("0x0101"), Err(VerifyError::ChainUnavailable(1))),
            (|_: &_| ok("0x"), Err(VerifyError::ChainUnavailable(1))),
            // Reverted (the factory call failed): an answer, and not a valid one.
            (
                |_: &_| error(200, 3, "execution reverted"),
                Err(VerifyError::WrongSigner),
            ),
            (
                |_: &_| error(200, -32000, "Execution Reverted: x"),
                Err(VerifyError::WrongSigner),
            ),
            (
                |_: &_| error(500, 3, "execution reverted"),
                Err(VerifyError::WrongSigner),
            ),
            // Any other error, or no JSON-RPC answer at all: refused as unavailable.
            (
                |_: &_| error(200, -32603, "internal error"),
                Err(VerifyError::ChainUnavailable(1)),
            ),
            (
                |_: &_| error(200, 5, "revert"),
                Err(VerifyError::ChainUnavailable(1)),
            ),
            (
                |_: &_| (502, "bad gateway".into()),
                Err(VerifyError::ChainUnavailable(1)),
            ),
            (
                |_: &_| (500, ok("0x01").1),
                Err(VerifyError::ChainUnavailable(1)),
            ),
            (
                |_: &_| (200, "not json".into()),
                Err(VerifyError::ChainUnavailable(1)),
            ),
            (
                |_: &_| (200, r#"{"jsonrpc":"2.0","id":{id},"result":null}"#.into()),
                Err(VerifyError::ChainUnavailable(1)),
            ),
        ] {
            assert_eq!(verify_with(answer, true).await.0, expected);
        }
    }

    #[tokio::test]
    async fn a_signer_with_code_is_asked_through_erc1271_and_without_code_is_an_eoa() {
        let (_, address) = key();
        let magic = "0x1626ba7e00000000000000000000000000000000000000000000000000000000";
        let with_code = |r: &serde_json::Value| match r["method"].as_str() {
            Some("eth_getCode") => ok("0x6001"),
            _ => ok("0x1626ba7e00000000000000000000000000000000000000000000000000000000"),
        };
        let (outcome, requests) = verify_with(with_code, false).await;
        assert_eq!(
            outcome,
            Ok(Signer {
                kind: WalletKind::Contract,
                address
            })
        );
        let lower = format!("0x{}", hex::encode(address.0));
        assert_eq!(requests[0]["method"], "eth_getCode");
        assert_eq!(requests[0]["params"], serde_json::json!([lower, "latest"]));
        assert_eq!(requests[1]["method"], "eth_call");
        assert_eq!(requests[1]["params"][0]["to"], lower.as_str());
        assert!(
            requests[1]["params"][0]["data"]
                .as_str()
                .unwrap()
                .starts_with(&magic[..10])
        );

        for (answer, expected) in [
            (
                (|r: &serde_json::Value| match r["method"].as_str() {
                    Some("eth_getCode") => ok("0x6001"),
                    _ => ok(&format!("0x{}", "ff".repeat(32))),
                }) as fn(&_) -> _,
                Err(VerifyError::WrongSigner),
            ),
            (
                |r: &serde_json::Value| match r["method"].as_str() {
                    Some("eth_getCode") => ok("0x6001"),
                    _ => error(200, 3, "execution reverted"),
                },
                Err(VerifyError::WrongSigner),
            ),
            (
                |r: &serde_json::Value| match r["method"].as_str() {
                    Some("eth_getCode") => ok("0x6001"),
                    _ => error(200, -32603, "boom"),
                },
                Err(VerifyError::ChainUnavailable(1)),
            ),
            // No code: the key's own signature, an EOA.
            (
                |_: &serde_json::Value| ok("0x"),
                Ok(Signer {
                    kind: WalletKind::Eoa,
                    address,
                }),
            ),
            (
                |_: &serde_json::Value| error(200, -32603, "boom"),
                Err(VerifyError::ChainUnavailable(1)),
            ),
        ] {
            assert_eq!(verify_with(answer, false).await.0, expected);
        }
    }

    #[tokio::test]
    async fn the_observer_is_told_of_every_request() {
        type Seen = Arc<std::sync::Mutex<Vec<(u64, RpcOutcome)>>>;
        let observer = |seen: &Seen| -> RpcObserver {
            let log = seen.clone();
            Arc::new(move |chain, outcome, _took| log.lock().unwrap().push((chain, outcome)))
        };
        let (key, address) = key();
        let (msg, sig) = signed(address, &key);

        // A signer with code whose ERC-1271 check reverts: two requests, both answered.
        let (url, _) = rpc(|r| match r["method"].as_str() {
            Some("eth_getCode") => ok("0x6001"),
            _ => error(200, 3, "execution reverted"),
        })
        .await;
        let seen = Seen::default();
        let chains = Chains::new([(1, url.as_str())], Duration::from_secs(5))
            .unwrap()
            .observed(observer(&seen));
        assert_eq!(
            chains.verify(&msg, &sig).await,
            Err(VerifyError::WrongSigner)
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [(1, RpcOutcome::Answered), (1, RpcOutcome::Reverted)]
        );

        // Nothing listens: one request, failed.
        let seen = Seen::default();
        let chains = Chains::new([(1, "http://127.0.0.1:1")], Duration::from_secs(5))
            .unwrap()
            .observed(observer(&seen));
        assert_eq!(
            chains.verify(&msg, &sig).await,
            Err(VerifyError::ChainUnavailable(1))
        );
        assert_eq!(*seen.lock().unwrap(), [(1, RpcOutcome::Failed)]);
        assert_eq!(RpcOutcome::Failed.as_str(), "error");
    }

    #[tokio::test]
    async fn a_hanging_endpoint_times_out_and_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                conns.push(conn);
            }
        });
        let chains = Chains::new([(1, url.as_str())], Duration::from_millis(200)).unwrap();
        let (key, address) = key();
        let (msg, sig) = signed(address, &key);
        let started = std::time::Instant::now();
        assert_eq!(
            chains.verify(&msg, &sig).await,
            Err(VerifyError::ChainUnavailable(1))
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        held.abort();
    }

    #[tokio::test]
    async fn an_unreachable_chain_refuses_even_a_good_eoa_signature() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let chains = Chains::new([(1, "http://127.0.0.1:1")], Duration::from_secs(5)).unwrap();
        let (key, address) = key();
        let (msg, sig) = signed(address, &key);
        assert_eq!(
            chains.verify(&msg, &sig).await,
            Err(VerifyError::ChainUnavailable(1))
        );
    }

    #[test]
    fn a_bad_url_is_named_by_chain_never_echoed() {
        let err = Chains::new([(5, "not a url?key=SECRET")], Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("chain 5") && !err.contains("SECRET"), "{err}");
        let chains =
            Chains::new([(5, "https://rpc.example/SECRET")], Duration::from_secs(1)).unwrap();
        assert!(!format!("{chains:?}").contains("SECRET"));
    }
}
