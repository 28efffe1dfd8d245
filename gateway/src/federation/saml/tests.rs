//! The SP's checks, on metadata and Responses made by pysaml2 and xmlsec1.
use super::*;

const META: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example/m">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>AAEC
AwQ=</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>BQY=</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/post"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"#;

#[test]
fn metadata_gives_the_redirect_endpoint_and_signing_keys_only() {
    let m = parse_metadata(META).expect("metadata");
    assert_eq!(m.entity_id, "https://idp.example/m");
    assert_eq!(m.sso_url, "https://idp.example/sso");
    assert_eq!(m.certs, vec![vec![0, 1, 2, 3, 4]]);
    let no_key = META.replace("use=\"signing\"", "use=\"encryption\"");
    assert!(parse_metadata(&no_key).is_err());
    let dtd = format!("<!DOCTYPE x [<!ENTITY e \"y\">]>{META}");
    assert!(parse_metadata(&dtd).is_err());
}

#[test]
fn the_request_is_deflated_on_the_redirect() {
    let m = parse_metadata(META).expect("metadata");
    let sp = Sp {
        entity_id: "https://gw.example/pools/main/saml/corp",
        acs: "https://gw.example/pools/main/saml/corp/acs",
        name_id_format: PERSISTENT,
    };
    let url = redirect(&m, &sp, "_abc", "st", 0).expect("url");
    let u = url::Url::parse(&url).expect("url");
    let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q["RelayState"], "st");
    let raw = STANDARD.decode(&q["SAMLRequest"]).expect("b64");
    let xml = miniz_oxide::inflate::decompress_to_vec(&raw).expect("inflate");
    let xml = String::from_utf8(xml).expect("utf8");
    assert!(
        xml.contains(r#"ID="_abc""#) && xml.contains("saml/corp/acs"),
        "{xml}"
    );
    assert!(sp_metadata(&sp).contains(r#"entityID="https://gw.example/pools/main/saml/corp""#));
}

/// Responses pysaml2 signed (RSA-SHA256; ECDSA re-signed with xmlsec1) for request
/// `_req123` to `https://gateway.test/saml/acs`, valid 16:36:21 to 16:41:21 UTC on
/// 2026-12-07, and variants of them: one byte changed, and two signature wrappings.
fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/saml/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn meta(cert: &str) -> Metadata {
    let pem = fixture(cert);
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Metadata {
        entity_id: "https://idp.test/metadata".into(),
        sso_url: "https://idp.test/sso/redirect".into(),
        certs: vec![STANDARD.decode(b64).expect("der")],
    }
}

const SP: Sp<'static> = Sp {
    entity_id: "https://gateway.test/saml/metadata",
    acs: "https://gateway.test/saml/acs",
    name_id_format: PERSISTENT,
};

fn at(t: &str) -> i64 {
    parse_instant(t).expect("instant")
}

fn check(file: &str, cert: &str, now: i64) -> Result<Asserted, Error> {
    let exp = Expected {
        sp: &SP,
        request_id: "_req123",
        allow_sha1: false,
        now,
    };
    validate(&fixture(file), &meta(cert), &exp)
}

fn why(r: Result<Asserted, Error>) -> String {
    match r {
        Ok(a) => panic!("accepted: {a:?}"),
        Err(e) => {
            eprintln!("refused: {e}");
            e.to_string()
        }
    }
}

#[test]
fn signed_responses_are_read() {
    let now = at("2026-12-07T16:37:00Z");
    for (file, cert) in [("resp.xml", "idp.crt"), ("ec_resp.xml", "ec_idp.crt")] {
        let a = check(file, cert, now).expect(file);
        assert_eq!(a.name_id, "alice", "{file}");
        assert_eq!(
            a.attributes.get("mail").and_then(Value::as_str),
            Some("alice@example.org")
        );
        assert_eq!(a.not_on_or_after, at("2026-12-07T16:41:21Z"));
    }
}

/// Why `xml` (for the test IdP's key) is refused for `sp` and `request_id` at `now`.
fn refused(xml: &str, sp: &Sp<'_>, request_id: &str, now: i64) -> String {
    let exp = Expected {
        sp,
        request_id,
        allow_sha1: false,
        now,
    };
    why(validate(xml, &meta("idp.crt"), &exp))
}

#[test]
fn wrapped_tampered_and_foreign_responses_are_refused() {
    let now = at("2026-12-07T16:37:00Z");
    // One byte changed inside the signed assertion.
    assert!(why(check("tampered.xml", "idp.crt", now)).contains("signature"));
    // An unsigned assertion beside the signed one, or around it: never read.
    assert!(why(check("xsw_sibling.xml", "idp.crt", now)).contains("not exactly one"));
    assert!(why(check("xsw_nested.xml", "idp.crt", now)).contains("unsigned assertion"));
    // Signed by a key the metadata does not name.
    assert!(why(check("resp.xml", "ec_idp.crt", now)).contains("signature"));
    // Too late, too early.
    assert!(why(check("resp.xml", "idp.crt", at("2026-12-07T16:43:00Z"))).contains("expired"));
    assert!(
        why(check("resp.xml", "idp.crt", at("2026-12-07T16:30:00Z"))).contains("not valid yet")
    );
    // Another request, another SP.
    let xml = fixture("resp.xml");
    let other_audience = Sp {
        entity_id: "https://other.test/saml/metadata",
        ..SP
    };
    let other_acs = Sp {
        acs: "https://other.test/saml/acs",
        ..SP
    };
    assert!(refused(&xml, &SP, "_other", now).contains("another request"));
    assert!(refused(&xml, &other_audience, "_req123", now).contains("another audience"));
    assert!(refused(&xml, &other_acs, "_req123", now).contains("another destination"));
    // A DTD, even a harmless one.
    let dtd = xml.replacen(
        "<?xml version=\"1.0\"?>",
        "<?xml version=\"1.0\"?><!DOCTYPE r>",
        1,
    );
    assert!(refused(&dtd, &SP, "_req123", now).contains("DTD"));
    // SHA-1 named anywhere in a signature.
    let sha1 = xml.replace(
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    assert!(refused(&sha1, &SP, "_req123", now).contains("algorithm refused"));
}
