//! A wallet's identity as the other crates carry it: what kind of wallet it is and its
//! CAIP-10 account id. Parsed once where a string comes in (a path, a database row), shown
//! in one form everywhere (`eip155:{chain id}:{EIP-55 address}`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

use crate::Address;

/// How a wallet proved itself, and so what identifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletKind {
    /// A key pair: the same wallet on every chain.
    Eoa,
    /// A smart-contract wallet: a wallet of one chain only.
    Contract,
}

impl WalletKind {
    /// `eoa` or `contract`, as the API shows it and the database stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletKind::Eoa => "eoa",
            WalletKind::Contract => "contract",
        }
    }
}

impl fmt::Display for WalletKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Neither `eoa` nor `contract`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a wallet kind is `eoa` or `contract`")]
pub struct InvalidWalletKind;

impl FromStr for WalletKind {
    type Err = InvalidWalletKind;

    fn from_str(s: &str) -> Result<Self, InvalidWalletKind> {
        match s {
            "eoa" => Ok(WalletKind::Eoa),
            "contract" => Ok(WalletKind::Contract),
            _ => Err(InvalidWalletKind),
        }
    }
}

/// Not an `eip155` CAIP-10 account id with a decimal chain id and an address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a CAIP-10 account id of the form eip155:<chain id>:<address>")]
pub struct InvalidCaip10;

/// A CAIP-10 account id of an EVM wallet: the chain of the message that proved it and its
/// address. Shown (and serialized) as `eip155:{chain_id}:{address}`, the address EIP-55.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Caip10 {
    pub chain_id: u64,
    pub address: Address,
}

impl Caip10 {
    pub fn new(chain_id: u64, address: Address) -> Self {
        Caip10 { chain_id, address }
    }

    /// Like [`FromStr`], but the address may come in any case, its checksum unchecked: for
    /// naming a wallet already linked (a path), where case never mattered.
    pub fn parse_any_case(s: &str) -> Result<Self, InvalidCaip10> {
        let (chain_id, address) = split(s)?;
        let address = address
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| InvalidCaip10)?;
        Ok(Caip10 { chain_id, address })
    }
}

/// The chain id and the address text of `eip155:{chain id}:{address}`. The chain id is
/// canonical decimal (no sign, no leading zero), as CAIP-2 writes EIP-155 chain ids.
fn split(s: &str) -> Result<(u64, &str), InvalidCaip10> {
    let rest = s.strip_prefix("eip155:").ok_or(InvalidCaip10)?;
    let (chain, address) = rest.split_once(':').ok_or(InvalidCaip10)?;
    let canonical = !chain.is_empty()
        && chain.bytes().all(|b| b.is_ascii_digit())
        && (chain == "0" || !chain.starts_with('0'));
    if !canonical {
        return Err(InvalidCaip10);
    }
    Ok((chain.parse().map_err(|_| InvalidCaip10)?, address))
}

impl FromStr for Caip10 {
    type Err = InvalidCaip10;

    /// `eip155:{chain id}:{address}`; a mixed-case address must be a valid EIP-55 checksum.
    fn from_str(s: &str) -> Result<Self, InvalidCaip10> {
        let (chain_id, address) = split(s)?;
        let address = address.parse().map_err(|_| InvalidCaip10)?;
        Ok(Caip10 { chain_id, address })
    }
}

impl fmt::Display for Caip10 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "eip155:{}:{}", self.chain_id, self.address)
    }
}

impl Serialize for Caip10 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Caip10 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EIP55: &str = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2";

    #[test]
    fn caip10_round_trips_in_eip55_form() {
        let lower = format!("eip155:137:{}", EIP55.to_ascii_lowercase());
        let id: Caip10 = lower.parse().unwrap();
        assert_eq!(id.chain_id, 137);
        assert_eq!(id.to_string(), format!("eip155:137:{EIP55}"));
        assert_eq!(id, format!("eip155:137:{EIP55}").parse().unwrap());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"eip155:137:{EIP55}\""));
        assert_eq!(serde_json::from_str::<Caip10>(&json).unwrap(), id);
    }

    #[test]
    fn bad_caip10_ids_are_refused() {
        let bad_checksum = "eip155:1:0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756cc2";
        for bad in [
            "",
            "eip155",
            "eip155:1",
            &format!("EIP155:1:{EIP55}"),
            &format!("cosmos:1:{EIP55}"),
            &format!("eip155::{EIP55}"),
            &format!("eip155:01:{EIP55}"),
            &format!("eip155:+1:{EIP55}"),
            &format!("eip155:1:{EIP55}:x"),
            "eip155:1:0x1234",
            bad_checksum,
        ] {
            assert_eq!(bad.parse::<Caip10>(), Err(InvalidCaip10), "{bad}");
        }
        // A path names a linked wallet in any case.
        assert_eq!(
            Caip10::parse_any_case(bad_checksum).unwrap().to_string(),
            format!("eip155:1:{EIP55}")
        );
        assert!(Caip10::parse_any_case("eip155:01:0x1234").is_err());
    }

    #[test]
    fn kinds_have_one_spelling() {
        for kind in [WalletKind::Eoa, WalletKind::Contract] {
            assert_eq!(kind.as_str().parse::<WalletKind>(), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert_eq!("EOA".parse::<WalletKind>(), Err(InvalidWalletKind));
    }
}
