//! Exchanges with a gateway, recorded for `tests/clients/openapi.mjs`, which validates them
//! and the gateway's OpenAPI document with validators nobody here wrote.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;

use crate::{Gateway, clients_dir};

/// What a request carries.
pub enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
    /// Sent as is and not checked against the document: malformed on purpose.
    Raw(&'static str, &'static str),
}

/// Who a request says it is.
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str, &'a str),
}

/// An answer: its status and its body as JSON (`Null` when it is not).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn str(&self, key: &str) -> String {
        self.body[key].as_str().unwrap_or_default().to_string()
    }
}

/// Sends requests and keeps each exchange for the validator.
pub struct Exchanges<'g> {
    gw: &'g Gateway,
    /// Each exchange so far, as the validator reads it.
    pub seen: Vec<Value>,
}

impl<'g> Exchanges<'g> {
    pub fn new(gw: &'g Gateway) -> Self {
        Exchanges {
            gw,
            seen: Vec::new(),
        }
    }

    /// `path` is under the `main` pool's issuer, or at the root when it starts with `//`.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Body,
        auth: Auth<'_>,
    ) -> anyhow::Result<Answer> {
        self.send_with(method, path, body, auth, &[]).await
    }

    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        body: Body,
        auth: Auth<'_>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let url = match path.strip_prefix("//") {
            Some(root) => format!("{}/{root}", self.gw.base),
            None => format!("{}{path}", self.gw.api),
        };
        let mut req = self.gw.http.request(method.clone(), &url);
        let request = match body {
            Body::None => Value::Null,
            Body::Json(v) => {
                req = req.json(&v);
                json!({ "contentType": "application/json", "body": v.to_string() })
            }
            Body::Form(pairs) => {
                let text = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish();
                req = req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(text.clone());
                json!({ "contentType": "application/x-www-form-urlencoded", "body": text })
            }
            Body::Raw(content_type, text) => {
                req = req.header("content-type", content_type).body(text);
                Value::Null
            }
        };
        req = match auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(id, secret) => req.basic_auth(id, Some(secret)),
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await?;
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = res.text().await?;
        let url = url::Url::parse(&url)?;
        self.seen.push(json!({
            "method": method.as_str(),
            "path": url.path(),
            "status": status.as_u16(),
            "contentType": content_type,
            "body": text,
            "request": request,
        }));
        Ok(Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }
}

/// What `tests/clients/openapi.mjs` says of the document and the exchanges.
pub async fn validate(
    scratch: &Path,
    document: &Value,
    exchanges: &[Value],
) -> anyhow::Result<Value> {
    let dir = clients_dir()?;
    for needed in ["@seriousme/openapi-schema-validator", "ajv", "ajv-formats"] {
        anyhow::ensure!(
            dir.join("node_modules").join(needed).exists(),
            "{needed} is missing from tests/clients: run scripts/install-test-clients"
        );
    }
    let file = scratch.join("openapi-exchanges.json");
    let input = json!({ "document": document, "exchanges": exchanges });
    std::fs::write(&file, serde_json::to_vec(&input)?)?;
    let out = tokio::process::Command::new("node")
        .arg(dir.join("openapi.mjs"))
        .arg(&file)
        .current_dir(&dir)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "openapi.mjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}
