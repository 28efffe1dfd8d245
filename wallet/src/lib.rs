//! Sign-In with Ethereum (EIP-4361): parsing a message strictly, checking it against a
//! pool's policy and the clock, and verifying EOA signatures (EIP-191).
//!
//! This crate knows nothing of HTTP or the database: the gateway issues and consumes nonces
//! and passes `now` in. Contract wallets (ERC-1271, ERC-6492) come with the `contracts`
//! crate; until then a signature that does not recover to the message's address is refused.

mod address;
mod eoa;
mod message;

pub use address::{Address, caip10};
pub use eoa::verify_eoa;
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
}
