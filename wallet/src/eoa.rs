//! EOA signatures (EIP-191 `personal_sign`) over a SIWE message.

use k256::ecdsa::Signature;

use crate::{Address, SiweMessage, VerifyError};

/// Verifies a 65-byte `r || s || v` signature (v in 0, 1, 27, 28) by the message's address.
/// High-s signatures are refused (EIP-2: one valid signature per message and key).
pub fn verify_eoa(message: &SiweMessage, signature: &[u8]) -> Result<Address, VerifyError> {
    let sig: [u8; 65] = signature
        .try_into()
        .map_err(|_| VerifyError::BadSignature)?;
    if !matches!(sig[64], 0 | 1 | 27 | 28) {
        return Err(VerifyError::BadSignature);
    }
    let rs = Signature::from_slice(&sig[..64]).map_err(|_| VerifyError::BadSignature)?;
    if rs.normalize_s().is_some() {
        return Err(VerifyError::BadSignature);
    }
    message.message.verify_eip191(&sig).map_err(|e| match e {
        siwe::VerificationError::Signer => VerifyError::WrongSigner,
        _ => VerifyError::BadSignature,
    })?;
    Ok(message.address())
}
