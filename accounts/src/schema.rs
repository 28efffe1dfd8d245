//! OpenAPI schemas (feature `schema`, turned on by the gateway alone) of the wire values whose
//! types live in `wallet`, which knows nothing of OpenAPI. Those serialize as strings; the
//! fields that carry them say so with `value_type = String`, and the wallet kind here adds
//! its two values.

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Object, OneOfBuilder, RefOr, Schema};
use wallet::WalletKind;

/// `eoa` or `contract`, as [`WalletKind`] serializes.
pub(crate) fn wallet_kind() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            [WalletKind::Eoa, WalletKind::Contract].map(WalletKind::as_str),
        ))
        .description(Some(
            "`eoa` (a key pair: valid on every chain) or `contract` (a smart-contract wallet: on its chain only)",
        ))
        .build()
}

/// An optional [`wallet_kind`]: absent or `null` for the default.
pub(crate) fn optional_wallet_kind() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(wallet_kind())
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}
