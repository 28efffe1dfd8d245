//! The EIP-4361 test vectors of the reference implementation (tests/fixtures/siwe, with
//! their attribution): every parsing and verification case must come out as published.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use wallet::{SiweMessage, VerifyError, check_times, verify_eoa};

fn fixture(name: &str) -> serde_json::Map<String, Value> {
    let path = format!("{}/tests/fixtures/siwe/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Renders message fields as EIP-4361 text (the layout of the reference implementation).
fn render(f: &Value) -> String {
    let s = |k: &str| {
        f.get(k).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let mut out = format!(
        "{} wants you to sign in with your Ethereum account:\n",
        s("domain").unwrap_or_default()
    );
    out += &format!("{}\n\n", s("address").unwrap_or_default());
    if let Some(st) = s("statement") {
        out += &format!("{st}\n");
    }
    out += "\n";
    for (tag, key) in [
        ("URI", "uri"),
        ("Version", "version"),
        ("Chain ID", "chainId"),
        ("Nonce", "nonce"),
    ] {
        if let Some(v) = s(key) {
            out += &format!("{tag}: {v}\n");
        }
    }
    out += &format!("Issued At: {}", s("issuedAt").unwrap_or_default());
    for (tag, key) in [
        ("Expiration Time", "expirationTime"),
        ("Not Before", "notBefore"),
        ("Request ID", "requestId"),
    ] {
        if let Some(v) = s(key) {
            out += &format!("\n{tag}: {v}");
        }
    }
    if let Some(Value::Array(res)) = f.get("resources") {
        out += "\nResources:";
        for r in res {
            out += &format!("\n- {}", r.as_str().unwrap_or_default());
        }
    }
    out
}

#[test]
fn parsing_positive() {
    for (name, case) in fixture("parsing_positive.json") {
        let text = case["message"].as_str().unwrap();
        let m = SiweMessage::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let fields = &case["fields"];
        assert_eq!(
            m.message.domain.as_str(),
            fields["domain"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            m.address().to_string(),
            fields["address"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(m.nonce(), fields["nonce"].as_str().unwrap(), "{name}");
        assert_eq!(m.chain_id(), fields["chainId"].as_u64().unwrap(), "{name}");
    }
}

#[test]
fn parsing_negative() {
    for (name, case) in fixture("parsing_negative.json") {
        assert!(
            SiweMessage::parse(case.as_str().unwrap()).is_err(),
            "{name} must not parse"
        );
    }
}

#[test]
fn parsing_negative_objects() {
    for (name, fields) in fixture("parsing_negative_objects.json") {
        assert!(
            SiweMessage::parse(&render(&fields)).is_err(),
            "{name} must not parse"
        );
    }
}

fn when(case: &Value) -> OffsetDateTime {
    case.get("time")
        .and_then(Value::as_str)
        .map(|t| OffsetDateTime::parse(t, &Rfc3339).unwrap())
        .unwrap_or_else(OffsetDateTime::now_utc)
}

/// The reference's verification: signature, then the optional domain and nonce bindings
/// and the times at the case's `time` (or now), without skew.
fn verify(case: &Value) -> Result<(), VerifyError> {
    let m = SiweMessage::parse(&render(case))?;
    let sig = hex::decode(case["signature"].as_str().unwrap().trim_start_matches("0x"))
        .map_err(|_| VerifyError::BadSignature)?;
    verify_eoa(&m, &sig)?;
    if let Some(d) = case.get("domainBinding").and_then(Value::as_str)
        && m.message.domain.as_str() != d
    {
        return Err(VerifyError::Domain);
    }
    if let Some(n) = case.get("matchNonce").and_then(Value::as_str)
        && m.nonce() != n
    {
        return Err(VerifyError::Nonce);
    }
    check_times(&m.message, when(case), Duration::ZERO)
}

#[test]
fn verification_positive() {
    for (name, case) in fixture("verification_positive.json") {
        verify(&case).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn verification_negative() {
    for (name, case) in fixture("verification_negative.json") {
        assert!(verify(&case).is_err(), "{name} must not verify");
    }
}

#[test]
fn signature_shapes() {
    let case = &fixture("verification_positive.json")["example message"];
    let m = SiweMessage::parse(&render(case)).unwrap();
    let sig = hex::decode(case["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    assert_eq!(verify_eoa(&m, &sig).unwrap(), m.address());
    // v as 0/1 is the same signature.
    let mut v01 = sig.clone();
    v01[64] -= 27;
    assert_eq!(verify_eoa(&m, &v01).unwrap(), m.address());
    for (bad, why) in [
        (vec![], "empty"),
        (sig[..64].to_vec(), "64 bytes"),
        ([sig.clone(), vec![0]].concat(), "66 bytes"),
        (
            {
                let mut s = sig.clone();
                s[64] = 29;
                s
            },
            "v = 29",
        ),
        (vec![0u8; 65], "all zero"),
    ] {
        assert_eq!(
            verify_eoa(&m, &bad),
            Err(VerifyError::BadSignature),
            "{why}"
        );
    }
    // The high-s twin of a valid signature (s' = n - s, v flipped) is refused.
    let n =
        hex::decode("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141").unwrap();
    let mut high = sig.clone();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = n[i] as i16 - sig[32 + i] as i16 - borrow;
        high[32 + i] = d.rem_euclid(256) as u8;
        borrow = (d < 0) as i16;
    }
    high[64] = if sig[64] == 27 { 28 } else { 27 };
    assert_eq!(
        verify_eoa(&m, &high),
        Err(VerifyError::BadSignature),
        "high s"
    );
    // A valid signature over another message is by someone else.
    let other = SiweMessage::parse(&render(
        &fixture("verification_positive.json")["not yet valid"],
    ))
    .unwrap();
    assert_eq!(verify_eoa(&other, &sig), Err(VerifyError::WrongSigner));
}
