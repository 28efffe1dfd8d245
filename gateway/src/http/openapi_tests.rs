//! The document against the router it is collected from: every documented operation is
//! served, nothing else is served on a documented path, no API route bypasses `routes!`,
//! and the document holds together (references, parameters, ids, security).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use tower::ServiceExt;

fn json() -> Value {
    serde_json::to_value(document()).unwrap()
}

/// Every `(method, path)` the document lists.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                ops.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn it_is_openapi_3_1_of_this_version() {
    let doc = json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let ops = documented(&doc);
    assert!(ops.len() > 50, "{}", ops.len());
    for (method, path) in [
        ("POST", "/pools/{pool}/v1/signup"),
        ("GET", "/pools/{pool}/v1/me"),
        ("DELETE", "/pools/{pool}/v1/me"),
        ("POST", "/pools/{pool}/oauth2/token"),
        ("GET", "/admin/v1/pools/{pool}/audit"),
    ] {
        assert!(
            ops.contains(&(method.into(), path.into())),
            "{method} {path}"
        );
    }
    // Only the API: no hosted page, nothing at the root.
    for (_, path) in &ops {
        assert!(
            path.starts_with("/admin/v1/")
                || path.starts_with("/pools/{pool}/v1/")
                || path.starts_with("/pools/{pool}/oauth2/")
                || path.starts_with("/pools/{pool}/.well-known/"),
            "{path}"
        );
    }
}

/// `ProblemDetails.code` is an enum of exactly [`Code::ALL`].
#[test]
fn problem_codes_are_every_code() {
    let doc = json();
    let schemas = &doc["components"]["schemas"];
    let codes: Vec<&str> = schemas["Code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let all: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, all);
    assert_eq!(
        schemas["ProblemDetails"]["properties"]["code"]["$ref"],
        "#/components/schemas/Code"
    );
    assert_eq!(
        doc["components"]["responses"]["Problem"]["content"][PROBLEM_JSON]["schema"]["$ref"],
        "#/components/schemas/ProblemDetails"
    );
}

/// Every `$ref` points at something the document has.
#[test]
fn every_reference_resolves() {
    fn walk<'a>(v: &'a Value, refs: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r);
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let doc = json();
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external: {r}"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

/// Each operation declares exactly the path parameters its path has, and says who may
/// call it: a user's token under `/v1/me`, an admin credential under `/admin/v1`.
#[test]
fn parameters_and_security_match_the_paths() {
    let doc = json();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let placeholders: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{method} {path}");
                    p["name"].as_str().unwrap()
                })
                .collect();
            assert_eq!(declared, placeholders, "{method} {path}");
            let schemes: BTreeSet<&str> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
                .collect();
            if path.starts_with("/admin/v1/") {
                assert_eq!(schemes, BTreeSet::from([ADMIN]), "{method} {path}");
            } else if path.starts_with("/pools/{pool}/v1/me") {
                assert_eq!(schemes, BTreeSet::from([USER]), "{method} {path}");
            }
            assert!(op["responses"]["default"].is_object(), "{method} {path}");
        }
    }
}

#[test]
fn operation_ids_are_unique() {
    let doc = json();
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "{id} twice");
        }
    }
}

/// Every API route goes through `routes!` (and so is documented): a `.route("…")` written
/// by hand under `http/` is for a hosted page or the root only.
#[test]
fn no_api_route_bypasses_the_document() {
    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut sources = Vec::new();
    files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"),
        &mut sources,
    );
    assert!(sources.len() > 10);
    let mut seen = 0;
    for file in sources {
        let text = std::fs::read_to_string(&file).unwrap();
        // The module's own code: its tests may route what they like.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in text.match_indices(".route(") {
            let arg = text[at + ".route(".len()..].trim_start();
            seen += 1;
            let Some(literal) = arg.strip_prefix('"') else {
                assert!(arg.starts_with("PATH,"), "{}: {arg:.40}", file.display());
                continue;
            };
            let path = &literal[..literal.find('"').unwrap()];
            for api in ["/v1", "/oauth2", "/admin", "/.well-known"] {
                assert!(
                    !path.starts_with(api),
                    "{}: {path} is routed without its OpenAPI operation: use routes!",
                    file.display()
                );
            }
        }
    }
    assert!(seen > 5);
}

async fn test_state(dir: &Path) -> AppState {
    let env: HashMap<String, String> = [
        ("GATEHOUSE_DATA_DIR", dir.display().to_string()),
        ("GATEHOUSE_PUBLIC_URL", "http://gatehouse.test".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = crate::config::Config::load(None, &env).unwrap();
    AppState::build(config, crate::clock::Clock::default())
        .await
        .unwrap()
}

/// What the app answers `method path` with no credentials and no body: the status and the
/// problem's code, if any.
async fn probe(app: &axum::Router, method: &str, path: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, code)
}

/// The real router reaches a handler for every documented operation (it is not the
/// router's own "no such resource" or "method not allowed"), and answers 405 to every
/// other method on a documented path: what is served is what is documented.
#[tokio::test]
async fn the_router_serves_exactly_what_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    let app = super::super::app(test_state(dir.path()).await);
    let doc = json();
    let ops = documented(&doc);
    let paths: BTreeSet<&String> = ops.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete: String = path
            .split('/')
            .map(|s| match s {
                "{pool}" => "main",
                s if s.starts_with('{') => "00000000-0000-4000-8000-000000000000",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let (status, code) = probe(&app, method, &concrete).await;
            if ops.contains(&(method.to_string(), path.clone())) {
                assert!(
                    !(status == StatusCode::NOT_FOUND && code == "not_found")
                        && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is documented but not served: {status} {code}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
    // And the document itself, at the root, without credentials.
    let (status, _) = probe(&app, "GET", PATH).await;
    assert_eq!(status, StatusCode::OK);
}
