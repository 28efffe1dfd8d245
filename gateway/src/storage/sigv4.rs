//! AWS Signature Version 4 for S3, as far as a grant needs it: query-string presigned URLs
//! ("Authenticating Requests: Using Query Parameters") and browser POST policies ("Browser-
//! Based Uploads Using POST"). Payloads are `UNSIGNED-PAYLOAD`; the secret key never leaves
//! this module's inputs.

use accounts::secret::Secret;
use aws_lc_rs::{digest, hmac};
use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use url::Url;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The store the gateway signs for (`GATEHOUSE_S3_*`).
#[derive(Clone, Debug)]
pub struct S3Settings {
    pub endpoint: Url,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// `https://endpoint/bucket/key` (true) or `https://bucket.endpoint/key` (false).
    pub path_style: bool,
}

/// The signing date and time of one grant.
pub struct Stamp {
    /// `YYYYMMDD'T'HHMMSS'Z'`
    amz_date: String,
    /// `YYYYMMDD`
    date: String,
}

impl Stamp {
    pub fn new(now: OffsetDateTime) -> Self {
        let f = format_description!("[year][month][day]T[hour][minute][second]Z");
        let amz_date = now.format(&f).unwrap_or_default();
        Self {
            date: amz_date[..8].to_string(),
            amz_date,
        }
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// RFC 3986 percent-encoding of everything but unreserved characters (and `/` when asked),
/// as SigV4's canonical forms require.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl S3Settings {
    /// `host[:port]` of requests for this bucket.
    fn host(&self) -> String {
        let host = self.endpoint.host_str().unwrap_or_default();
        let host = if self.path_style {
            host.to_string()
        } else {
            format!("{}.{host}", self.bucket)
        };
        match self.endpoint.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// The request path of `key` (empty: the bucket itself).
    fn path(&self, key: &str) -> String {
        let base = self.endpoint.path().trim_end_matches('/');
        if self.path_style {
            format!("{base}/{}/{key}", self.bucket)
        } else {
            format!("{base}/{key}")
        }
    }

    fn credential_scope(&self, stamp: &Stamp) -> String {
        format!("{}/{}/s3/aws4_request", stamp.date, self.region)
    }

    fn signing_key(&self, stamp: &Stamp) -> Vec<u8> {
        let secret = format!("AWS4{}", self.secret_access_key.expose());
        let k = hmac_sha256(secret.as_bytes(), stamp.date.as_bytes());
        let k = hmac_sha256(&k, self.region.as_bytes());
        let k = hmac_sha256(&k, b"s3");
        hmac_sha256(&k, b"aws4_request")
    }

    /// The bucket's URL (where POST uploads go).
    pub fn bucket_url(&self) -> String {
        format!(
            "{}://{}{}",
            self.endpoint.scheme(),
            self.host(),
            self.path("")
        )
    }

    /// A presigned URL for `method` on `key`, valid `expires` seconds from `stamp`. `query`
    /// adds parameters (e.g. `list-type`), `headers` are signed too (lowercase names) and
    /// must be sent as given.
    pub fn presign(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        stamp: &Stamp,
        expires: i64,
    ) -> String {
        let host = self.host();
        let path = uri_encode(&self.path(key), true);
        let mut signed: Vec<(String, String)> = vec![("host".into(), host.clone())];
        signed.extend(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())),
        );
        signed.sort();
        let signed_names = signed
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let credential = format!("{}/{}", self.access_key_id, self.credential_scope(stamp));
        let expires = expires.to_string();
        let mut params: Vec<(String, String)> = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", &credential),
            ("X-Amz-Date", &stamp.amz_date),
            ("X-Amz-Expires", &expires),
            ("X-Amz-SignedHeaders", &signed_names),
        ]
        .iter()
        .chain(query.iter())
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
        params.sort();
        let query_string = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!(
            "{method}\n{path}\n{query_string}\n{canonical_headers}\n{signed_names}\nUNSIGNED-PAYLOAD"
        );
        let to_sign = format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            stamp.amz_date,
            self.credential_scope(stamp),
            sha256_hex(canonical.as_bytes())
        );
        let signature = hex::encode(hmac_sha256(&self.signing_key(stamp), to_sign.as_bytes()));
        format!(
            "{}://{host}{path}?{query_string}&X-Amz-Signature={signature}",
            self.endpoint.scheme()
        )
    }

    /// A POST policy for browser uploads: to exactly `exact_key`, or anywhere under `prefix`;
    /// until `expiration`, `size` bytes (min, max), the content type `content_type` (or any).
    /// Returns the form fields; the browser adds `file` last.
    pub fn post_policy(
        &self,
        prefix: &str,
        exact_key: Option<&str>,
        size: (u64, Option<u64>),
        content_type: Option<&str>,
        stamp: &Stamp,
        expiration: OffsetDateTime,
    ) -> Vec<(String, String)> {
        let f = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let credential = format!("{}/{}", self.access_key_id, self.credential_scope(stamp));
        let mut conditions: Vec<Value> = vec![
            json!({ "bucket": self.bucket }),
            match exact_key {
                Some(key) => json!(["eq", "$key", key]),
                None => json!(["starts-with", "$key", prefix]),
            },
            json!({ "x-amz-algorithm": ALGORITHM }),
            json!({ "x-amz-credential": credential }),
            json!({ "x-amz-date": stamp.amz_date }),
        ];
        if let (min, Some(max)) = size {
            conditions.push(json!(["content-length-range", min, max]));
        }
        conditions.push(match content_type {
            Some(t) => json!(["eq", "$Content-Type", t]),
            None => json!(["starts-with", "$Content-Type", ""]),
        });
        let policy = json!({
            "expiration": expiration.format(&f).unwrap_or_default(),
            "conditions": conditions,
        });
        let encoded = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signature = hex::encode(hmac_sha256(&self.signing_key(stamp), encoded.as_bytes()));
        let mut fields = vec![
            (
                "key".to_string(),
                exact_key.map_or_else(|| format!("{prefix}${{filename}}"), str::to_string),
            ),
            ("x-amz-algorithm".into(), ALGORITHM.into()),
            ("x-amz-credential".into(), credential),
            ("x-amz-date".into(), stamp.amz_date.clone()),
            ("policy".into(), encoded),
            ("x-amz-signature".into(), signature),
        ];
        if let Some(t) = content_type {
            fields.push(("Content-Type".into(), t.to_string()));
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The example of AWS's "Authenticating Requests: Using Query Parameters" page: a
    /// presigned GET of `test.txt` in `examplebucket`, 2013-05-24, 86400 s.
    #[test]
    fn matches_the_aws_presigned_url_example() {
        let s = S3Settings {
            endpoint: Url::parse("https://s3.amazonaws.com").unwrap(),
            region: "us-east-1".into(),
            bucket: "examplebucket".into(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            path_style: false,
        };
        let stamp = Stamp::new(time::macros::datetime!(2013-05-24 00:00:00 UTC));
        let url = s.presign("GET", "test.txt", &[], &[], &stamp, 86400);
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(uri_encode("a b/c~d*", true), "a%20b/c~d%2A");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
    }
}
