// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ecdsa} from "./Ecdsa.sol";

/// @title OwnedAccount: a minimal smart-contract wallet for Gatehouse's tests.
/// @notice One ECDSA owner, changeable by the owner. Signatures are valid for the account
/// when the owner signed the hash (ERC-1271). Not meant to hold funds.
contract OwnedAccount {
    /// ERC-1271: `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`.
    bytes4 internal constant ERC1271_MAGIC = 0x1626ba7e;
    bytes4 internal constant ERC1271_INVALID = 0xffffffff;

    address public owner;

    event OwnerChanged(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error ZeroOwner();

    constructor(address initialOwner) {
        if (initialOwner == address(0)) revert ZeroOwner();
        owner = initialOwner;
        emit OwnerChanged(address(0), initialOwner);
    }

    /// @notice Hands the account to a new owner; the old owner's signatures stop counting.
    function setOwner(address newOwner) external {
        if (msg.sender != owner) revert NotOwner();
        if (newOwner == address(0)) revert ZeroOwner();
        emit OwnerChanged(owner, newOwner);
        owner = newOwner;
    }

    /// @notice ERC-1271: the magic value when `signature` (65 bytes, r || s || v) is the
    /// owner's signature of `hash`, 0xffffffff otherwise. Never reverts on a bad signature.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        address signer = Ecdsa.recover(hash, signature);
        if (signer == address(0) || signer != owner) return ERC1271_INVALID;
        return ERC1271_MAGIC;
    }
}
