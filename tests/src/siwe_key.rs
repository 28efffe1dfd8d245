//! A wallet key that signs EIP-4361 messages in-process (k256), for the benchmarks: the
//! end-to-end tests sign with viem instead (`siwe.mjs`), a client the gateway did not write.

use serde_json::{Value, json};

/// Keccak-256.
pub fn keccak(data: &[u8]) -> [u8; 32] {
    use sha3::Digest;
    sha3::Keccak256::digest(data).into()
}

/// EIP-191 hash of a message, as `personal_sign` signs it.
pub fn eip191(message: &str) -> [u8; 32] {
    keccak(format!("\x19Ethereum Signed Message:\n{}{message}", message.len()).as_bytes())
}

/// A random EOA.
pub struct SiweKey {
    key: k256::ecdsa::SigningKey,
    /// Its address, EIP-55.
    pub address: String,
}

impl SiweKey {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let key = loop {
            if let Ok(k) =
                k256::ecdsa::SigningKey::from_slice(&accounts::secret::random_bytes::<32>())
            {
                break k;
            }
        };
        let point = key.verifying_key().to_encoded_point(false);
        let mut addr = [0u8; 20];
        addr.copy_from_slice(&keccak(&point.as_bytes()[1..])[12..]);
        Self {
            key,
            address: wallet::Address(addr).to_string(),
        }
    }

    /// The body of `POST /v1/sessions/siwe` for `nonce`, at a gateway whose SIWE domain is
    /// `authority` (URI `http://{authority}/login`, chain 1, issued now).
    pub fn sign_in_body(&self, authority: &str, nonce: &str) -> Value {
        let issued = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let message = format!(
            "{authority} wants you to sign in with your Ethereum account:\n{}\n\n\nURI: http://{authority}/login\nVersion: 1\nChain ID: 1\nNonce: {nonce}\nIssued At: {issued}",
            self.address
        );
        let signature = match self.key.sign_prehash_recoverable(&eip191(&message)) {
            Ok((sig, recid)) => {
                let mut bytes = sig.to_bytes().to_vec();
                bytes.push(27 + recid.to_byte());
                format!("0x{}", hex::encode(bytes))
            }
            Err(_) => String::new(),
        };
        json!({ "message": message, "signature": signature })
    }
}
