//! Signatures of any wallet, in ERC-6492's order: a wrapped (counterfactual) signature goes
//! to the universal validator, a signer with code is asked through ERC-1271, and only a
//! signer without code is checked with ecrecover (EIP-191). ecrecover never comes before
//! ERC-1271 on a chain the gateway can read.
//!
//! Each chain id has at most one JSON-RPC endpoint (`GATEHOUSE_RPC_URLS`). Every call has a
//! timeout, and any failure to get an answer rejects the sign-in (`ChainUnavailable`): an
//! unreachable chain never makes a signature valid. Without an endpoint for the message's
//! chain, EOAs still work and what can only be a contract wallet is refused (`NoRpc`).

use contracts::{erc1271, validator};
use ethers_core::types::{Address as EthAddress, BlockNumber, Bytes, TransactionRequest};
use ethers_providers::{Http, Middleware, Provider, ProviderError, RpcError};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::{Address, SiweMessage, VerifyError, verify_eoa};

/// How a wallet proved itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalletKind {
    /// A key pair: the same wallet on every chain.
    Eoa,
    /// A smart-contract wallet: a wallet of one chain only.
    Contract,
}

/// The wallet behind a valid signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signer {
    pub kind: WalletKind,
    pub address: Address,
}

/// JSON-RPC endpoints by chain id.
pub struct Chains {
    providers: HashMap<u64, Provider<Http>>,
    timeout: Duration,
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
        let mut providers = HashMap::new();
        for (chain_id, url) in endpoints {
            let provider = Provider::<Http>::try_from(url)
                .map_err(|_| format!("the RPC URL of chain {chain_id} is not a valid URL"))?;
            providers.insert(chain_id, provider);
        }
        Ok(Self { providers, timeout })
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
            return match self.call(provider, None, data).await {
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
        let code = self
            .timed(provider.get_code(signer, Some(BlockNumber::Latest.into())))
            .await
            .map_err(unavailable)?;
        if code.is_empty() {
            // 3. No code: an EOA.
            return eoa();
        }
        let delegated = code.len() == 23 && code[..3] == DELEGATION_PREFIX;
        let data = erc1271::is_valid_signature(hash, signature);
        match self.call(provider, Some(signer), data).await {
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

    async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ProviderError::CustomError("timed out".into())),
        }
    }

    /// `eth_call` at the latest block; `to: None` runs `data` as creation code.
    async fn call(
        &self,
        provider: &Provider<Http>,
        to: Option<EthAddress>,
        data: Bytes,
    ) -> Result<Bytes, CallError> {
        let mut tx = TransactionRequest::new().data(data).gas(CALL_GAS);
        if let Some(to) = to {
            tx = tx.to(to);
        }
        match self
            .timed(provider.call(&tx.into(), Some(BlockNumber::Latest.into())))
            .await
        {
            Ok(out) => Ok(out),
            Err(e) if is_revert(&e) => Err(CallError::Reverted),
            Err(_) => Err(CallError::Unavailable),
        }
    }
}

/// A JSON-RPC error that says the call ran and reverted (code 3, or -32000/-32015 with
/// "revert" in the message, as geth, anvil, Nethermind and Erigon put it).
fn is_revert(e: &ProviderError) -> bool {
    e.as_error_response().is_some_and(|r| {
        r.code == 3 || (r.message.to_ascii_lowercase().contains("revert") && r.code < 0)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use k256::ecdsa::SigningKey;

    fn key() -> (SigningKey, Address) {
        let key = SigningKey::from_slice(&[0x42; 32]).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let hash = ethers_core::utils::keccak256(&point.as_bytes()[1..]);
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
