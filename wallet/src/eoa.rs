//! EOA signatures (EIP-191 `personal_sign`) over a SIWE message. `siwe` gives the EIP-191
//! hash; the public key is recovered with libsecp256k1 (the `secp256k1` crate), the fastest
//! known recovery: about 45 µs, where k256 0.13 (what `siwe`'s own `verify_eip191` uses)
//! takes about 240 µs.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, Secp256k1, VerifyOnly};
use std::sync::LazyLock;

use crate::{Address, SiweMessage, VerifyError};

/// One verification context for the process (its tables are built once).
static SECP: LazyLock<Secp256k1<VerifyOnly>> = LazyLock::new(Secp256k1::verification_only);

/// Half the order of secp256k1: an `s` above it is the high form of a signature (EIP-2).
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// Verifies a 65-byte `r || s || v` signature (v in 0, 1, 27, 28) by the message's address.
/// High-s signatures are refused (EIP-2: one valid signature per message and key).
pub fn verify_eoa(message: &SiweMessage, signature: &[u8]) -> Result<Address, VerifyError> {
    let hash = message
        .message
        .eip191_hash()
        .map_err(|_| VerifyError::BadSignature)?;
    let signer = recover(&hash, signature).ok_or(VerifyError::BadSignature)?;
    if signer != message.address() {
        return Err(VerifyError::WrongSigner);
    }
    Ok(signer)
}

/// The address whose key made `signature` (65 bytes, low `s`) over the 32-byte `hash`.
pub fn recover(hash: &[u8; 32], signature: &[u8]) -> Option<Address> {
    let sig: &[u8; 65] = signature.try_into().ok()?;
    let v = match sig[64] {
        0 | 27 => 0,
        1 | 28 => 1,
        _ => return None,
    };
    if sig[32..64] > HALF_ORDER[..] {
        return None;
    }
    let id = RecoveryId::try_from(v).ok()?;
    let rs = RecoverableSignature::from_compact(&sig[..64], id).ok()?;
    let key = SECP.recover_ecdsa(&Message::from_digest(*hash), &rs).ok()?;
    let point = key.serialize_uncompressed();
    let digest = alloy_primitives::keccak256(&point[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&digest[12..]);
    Some(Address(address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;

    fn address_of(key: &SigningKey) -> Address {
        let point = key.verifying_key().to_encoded_point(false);
        let digest = alloy_primitives::keccak256(&point.as_bytes()[1..]);
        let mut a = [0u8; 20];
        a.copy_from_slice(&digest[12..]);
        Address(a)
    }

    /// libsecp256k1 recovers what k256 signs, for both recovery ids and both `v` spellings;
    /// high `s`, a bad `v` and a wrong length are refused.
    #[test]
    fn recovers_what_k256_signs() {
        for seed in 1u8..=16 {
            let key = SigningKey::from_slice(&[seed; 32]).unwrap();
            let hash = alloy_primitives::keccak256([seed, 1, 2, 3]).0;
            let (sig, recid) = key.sign_prehash_recoverable(&hash).unwrap();
            let mut bytes = [0u8; 65];
            bytes[..64].copy_from_slice(&sig.to_bytes());
            for v in [recid.to_byte(), recid.to_byte() + 27] {
                bytes[64] = v;
                assert_eq!(recover(&hash, &bytes), Some(address_of(&key)), "{seed} {v}");
            }
            // The high-s twin of the same signature recovers the same key, and is refused.
            let high = k256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
            let mut twin = bytes;
            twin[..64].copy_from_slice(&high.to_bytes());
            twin[64] = (recid.to_byte() ^ 1) + 27;
            assert_eq!(recover(&hash, &twin), None);
            bytes[64] = 2;
            assert_eq!(recover(&hash, &bytes), None);
            assert_eq!(recover(&hash, &bytes[..64]), None);
        }
    }
}
