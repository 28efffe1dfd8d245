//! SAML 2.0 service provider (Web Browser SSO profile, SAML Profiles §4.1): the SP's
//! metadata, an AuthnRequest over the HTTP-Redirect binding, and the Response the IdP posts
//! to the ACS (HTTP-POST binding), checked as SAML Core §3 and Profiles §4.1.4.3 say.
//!
//! The XML signature is verified by bergshamra (a pure-Rust XML-DSig implementation,
//! tested against xmlsec1's interop suite) with only the IdP metadata's certificates trusted
//! (never a key inside the message) and its wrapping guards on. On top of that, the
//! element this module reads must be one a verified signature covers: the Response itself
//! (root), or its one direct `Assertion` child. Signature wrapping (a signed assertion moved
//! and an unsigned one put where it is read) therefore finds nothing to read. A DOCTYPE is
//! refused before parsing (no entities, no external references). Unsigned assertions,
//! encrypted assertions (no decryption key is configured) and SHA-1 (unless the IdP allows
//! it) are refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bergshamra_dsig::DsigContext;
use bergshamra_dsig::verify::{VerifyResult, verify_all_document};
use bergshamra_keys::{KeysManager, loader};
use serde_json::{Map, Value};
use uppsala::{Document, NodeId};

use super::Error;

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// The NameID format asked for when the IdP's configuration names none.
pub const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

/// Signature and digest algorithms accepted (XML-DSig 1.1, RFC 6931); SHA-1 ones only when
/// the IdP's configuration allows them.
const STRONG: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const SHA1: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#sha1",
];

/// Clock skew allowed on `NotBefore` and `NotOnOrAfter`, seconds.
const SKEW: i64 = 60;
/// The largest Response accepted, bytes (base64); no larger body reaches a route anyway
/// (the HTTP layer's limit is the same 64 KiB).
pub const MAX_RESPONSE: usize = 64 * 1024;

fn refused(why: &str) -> Error {
    Error::Refused(why.to_string())
}

/// What the IdP's metadata says: who it is, where its SSO endpoint is, its signing keys.
#[derive(Clone, Debug)]
pub struct Metadata {
    pub entity_id: String,
    /// The HTTP-Redirect `SingleSignOnService` location.
    pub sso_url: String,
    /// The signing certificates (DER).
    pub certs: Vec<Vec<u8>>,
}

/// A document parsed with no DTD at all.
fn parse(xml: &str) -> Result<Document<'_>, Error> {
    uppsala::Parser::new()
        .with_forbid_dtd(true)
        .parse(xml)
        .map_err(|_| refused("XML that does not parse (or carries a DTD)"))
}

fn is(doc: &Document<'_>, node: NodeId, ns: &str, local: &str) -> bool {
    doc.element(node)
        .is_some_and(|e| e.name.matches(Some(ns), local))
}

fn child(doc: &Document<'_>, node: NodeId, ns: &str, local: &str) -> Option<NodeId> {
    doc.first_child_element_by_name_ns(node, ns, local)
}

fn text(doc: &Document<'_>, node: NodeId) -> String {
    doc.text_content_deep(node).trim().to_string()
}

/// The IdP's metadata: an `EntityDescriptor` with an `IDPSSODescriptor`.
pub fn parse_metadata(xml: &str) -> Result<Metadata, Error> {
    let doc = parse(xml)?;
    let root = doc
        .document_element()
        .filter(|r| is(&doc, *r, MD, "EntityDescriptor"))
        .ok_or_else(|| refused("metadata without an EntityDescriptor"))?;
    let entity_id = doc
        .get_attribute(root, "entityID")
        .filter(|e| !e.is_empty())
        .ok_or_else(|| refused("metadata without an entityID"))?
        .to_string();
    let idp = child(&doc, root, MD, "IDPSSODescriptor")
        .ok_or_else(|| refused("metadata without an IDPSSODescriptor"))?;
    let sso_url = doc
        .child_elements_by_name_ns(idp, MD, "SingleSignOnService")
        .into_iter()
        .find(|s| doc.get_attribute(*s, "Binding") == Some(REDIRECT))
        .and_then(|s| doc.get_attribute(s, "Location"))
        .ok_or_else(|| refused("metadata without an HTTP-Redirect SingleSignOnService"))?
        .to_string();
    let mut certs = Vec::new();
    for kd in doc.child_elements_by_name_ns(idp, MD, "KeyDescriptor") {
        if doc.get_attribute(kd, "use").is_some_and(|u| u != "signing") {
            continue;
        }
        for c in doc.get_elements_by_tag_name_ns(DS, "X509Certificate") {
            if !doc.descendants(kd).contains(&c) {
                continue;
            }
            let b64: String = text(&doc, c).split_whitespace().collect();
            let der = STANDARD
                .decode(b64)
                .map_err(|_| refused("a metadata certificate that is not base64"))?;
            certs.push(der);
        }
    }
    if certs.is_empty() {
        // Without a key, nothing could be verified: never accept that.
        return Err(refused("metadata without a signing certificate"));
    }
    Ok(Metadata {
        entity_id,
        sso_url,
        certs,
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `2026-12-07T16:40:00Z`.
fn instant(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn parse_instant(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|d| d.unix_timestamp())
}

/// The SP's side of a sign-in: who we are and where the IdP answers.
pub struct Sp<'a> {
    /// `{issuer}/saml/{idp}`.
    pub entity_id: &'a str,
    /// `{issuer}/saml/{idp}/acs`.
    pub acs: &'a str,
    pub name_id_format: &'a str,
}

/// The SP's metadata (SAML Metadata §2.4.4): HTTP-POST ACS, signed assertions wanted.
pub fn sp_metadata(sp: &Sp<'_>) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{MD}" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="{SAMLP}">
    <md:NameIDFormat>{format}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{POST}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = xml_escape(sp.entity_id),
        format = xml_escape(sp.name_id_format),
        acs = xml_escape(sp.acs),
    )
}

/// Where the browser goes: the AuthnRequest `id`, deflated and base64'd on the IdP's SSO URL
/// (Bindings §3.4.4.1), with `relay_state` (our `state`).
pub fn redirect(
    meta: &Metadata,
    sp: &Sp<'_>,
    id: &str,
    relay_state: &str,
    now: i64,
) -> Result<String, Error> {
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{POST}"><saml:Issuer>{entity}</saml:Issuer><samlp:NameIDPolicy Format="{format}" AllowCreate="true"/></samlp:AuthnRequest>"#,
        at = instant(now),
        dest = xml_escape(&meta.sso_url),
        acs = xml_escape(sp.acs),
        entity = xml_escape(sp.entity_id),
        format = xml_escape(sp.name_id_format),
    );
    let deflated = miniz_oxide::deflate::compress_to_vec(request.as_bytes(), 6);
    let mut url =
        url::Url::parse(&meta.sso_url).map_err(|_| refused("an SSO location that is not a URL"))?;
    if !accounts::idp::upstream_url_ok(url.as_str()) {
        return Err(refused("an SSO location that is not https"));
    }
    url.query_pairs_mut()
        .append_pair("SAMLRequest", &STANDARD.encode(deflated))
        .append_pair("RelayState", relay_state);
    Ok(url.into())
}

/// What the Response must match.
pub struct Expected<'a> {
    pub sp: &'a Sp<'a>,
    /// The AuthnRequest's `ID`.
    pub request_id: &'a str,
    pub allow_sha1: bool,
    pub now: i64,
}

/// A verified assertion.
#[derive(Debug)]
pub struct Asserted {
    /// The assertion's `ID` (for the replay cache).
    pub id: String,
    /// Until when it may be used (the replay cache keeps its ID until then).
    pub not_on_or_after: i64,
    pub name_id: String,
    /// Each attribute's first value, by `Name` (and `FriendlyName`).
    pub attributes: Map<String, Value>,
}

/// The elements verified signatures cover, after checking every signature's algorithms.
fn signed_nodes(
    doc: &Document<'_>,
    meta: &Metadata,
    allow_sha1: bool,
) -> Result<Vec<NodeId>, Error> {
    for m in doc
        .get_elements_by_tag_name_ns(DS, "SignatureMethod")
        .into_iter()
        .chain(doc.get_elements_by_tag_name_ns(DS, "DigestMethod"))
    {
        let alg = doc.get_attribute(m, "Algorithm").unwrap_or_default();
        let ok = STRONG.contains(&alg) || (allow_sha1 && SHA1.contains(&alg));
        if !ok {
            return Err(Error::Refused(format!(
                "a signature algorithm refused: {alg}"
            )));
        }
    }
    let mut keys = KeysManager::new();
    for der in &meta.certs {
        let key =
            loader::load_x509_cert_der(der).map_err(|_| refused("an unusable IdP certificate"))?;
        keys.add_key(key);
    }
    let ctx = DsigContext::new(keys);
    let results = verify_all_document(&ctx, doc)
        .map_err(|e| Error::Refused(format!("the signature: {e}")))?;
    let mut signed = Vec::new();
    for r in results {
        match r {
            VerifyResult::Valid { references, .. } => {
                if references.iter().any(|r| !r.digest_verified) {
                    return Err(refused("a signature over content that was not digested"));
                }
                signed.extend(references.iter().filter_map(|r| r.resolved_node));
            }
            VerifyResult::Invalid { reason } => {
                return Err(Error::Refused(format!("an invalid signature: {reason}")));
            }
        }
    }
    Ok(signed)
}

/// The Response's one assertion, verified and checked (see the module's documentation).
pub fn validate(xml: &str, meta: &Metadata, exp: &Expected<'_>) -> Result<Asserted, Error> {
    let doc = parse(xml)?;
    let root = doc
        .document_element()
        .filter(|r| is(&doc, *r, SAMLP, "Response"))
        .ok_or_else(|| refused("not a SAML Response"))?;
    if !doc
        .child_elements_by_name_ns(root, SAML, "EncryptedAssertion")
        .is_empty()
    {
        return Err(refused(
            "an encrypted assertion, and no decryption key is configured",
        ));
    }
    let status = child(&doc, root, SAMLP, "Status")
        .and_then(|s| child(&doc, s, SAMLP, "StatusCode"))
        .and_then(|c| doc.get_attribute(c, "Value"));
    if status != Some(SUCCESS) {
        return Err(refused("the IdP did not sign the person in"));
    }
    let assertions = doc.child_elements_by_name_ns(root, SAML, "Assertion");
    let [assertion] = assertions.as_slice() else {
        return Err(refused("not exactly one assertion"));
    };
    let assertion = *assertion;
    let signed = signed_nodes(&doc, meta, exp.allow_sha1)?;
    if !signed.contains(&root) && !signed.contains(&assertion) {
        return Err(refused("an unsigned assertion"));
    }
    // The Response (Core §3.2.2, Profiles §4.1.4.3).
    if doc
        .get_attribute(root, "Destination")
        .is_some_and(|d| d != exp.sp.acs)
    {
        return Err(refused("a Response for another destination"));
    }
    if doc.get_attribute(root, "InResponseTo") != Some(exp.request_id) {
        return Err(refused("a Response to another request"));
    }
    if let Some(issuer) = child(&doc, root, SAML, "Issuer")
        && text(&doc, issuer) != meta.entity_id
    {
        return Err(refused("a Response from another issuer"));
    }
    check_assertion(&doc, assertion, meta, exp)
}

fn check_assertion(
    doc: &Document<'_>,
    a: NodeId,
    meta: &Metadata,
    exp: &Expected<'_>,
) -> Result<Asserted, Error> {
    let now = exp.now;
    let issuer = child(doc, a, SAML, "Issuer").map(|i| text(doc, i));
    if issuer.as_deref() != Some(meta.entity_id.as_str()) {
        return Err(refused("an assertion from another issuer"));
    }
    let id = doc
        .get_attribute(a, "ID")
        .filter(|i| !i.is_empty() && i.len() <= 256)
        .ok_or_else(|| refused("an assertion without an ID"))?
        .to_string();
    let subject = child(doc, a, SAML, "Subject").ok_or_else(|| refused("no Subject"))?;
    let name_id = child(doc, subject, SAML, "NameID")
        .map(|n| text(doc, n))
        .filter(|n| !n.is_empty() && n.len() <= 255)
        .ok_or_else(|| refused("no NameID"))?;
    // A bearer confirmation for this request, at our ACS, still valid (Profiles §4.1.4.2).
    let confirmed = doc
        .child_elements_by_name_ns(subject, SAML, "SubjectConfirmation")
        .into_iter()
        .filter(|c| doc.get_attribute(*c, "Method") == Some(BEARER))
        .filter_map(|c| child(doc, c, SAML, "SubjectConfirmationData"))
        .find(|d| {
            doc.get_attribute(*d, "Recipient") == Some(exp.sp.acs)
                && doc.get_attribute(*d, "InResponseTo") == Some(exp.request_id)
        });
    let Some(confirmation) = confirmed else {
        return Err(refused(
            "no bearer confirmation for this request and recipient",
        ));
    };
    let mut not_on_or_after = match doc
        .get_attribute(confirmation, "NotOnOrAfter")
        .and_then(parse_instant)
    {
        Some(t) if now < t + SKEW => t,
        _ => return Err(refused("an expired assertion")),
    };
    let conditions = child(doc, a, SAML, "Conditions").ok_or_else(|| refused("no Conditions"))?;
    if let Some(nb) = doc.get_attribute(conditions, "NotBefore") {
        match parse_instant(nb) {
            Some(t) if now + SKEW >= t => {}
            _ => return Err(refused("an assertion not valid yet")),
        }
    }
    if let Some(na) = doc.get_attribute(conditions, "NotOnOrAfter") {
        match parse_instant(na) {
            Some(t) if now < t + SKEW => not_on_or_after = not_on_or_after.max(t),
            _ => return Err(refused("an expired assertion")),
        }
    }
    // Every AudienceRestriction must name us (Core §2.5.1.4).
    let restrictions = doc.child_elements_by_name_ns(conditions, SAML, "AudienceRestriction");
    if restrictions.is_empty() {
        return Err(refused("an assertion without an audience"));
    }
    for r in restrictions {
        let ours = doc
            .child_elements_by_name_ns(r, SAML, "Audience")
            .into_iter()
            .any(|au| text(doc, au) == exp.sp.entity_id);
        if !ours {
            return Err(refused("an assertion for another audience"));
        }
    }
    let mut attributes = Map::new();
    for st in doc.child_elements_by_name_ns(a, SAML, "AttributeStatement") {
        for at in doc.child_elements_by_name_ns(st, SAML, "Attribute") {
            let Some(value) = child(doc, at, SAML, "AttributeValue").map(|v| text(doc, v)) else {
                continue;
            };
            for key in [
                doc.get_attribute(at, "Name"),
                doc.get_attribute(at, "FriendlyName"),
            ]
            .into_iter()
            .flatten()
            {
                attributes
                    .entry(key.to_string())
                    .or_insert_with(|| Value::String(value.clone()));
            }
        }
    }
    Ok(Asserted {
        id,
        not_on_or_after,
        name_id,
        attributes,
    })
}

#[cfg(test)]
mod tests;
