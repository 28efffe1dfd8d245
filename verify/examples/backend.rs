//! A backend that trusts Gatehouse tokens without calling Gatehouse on each request.
//!
//! ```sh
//! GATEHOUSE_ISSUER=http://127.0.0.1:8080/pools/main \
//!   cargo run -p gatehouse-verify --features axum --example backend
//! curl -H "authorization: Bearer $ACCESS" http://127.0.0.1:3000/profile
//! ```
//!
//! `/public` is open; `/profile` needs the `profile` scope; `/vault` needs a linked wallet;
//! everything under `/api` goes through the tower layer.

use axum::extract::{Extension, FromRef};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_verify::web::{Bearer, RequireBearerLayer};
use gatehouse_verify::{AccessClaims, Verifier};
use serde_json::json;

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(s: &AppState) -> Verifier {
        s.verifier.clone()
    }
}

fn forbidden(error: &str, detail: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({ "error": error, "error_description": detail })),
    )
        .into_response()
}

async fn public() -> &'static str {
    "anyone can read this\n"
}

/// Needs the `profile` scope (RFC 6750 §3.1 `insufficient_scope` otherwise).
async fn profile(Bearer(claims): Bearer) -> Response {
    if !claims.has_scope("profile") {
        return forbidden("insufficient_scope", "the profile scope is required");
    }
    Json(json!({ "sub": claims.sub, "amr": claims.amr, "wallets": claims.wallets })).into_response()
}

/// Needs at least one linked wallet.
async fn vault(Bearer(claims): Bearer) -> Response {
    match claims.wallets.first() {
        Some(w) => Json(json!({ "sub": claims.sub, "wallet": w })).into_response(),
        None => forbidden("wallet_required", "link a wallet to this account first"),
    }
}

async fn whoami(Extension(claims): Extension<AccessClaims>) -> Json<AccessClaims> {
    Json(claims)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let issuer = std::env::var("GATEHOUSE_ISSUER")
        .unwrap_or_else(|_| "http://127.0.0.1:8080/pools/main".into());
    let listen = std::env::var("BACKEND_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    // Access tokens name the issuer as their audience.
    let verifier = Verifier::discover(&issuer, &issuer).await?;
    let api = Router::new()
        .route("/whoami", get(whoami))
        .layer(RequireBearerLayer::new(verifier.clone()));
    let app = Router::new()
        .route("/public", get(public))
        .route("/profile", get(profile))
        .route("/vault", get(vault))
        .nest("/api", api)
        .with_state(AppState { verifier });
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("backend on http://{listen}, trusting {issuer}");
    axum::serve(listener, app).await?;
    Ok(())
}
