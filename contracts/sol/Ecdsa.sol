// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Ecdsa: the one ECDSA check the test account and the validator share.
library Ecdsa {
    /// secp256k1n / 2: larger `s` values are malleable (EIP-2).
    uint256 internal constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @notice The signer of `hash` by a 65-byte `r || s || v` signature (v 0, 1, 27 or 28),
    /// or address(0) when the signature is malformed, malleable or recovers to no one.
    function recover(bytes32 hash, bytes memory signature) internal pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(signature, 32))
            s := mload(add(signature, 64))
            v := byte(0, mload(add(signature, 96)))
        }
        if (v < 27) v += 27;
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(hash, v, r, s);
    }
}
