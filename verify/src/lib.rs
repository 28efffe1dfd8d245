//! Validate Gatehouse unified tokens in a backend, offline, against the issuer's JWKS.
//!
//! ```no_run
//! # async fn run(token: &str) -> Result<(), gatehouse_verify::Error> {
//! let verifier = gatehouse_verify::Verifier::discover(
//!     "https://id.example.com/pools/main",
//!     "https://id.example.com/pools/main", // the audience of access tokens
//! )
//! .await?;
//! let claims = verifier.verify_access_token(token).await?;
//! if claims.has_scope("email") && claims.authenticated_within(std::time::Duration::from_secs(900)) {
//!     println!("{} signed in with {:?}", claims.sub, claims.amr);
//! }
//! # Ok(()) }
//! ```
//!
//! What it enforces, whatever the token says of itself: the algorithm is the one its key
//! is published for (ES256, RS256 or EdDSA; `none` and HMAC never), no embedded `jwk`, no
//! `jku`/`x5u`/`x5c` (never fetched), no `crit`; `iss`, `aud`, `exp`, `nbf` and `iat` with a
//! small leeway; `typ: at+jwt` for access tokens (RFC 9068 §4), so an ID token is not taken
//! for one. The discovery document and the JWKS are fetched once and cached; an unknown
//! `kid` triggers at most one refetch per cooldown, so forged `kid`s cause no request storm.
//!
//! This crate depends on nothing of the gateway's.

mod claims;
mod jwks;
#[cfg(feature = "axum")]
pub mod web;

pub use claims::{AccessClaims, Caip10, IdClaims};
pub use jwks::{Verifier, VerifierBuilder};

/// Why a token was refused (or the keys could not be had).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the token is not a compact JWS")]
    Malformed,
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("header parameter `{0}` is not accepted")]
    ForbiddenHeader(&'static str),
    #[error("no published key has this kid")]
    UnknownKey,
    #[error("the algorithm is not the one the key is published for")]
    AlgorithmMismatch,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("not an access token (typ must be at+jwt)")]
    NotAnAccessToken,
    #[error("an access token is not an ID token")]
    NotAnIdToken,
    #[error("verifier configuration: {0}")]
    Config(&'static str),
    #[error("wrong nonce")]
    WrongNonce,
    #[error("claim `{0}` is missing or malformed")]
    Claim(&'static str),
    /// The keys could not be fetched: not the token's fault (HTTP 503, not 401).
    #[error("cannot fetch {0}")]
    Fetch(String),
}
