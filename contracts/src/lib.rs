//! The contracts Gatehouse's wallet verification relies on, as Solidity sources
//! (`contracts/sol`), compiled artifacts (`contracts/artifacts`, rebuilt and compared by
//! `node contracts/build.mjs --check`), and alloy bindings that `sol!` generates from those
//! artifacts at compile time (ABI and creation code both: a rebuilt artifact changes the
//! bindings, never a hand-written copy of them):
//!
//! - [`validator`]: ERC-6492's off-chain universal validator, sent as an `eth_call` with no
//!   `to`; it deploys a counterfactual wallet inside the call, then asks ERC-1271, and uses
//!   ecrecover only for signers without code.
//! - [`erc1271`]: `isValidSignature(bytes32,bytes)` and its magic value `0x1626ba7e`.
//! - [`factory`]: the CREATE2 factory of a minimal ERC-1271 account (one ECDSA owner,
//!   changeable), deployed by the tests to a local chain.
//!
//! Only `wallet` and the tests use this crate; alloy stays behind it and `wallet`.

pub use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::{SolCall, SolConstructor, SolValue, sol};

sol!(OwnedAccount, "artifacts/OwnedAccount.json");
sol!(AccountFactory, "artifacts/AccountFactory.json");
sol!(ValidateSigOffchain, "artifacts/ValidateSigOffchain.json");

/// Creation code followed by the ABI-encoded constructor arguments.
fn deploy_data(bytecode: &[u8], constructor: &impl SolConstructor) -> Bytes {
    let mut data = bytecode.to_vec();
    data.extend_from_slice(&constructor.abi_encode());
    data.into()
}

/// ERC-1271: contract signatures.
pub mod erc1271 {
    use super::*;

    /// `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`: the only answer that means
    /// valid.
    pub const MAGIC: [u8; 4] = OwnedAccount::isValidSignatureCall::SELECTOR;

    /// Call data for `isValidSignature(hash, signature)`.
    pub fn is_valid_signature(hash: [u8; 32], signature: &[u8]) -> Bytes {
        OwnedAccount::isValidSignatureCall {
            hash: hash.into(),
            signature: Bytes::copy_from_slice(signature),
        }
        .abi_encode()
        .into()
    }

    /// Whether an `isValidSignature` answer is exactly the magic value: one ABI word whose
    /// first four bytes are `0x1626ba7e` and the rest zero. Anything else (short, long,
    /// dirty padding) is not valid.
    pub fn is_magic(output: &[u8]) -> bool {
        output.len() == 32 && output[..4] == MAGIC && output[4..].iter().all(|b| *b == 0)
    }
}

/// ERC-6492: signatures of wallets that are not deployed yet.
pub mod validator {
    use super::*;

    /// The 32 bytes that end every ERC-6492 signature.
    pub const SUFFIX: [u8; 32] = [
        0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64,
        0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
        0x64, 0x92,
    ];

    /// Whether `signature` is ERC-6492-wrapped.
    pub fn is_wrapped(signature: &[u8]) -> bool {
        signature.len() >= 32 && signature[signature.len() - 32..] == SUFFIX
    }

    /// Wraps `signature` for a wallet the `factory` deploys with `factory_calldata`:
    /// `abi.encode(factory, factoryCalldata, signature) ++ SUFFIX`.
    pub fn wrap(factory: Address, factory_calldata: &[u8], signature: &[u8]) -> Vec<u8> {
        // `abi.encode` of three values is their encoding as a parameter list, not as one
        // (dynamic) tuple behind an offset.
        let mut out = (
            factory,
            Bytes::copy_from_slice(factory_calldata),
            Bytes::copy_from_slice(signature),
        )
            .abi_encode_params();
        out.extend_from_slice(&SUFFIX);
        out
    }

    /// The `data` of an `eth_call` without `to` that validates `signature` of `hash` by
    /// `signer` in ERC-6492's order (deploy if wrapped, ERC-1271, then ecrecover).
    pub fn call_data(signer: Address, hash: [u8; 32], signature: &[u8]) -> Bytes {
        deploy_data(
            &ValidateSigOffchain::BYTECODE,
            &ValidateSigOffchain::constructorCall {
                signer,
                hash: hash.into(),
                signature: Bytes::copy_from_slice(signature),
            },
        )
    }

    /// The validator's answer: exactly one byte, 0x01 valid or 0x00 invalid.
    pub fn outcome(output: &[u8]) -> Option<bool> {
        match output {
            [1] => Some(true),
            [0] => Some(false),
            _ => None,
        }
    }
}

/// The CREATE2 factory of test accounts.
pub mod factory {
    use super::*;

    /// Call data for `deploy(owner, salt)`.
    pub fn deploy(owner: Address, salt: [u8; 32]) -> Bytes {
        AccountFactory::deployCall {
            owner,
            salt: salt.into(),
        }
        .abi_encode()
        .into()
    }

    /// The address `deploy(owner, salt)` gives, computed off chain (EIP-1014), as the
    /// factory's `accountAddress` does on chain.
    pub fn account_address(factory: Address, owner: Address, salt: [u8; 32]) -> Address {
        let init_code = deploy_data(
            &OwnedAccount::BYTECODE,
            &OwnedAccount::constructorCall {
                initialOwner: owner,
            },
        );
        factory.create2_from_code(salt, init_code)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bindings_carry_the_artifacts_code_and_signatures() {
        for code in [
            &OwnedAccount::BYTECODE,
            &AccountFactory::BYTECODE,
            &ValidateSigOffchain::BYTECODE,
        ] {
            assert!(!code.is_empty());
        }
        assert_eq!(
            OwnedAccount::isValidSignatureCall::SIGNATURE,
            "isValidSignature(bytes32,bytes)"
        );
        assert_eq!(
            AccountFactory::deployCall::SIGNATURE,
            "deploy(address,bytes32)"
        );
        assert_eq!(
            AccountFactory::accountAddressCall::SIGNATURE,
            "accountAddress(address,bytes32)"
        );
    }

    #[test]
    fn erc1271_selector_and_magic() {
        assert_eq!(erc1271::MAGIC, [0x16, 0x26, 0xba, 0x7e]);
        let data = erc1271::is_valid_signature([7; 32], &[1, 2, 3]);
        assert_eq!(data[..4], erc1271::MAGIC, "the magic value is the selector");
        assert_eq!(data[4..36], [7; 32]);
        let mut ok = [0u8; 32];
        ok[..4].copy_from_slice(&erc1271::MAGIC);
        assert!(erc1271::is_magic(&ok));
        let mut dirty = ok;
        dirty[31] = 1;
        assert!(!erc1271::is_magic(&dirty));
        assert!(!erc1271::is_magic(&ok[..4]));
        assert!(!erc1271::is_magic(&[0xff; 32]));
    }

    #[test]
    fn erc6492_wrapping() {
        let sig = [9u8; 65];
        let wrapped = validator::wrap(Address::repeat_byte(1), &[1, 2], &sig);
        assert!(validator::is_wrapped(&wrapped));
        assert!(!validator::is_wrapped(&sig));
        assert!(!validator::is_wrapped(&validator::SUFFIX[1..]));
        // abi.encode(address, bytes, bytes): three head words (the address, then the offsets
        // of the two byte strings), each string as its length and its padded bytes.
        let word = |i: usize| &wrapped[32 * i..32 * (i + 1)];
        assert_eq!(word(0)[12..], [1; 20]);
        assert_eq!(word(1)[31], 0x60);
        assert_eq!(word(2)[31], 0xa0);
        assert_eq!((word(3)[31], &word(4)[..2]), (2, &[1u8, 2][..]));
        assert_eq!(word(5)[31], 65);
        assert_eq!(wrapped.len(), 32 * (5 + 1 + 3) + 32);
        assert_eq!(validator::outcome(&[1]), Some(true));
        assert_eq!(validator::outcome(&[0]), Some(false));
        assert_eq!(validator::outcome(&[0, 1]), None);
        assert_eq!(validator::outcome(&[]), None);
    }

    #[test]
    fn validator_call_is_creation_code_then_constructor_arguments() {
        let data = validator::call_data(Address::repeat_byte(3), [4; 32], &[5; 65]);
        let code = &ValidateSigOffchain::BYTECODE;
        assert_eq!(data[..code.len()], code[..]);
        let args = &data[code.len()..];
        assert_eq!(args[12..32], [3; 20]);
        assert_eq!(args[32..64], [4; 32]);
        assert_eq!(args[95], 0x60);
    }

    #[test]
    fn create2_address_depends_on_factory_owner_and_salt() {
        let f = Address::repeat_byte(0xfa);
        let a = factory::account_address(f, Address::repeat_byte(1), [0; 32]);
        assert_ne!(
            a,
            factory::account_address(f, Address::repeat_byte(2), [0; 32])
        );
        assert_ne!(
            a,
            factory::account_address(f, Address::repeat_byte(1), [1; 32])
        );
        assert_ne!(
            a,
            factory::account_address(Address::repeat_byte(0xfb), Address::repeat_byte(1), [0; 32])
        );
    }
}
