// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ecdsa} from "./Ecdsa.sol";

/// ERC-1271's one function.
interface IERC1271 {
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4);
}

/// @title UniversalSigValidator: ERC-6492 signature validation, in the order the ERC
/// prescribes.
/// 1. A signature ending in the ERC-6492 magic suffix is unwrapped into
///    (factory, factoryCalldata, innerSignature); when the signer has no code yet the factory
///    is called to deploy it, then ERC-1271 is asked with the inner signature. If the signer
///    was deployed but refuses, the factory call is made as a "prepare" step and ERC-1271 asked
///    again.
/// 2. Otherwise, a signer with code is asked through ERC-1271.
/// 3. Only a signer without code is checked with ecrecover. ecrecover never comes before
///    ERC-1271.
contract UniversalSigValidator {
    bytes32 internal constant ERC6492_SUFFIX = 0x6492649264926492649264926492649264926492649264926492649264926492;
    bytes4 internal constant ERC1271_MAGIC = 0x1626ba7e;

    /// The factory call of a wrapped signature failed: the account could not be deployed.
    error DeploymentFailed(bytes reason);

    function isValidSig(address signer, bytes32 hash, bytes calldata signature) public returns (bool) {
        bool wrapped = signature.length >= 32 && bytes32(signature[signature.length - 32:]) == ERC6492_SUFFIX;
        if (wrapped) {
            (address factory, bytes memory factoryCalldata, bytes memory inner) =
                abi.decode(signature[0:signature.length - 32], (address, bytes, bytes));
            if (signer.code.length == 0) {
                (bool deployed, bytes memory reason) = factory.call(factoryCalldata);
                if (!deployed) revert DeploymentFailed(reason);
                return isValid1271(signer, hash, inner);
            }
            if (isValid1271(signer, hash, inner)) return true;
            (bool prepared, bytes memory why) = factory.call(factoryCalldata);
            if (!prepared) revert DeploymentFailed(why);
            return isValid1271(signer, hash, inner);
        }
        if (signer.code.length > 0) return isValid1271(signer, hash, signature);
        return isValidEcdsa(signer, hash, signature);
    }

    function isValid1271(address signer, bytes32 hash, bytes memory signature) internal view returns (bool) {
        if (signer.code.length == 0) return false;
        try IERC1271(signer).isValidSignature(hash, signature) returns (bytes4 magic) {
            return magic == ERC1271_MAGIC;
        } catch {
            return false;
        }
    }

    function isValidEcdsa(address signer, bytes32 hash, bytes calldata signature) internal pure returns (bool) {
        address recovered = Ecdsa.recover(hash, signature);
        return recovered != address(0) && recovered == signer;
    }
}

/// @title ValidateSigOffchain: ERC-6492's off-chain entry point. Its creation code, followed
/// by `abi.encode(signer, hash, signature)`, is sent as an `eth_call` with no `to`: the
/// constructor validates and returns one byte, 0x01 for valid and 0x00 for invalid. Nothing
/// is ever deployed; a revert means the signature could not be checked (e.g. the factory
/// call failed).
contract ValidateSigOffchain {
    constructor(address signer, bytes32 hash, bytes memory signature) {
        bool valid = new UniversalSigValidator().isValidSig(signer, hash, signature);
        assembly {
            mstore(0, valid)
            return(31, 1)
        }
    }
}
