// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {OwnedAccount} from "./OwnedAccount.sol";

/// @title AccountFactory: deploys OwnedAccount with CREATE2, so an account's address is known
/// (and usable for ERC-6492 signatures) before it exists on chain.
contract AccountFactory {
    event AccountDeployed(address indexed account, address indexed owner, bytes32 salt);

    /// @notice Deploys the account of (`owner`, `salt`), or returns it if it already exists.
    function deploy(address owner, bytes32 salt) external returns (address account) {
        account = accountAddress(owner, salt);
        if (account.code.length > 0) return account;
        OwnedAccount deployed = new OwnedAccount{salt: salt}(owner);
        // The address CREATE2 gave must be the one we announced.
        assert(address(deployed) == account);
        emit AccountDeployed(account, owner, salt);
    }

    /// @notice The CREATE2 address (EIP-1014) of the account of (`owner`, `salt`).
    function accountAddress(address owner, bytes32 salt) public view returns (address) {
        bytes32 initCodeHash = keccak256(abi.encodePacked(type(OwnedAccount).creationCode, abi.encode(owner)));
        bytes32 digest = keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, initCodeHash));
        return address(uint160(uint256(digest)));
    }
}
