//! Sign-In with Ethereum (EIP-4361): parsing a message strictly, checking it against a
//! pool's policy and the clock, and verifying EOA signatures (EIP-191).
//!
//! This crate knows nothing of HTTP or the database: the gateway issues and consumes nonces
//! and passes `now` in. [`Chains`] verifies any wallet's signature in ERC-6492's order
//! (ERC-6492, ERC-1271, then ecrecover) through a JSON-RPC endpoint per chain (feature
//! `rpc`, on by default; `accounts` uses the identity types without it).

mod address;
#[cfg(feature = "rpc")]
mod chain;
mod eoa;
mod identity;
mod message;

pub use address::Address;
#[cfg(feature = "rpc")]
pub use chain::{Chains, RpcObserver, RpcOutcome, Signer};
pub use eoa::verify_eoa;
pub use identity::{Caip10, InvalidCaip10, InvalidWalletKind, WalletKind};
pub use message::{Policy, SiweMessage, check_times};

/// Why a SIWE sign-in is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the message is not a valid EIP-4361 message: {0}")]
    Malformed(String),
    #[error("the message's domain is not allowed")]
    Domain,
    #[error("the message's URI is not allowed")]
    Uri,
    #[error("the message's chain id is not allowed")]
    ChainId,
    #[error("the nonce was not issued by this gateway or was already used")]
    Nonce,
    #[error("the message has expired")]
    Expired,
    #[error("the message is not valid yet")]
    NotYetValid,
    #[error("the message was issued too long ago or in the future")]
    IssuedAt,
    #[error("the signature is malformed")]
    BadSignature,
    #[error("the signature is not by the message's address")]
    WrongSigner,
    /// A 65-byte signature that does not recover to the address, on a chain without RPC: a
    /// wrong signer, or a contract wallet the gateway cannot ask.
    #[error(
        "the signature does not recover to the message's address; if that is a contract wallet, chain {0} needs an RPC endpoint"
    )]
    SignerUnknown(u64),
    /// A contract wallet's signature on a chain the gateway has no RPC endpoint for.
    #[error("chain {0} has no RPC endpoint, so contract wallets cannot sign in on it")]
    NoRpc(u64),
    /// The chain could not answer (RPC down, hanging, or erroring): refused, never accepted.
    #[error("chain {0} could not be reached to check the signature")]
    ChainUnavailable(u64),
}
