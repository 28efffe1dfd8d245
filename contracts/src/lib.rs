//! The contracts Gatehouse's wallet verification relies on, as Solidity sources
//! (`contracts/sol`), compiled artifacts (`contracts/artifacts`, rebuilt and compared by
//! `node contracts/build.mjs --check`), and ethers bindings over those artifacts:
//!
//! - [`validator`]: ERC-6492's off-chain universal validator, sent as an `eth_call` with no
//!   `to`; it deploys a counterfactual wallet inside the call, then asks ERC-1271, and uses
//!   ecrecover only for signers without code.
//! - [`erc1271`]: `isValidSignature(bytes32,bytes)` and its magic value `0x1626ba7e`.
//! - [`factory`]: the CREATE2 factory of a minimal ERC-1271 account (one ECDSA owner,
//!   changeable), deployed by the tests to a local chain.
//!
//! Only `wallet` and the tests use this crate; ethers stays behind it and `wallet`.

use ethers_core::abi::{Abi, Function, Token};
pub use ethers_core::types::{Address, Bytes, H256};
use std::sync::LazyLock;

/// A compiled contract: its ABI and creation bytecode.
pub struct Artifact {
    pub name: &'static str,
    pub abi: Abi,
    pub bytecode: Bytes,
}

#[derive(serde::Deserialize)]
struct ArtifactFile {
    abi: Abi,
    bytecode: Bytes,
}

impl Artifact {
    /// Parses an artifact checked into `contracts/artifacts`; the unit tests parse them all.
    #[allow(clippy::expect_used)]
    fn load(name: &'static str, json: &str) -> Artifact {
        let file: ArtifactFile =
            serde_json::from_str(json).expect("a checked-in artifact is valid JSON");
        Artifact {
            name,
            abi: file.abi,
            bytecode: file.bytecode,
        }
    }

    /// A function of the ABI. Only names this crate knows exist are asked for.
    #[allow(clippy::expect_used)]
    fn function(&self, name: &str) -> &Function {
        self.abi
            .function(name)
            .expect("the function is in the checked-in ABI")
    }

    /// Call data for `name(args…)`.
    #[allow(clippy::expect_used)]
    fn call(&self, name: &str, args: &[Token]) -> Bytes {
        self.function(name)
            .encode_input(args)
            .expect("arguments match the ABI")
            .into()
    }

    /// Creation code followed by the ABI-encoded constructor arguments.
    pub fn deploy_data(&self, args: &[Token]) -> Bytes {
        let mut data = self.bytecode.to_vec();
        data.extend_from_slice(&ethers_core::abi::encode(args));
        data.into()
    }
}

pub static OWNED_ACCOUNT: LazyLock<Artifact> = LazyLock::new(|| {
    Artifact::load(
        "OwnedAccount",
        include_str!("../artifacts/OwnedAccount.json"),
    )
});
pub static ACCOUNT_FACTORY: LazyLock<Artifact> = LazyLock::new(|| {
    Artifact::load(
        "AccountFactory",
        include_str!("../artifacts/AccountFactory.json"),
    )
});
pub static VALIDATE_SIG_OFFCHAIN: LazyLock<Artifact> = LazyLock::new(|| {
    Artifact::load(
        "ValidateSigOffchain",
        include_str!("../artifacts/ValidateSigOffchain.json"),
    )
});

/// ERC-1271: contract signatures.
pub mod erc1271 {
    use super::*;

    /// `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`: the only answer that means
    /// valid.
    pub const MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

    /// Call data for `isValidSignature(hash, signature)`.
    pub fn is_valid_signature(hash: [u8; 32], signature: &[u8]) -> Bytes {
        OWNED_ACCOUNT.call(
            "isValidSignature",
            &[
                Token::FixedBytes(hash.to_vec()),
                Token::Bytes(signature.to_vec()),
            ],
        )
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
        let mut out = ethers_core::abi::encode(&[
            Token::Address(factory),
            Token::Bytes(factory_calldata.to_vec()),
            Token::Bytes(signature.to_vec()),
        ]);
        out.extend_from_slice(&SUFFIX);
        out
    }

    /// The `data` of an `eth_call` without `to` that validates `signature` of `hash` by
    /// `signer` in ERC-6492's order (deploy if wrapped, ERC-1271, then ecrecover).
    pub fn call_data(signer: Address, hash: [u8; 32], signature: &[u8]) -> Bytes {
        VALIDATE_SIG_OFFCHAIN.deploy_data(&[
            Token::Address(signer),
            Token::FixedBytes(hash.to_vec()),
            Token::Bytes(signature.to_vec()),
        ])
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
        ACCOUNT_FACTORY.call(
            "deploy",
            &[Token::Address(owner), Token::FixedBytes(salt.to_vec())],
        )
    }

    /// The address `deploy(owner, salt)` gives, computed off chain (EIP-1014), as the
    /// factory's `accountAddress` does on chain.
    pub fn account_address(factory: Address, owner: Address, salt: [u8; 32]) -> Address {
        let init_code = OWNED_ACCOUNT.deploy_data(&[Token::Address(owner)]);
        ethers_core::utils::get_create2_address(factory, salt, init_code)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn artifacts_parse_and_have_what_the_bindings_call() {
        for a in [&*OWNED_ACCOUNT, &*ACCOUNT_FACTORY, &*VALIDATE_SIG_OFFCHAIN] {
            assert!(!a.bytecode.is_empty(), "{}", a.name);
        }
        OWNED_ACCOUNT.function("isValidSignature");
        ACCOUNT_FACTORY.function("deploy");
        ACCOUNT_FACTORY.function("accountAddress");
        assert!(VALIDATE_SIG_OFFCHAIN.abi.constructor.is_some());
    }

    #[test]
    fn erc1271_selector_and_magic() {
        let data = erc1271::is_valid_signature([7; 32], &[1, 2, 3]);
        assert_eq!(data[..4], erc1271::MAGIC, "the magic value is the selector");
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
        assert_eq!(validator::outcome(&[1]), Some(true));
        assert_eq!(validator::outcome(&[0]), Some(false));
        assert_eq!(validator::outcome(&[0, 1]), None);
        assert_eq!(validator::outcome(&[]), None);
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
