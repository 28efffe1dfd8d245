//! Ethereum addresses: parsed from hex in any case (mixed case must be a valid EIP-55
//! checksum), shown EIP-55, compared by bytes.

use std::fmt;
use std::str::FromStr;

use crate::VerifyError;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Lowercase hex with `0x`, the form used as a storage key.
    pub fn key(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }
}

impl FromStr for Address {
    type Err = VerifyError;

    fn from_str(s: &str) -> Result<Self, VerifyError> {
        let bad = || VerifyError::Malformed("address".into());
        let hex_part = s.strip_prefix("0x").ok_or_else(bad)?;
        if hex_part.len() != 40 {
            return Err(bad());
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| bad())?;
        let mixed = hex_part.bytes().any(|b| b.is_ascii_lowercase())
            && hex_part.bytes().any(|b| b.is_ascii_uppercase());
        // `siwe::is_checksum` takes the hex digits without `0x`.
        if mixed && !siwe::is_checksum(hex_part) {
            return Err(VerifyError::Malformed("address checksum (EIP-55)".into()));
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for Address {
    /// EIP-55 mixed-case checksum form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&siwe::eip55(&self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl serde::Serialize for Address {
    /// EIP-55.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55() {
        let a: Address = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
            .parse()
            .unwrap();
        assert_eq!(a.to_string(), "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");
        let b: Address = "0xC02AAA39B223FE8D0A0E5C4F27EAD9083C756CC2"
            .parse()
            .unwrap();
        assert_eq!(a, b, "case does not matter");
        let c: Address = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
            .parse()
            .unwrap();
        assert_eq!(a, c, "a valid checksum parses");
        assert!(
            "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756cc2"
                .parse::<Address>()
                .is_err(),
            "bad checksum"
        );
        for bad in [
            "",
            "0x",
            "c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
            "0xzz2aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
            "0xc02aaa",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
        assert_eq!(a.key(), "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2");
    }
}
