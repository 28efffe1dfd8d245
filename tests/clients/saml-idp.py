"""A SAML 2.0 identity provider on a loopback port, for the federation tests: pysaml2 reads the
gateway's AuthnRequest (HTTP-Redirect binding) and signs a Response for the person the test
named, which the IdP's page posts back to the gateway's ACS (HTTP-POST binding).

Usage: python saml-idp.py '{"sp_metadata_urls": [...]}'
Prints one line once listening: {"port", "entity_id", "metadata_url"}.

GET /metadata             the IdP's metadata (its signing certificate, made at start)
GET /sso?SAMLRequest&...  a page whose form (`#saml-post`, hidden SAMLResponse and RelayState)
                          posts the Response to the ACS
POST /test/next {sub, email, name}   who the next Response is for
POST /test/tamper {mode}  what the next Responses are: "" (Response and Assertion signed,
                          RSA-SHA256), "assertion_only", "response_only", "unsigned", "sha1",
                          "tampered" (the NameID changed after signing), "wrap_sibling" and
                          "wrap_nested" (an unsigned assertion for "mallory" beside or around
                          the signed one)
"""
import base64
import datetime
import html
import json
import re
import sys
import tempfile
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.authn_context import PASSWORD
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

args = json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}")
work = tempfile.mkdtemp(prefix="saml-idp-")

# A fresh RSA key and a self-signed certificate: the metadata names it, the tests trust it.
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatehouse-test-idp")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256()))
with open(f"{work}/idp.key", "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))
with open(f"{work}/idp.crt", "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
cert_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
port = server.server_address[1]
base = f"http://127.0.0.1:{port}"
entity_id = f"{base}/metadata"
state = {"next": None, "tamper": ""}

METADATA = f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false">
<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:NameIDFormat>{NAMEID_FORMAT_PERSISTENT}</md:NameIDFormat>
<md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}" Location="{base}/sso"/>
</md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def idp_server():
    """A pysaml2 IdP that knows the gateway's SPs (their metadata read now)."""
    files = []
    for i, url in enumerate(args.get("sp_metadata_urls", [])):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                data = r.read()
        except Exception:  # an SP not configured (yet): left out
            continue
        path = f"{work}/sp{i}.xml"
        with open(path, "wb") as f:
            f.write(data)
        files.append(path)
    conf = IdPConfig()
    conf.load({
        "entityid": entity_id,
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin"]),
        "key_file": f"{work}/idp.key",
        "cert_file": f"{work}/idp.crt",
        "metadata": {"local": files},
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(f"{base}/sso", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_PERSISTENT],
            "want_authn_requests_signed": False,
            "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                   "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}},
        }},
    })
    return Server(config=conf)


def wrapped(xml, nested):
    """Signature wrapping: an unsigned copy of the signed assertion, for "mallory", put
    before the signed one (sibling) or around it (nested); the signed bytes stay untouched."""
    m = re.search(r"<(\w+):Assertion .*?</\1:Assertion>", xml, re.S)
    assertion, prefix = m.group(0), m.group(1)
    evil = re.sub(r"<(\w+):Signature\b.*?</\1:Signature>", "", assertion, count=1, flags=re.S)
    evil = evil.replace('ID="', 'ID="evil', 1)
    evil = re.sub(r"(<\w+:NameID[^>]*>)[^<]*", r"\1mallory", evil, count=1)
    if nested:
        closing = f"</{prefix}:Assertion>"
        evil = evil[: -len(closing)] + f"<{prefix}:Advice>{assertion}</{prefix}:Advice>{closing}"
        return xml.replace(assertion, evil)
    return xml.replace(assertion, evil + assertion)


def respond(query):
    person = state["next"] or {"sub": "nobody"}
    mode = state["tamper"]
    idp = idp_server()
    req = idp.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT).message
    resp_args = idp.response_args(req)
    sha1 = mode == "sha1"
    wrap = mode in ("wrap_sibling", "wrap_nested")
    identity = {"mail": [person.get("email", "")], "displayName": [person.get("name", "")]}
    resp = idp.create_authn_response(
        identity, userid=person["sub"],
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=person["sub"]),
        authn={"class_ref": PASSWORD, "authn_auth": entity_id},
        sign_response=mode not in ("unsigned", "assertion_only") and not wrap,
        sign_assertion=mode not in ("unsigned", "response_only"),
        sign_alg=SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA1 if sha1 else DIGEST_SHA256,
        **resp_args)
    xml = str(resp)
    if wrap:
        xml = wrapped(xml, mode == "wrap_nested")
    if mode == "tampered":
        xml = re.sub(r"(<\w+:NameID[^>]*>)[^<]*", r"\1mallory", xml, count=1)
    relay = query.get("RelayState", [""])[0]
    saml_response = base64.b64encode(xml.encode()).decode()
    return f"""<!doctype html><title>Test SAML IdP</title>
<form id="saml-post" method="post" action="{html.escape(resp_args['destination'])}">
<input type="hidden" name="SAMLResponse" value="{html.escape(saml_response)}"/>
<input type="hidden" name="RelayState" value="{html.escape(relay)}"/>
<button type="submit" id="continue">Continue</button></form>"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, status, body, ctype):
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlparse(self.path)
        if u.path == "/metadata":
            return self.send(200, METADATA, "application/samlmetadata+xml")
        if u.path == "/sso":
            try:
                return self.send(200, respond(parse_qs(u.query)), "text/html")
            except Exception as e:  # the test reads why
                return self.send(400, f"<p>{html.escape(str(e))}</p>", "text/html")
        self.send(404, "", "text/plain")

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path == "/test/next":
            state["next"] = body
        elif self.path == "/test/tamper":
            state["tamper"] = body.get("mode", "")
        else:
            return self.send(404, "", "text/plain")
        self.send(200, '{"ok":true}', "application/json")


server.RequestHandlerClass = Handler
print(json.dumps({"port": port, "entity_id": entity_id, "metadata_url": entity_id}), flush=True)
server.serve_forever()
