//! `GET`/`POST /oauth2/userinfo` (OIDC Core §5.3), `POST /oauth2/revoke` (RFC 7009) and
//! `POST /oauth2/introspect` (RFC 7662).

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::{
    OAuthError, OAuthErrorBody, authenticate, identify, no_store_json, oauth_error, single_params,
};
use crate::http::extract::{Pool, bearer_user, live_session};
use crate::http::openapi::OAuthProblem;
use crate::state::AppState;
use crate::tokens::{self, AccessClaims};

/// RFC 6750 §3: an error with its Bearer challenge.
fn bearer_error(
    status: StatusCode,
    error: &str,
    description: &str,
    challenge: &'static str,
) -> Response {
    let mut res = (
        status,
        axum::Json(OAuthErrorBody {
            error,
            error_description: description,
        }),
    )
        .into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    res
}

fn invalid_token() -> Response {
    bearer_error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "a valid access token is required",
        "Bearer error=\"invalid_token\"",
    )
}

/// The userinfo answer (OIDC Core §5.3.2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UserInfo {
    sub: accounts::AccountId,
    /// Every linked wallet, CAIP-10.
    #[schema(value_type = Vec<String>)]
    wallets: Vec<wallet::Caip10>,
    /// With the `email` scope only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_claims::<EmailClaims>)]
    email: Option<EmailClaims>,
}

/// The schema of claims flattened from an `Option`: the type's own properties, none of
/// them required (absent when the option is).
fn optional_claims<T: utoipa::PartialSchema>() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    let mut schema = T::schema();
    if let utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(o)) = &mut schema {
        o.required.clear();
    }
    schema
}

/// `email` (`null` when the account has none) and `email_verified`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EmailClaims {
    email: Option<String>,
    email_verified: bool,
}

/// RFC 7009 §2.2 and RFC 7662 §2.2's inactive token: `{}` and `{"active": false}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TokenRevoked)]
struct Revoked {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Inactive {
    #[schema(schema_with = active::<false>)]
    active: bool,
}

/// An active token (RFC 7662 §2.2): its claims, `active` and `token_type`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Introspection {
    #[schema(schema_with = active::<true>)]
    active: bool,
    /// `Bearer`.
    token_type: &'static str,
    /// The access token's claims (RFC 9068).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    claims: serde_json::Map<String, Value>,
}

/// `active`, always `VALUE` in its answer: what tells an active token's answer from an
/// inactive one's.
fn active<const VALUE: bool>() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Boolean)
        .enum_values(Some([VALUE]))
        .build()
}

/// What introspection answers: an active token's claims, or `{"active": false}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum IntrospectionAnswer {
    Active(Introspection),
    Inactive(Inactive),
}

/// The form of a revocation (RFC 7009 §2.1) or an introspection (RFC 7662 §2.1), as the
/// handlers read it: by name, after refusing a repeated parameter, so this type only
/// describes it.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "it describes a form that is read by name")]
struct TokenForm {
    /// The token: an access token, or (revocation only) a refresh token.
    token: String,
    /// `access_token` or `refresh_token`.
    token_type_hint: Option<String>,
    /// A public client names itself; a confidential one with `client_secret_post`.
    client_id: Option<String>,
    /// `client_secret_post` (or HTTP Basic instead: `client_secret_basic`).
    client_secret: Option<String>,
}

/// The signed-in person's claims, as the access token's scope allows: `sub` always,
/// `email` and `email_verified` with `email`, `wallets` with `openid`.
#[utoipa::path(method(get, post), path = "/oauth2/userinfo", security(("user" = [])), responses(
    (status = 200, description = "The claims about the signed-in person", body = UserInfo),
    (status = 401, response = OAuthProblem),
    (status = 403, response = OAuthProblem),
))]
pub(super) async fn userinfo(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let Some((claims, _)) = bearer_user(&state, &pool, &headers).await? else {
        return Ok(invalid_token());
    };
    let scope = &claims.token.scope;
    let has = |s: &str| scope.iter().any(|x| x == s);
    if !has("openid") {
        return Ok(bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "userinfo needs the openid scope",
            "Bearer error=\"insufficient_scope\", scope=\"openid\"",
        ));
    }
    let account = match state.users.account(&pool, claims.sub).await {
        Ok(a) => a,
        Err(accounts::Error::AccountNotFound) => return Ok(invalid_token()),
        Err(e) => return Err(e.into()),
    };
    let email = has("email").then_some(EmailClaims {
        email: account.email,
        email_verified: account.email_verified,
    });
    Ok(no_store_json(UserInfo {
        sub: account.sub,
        wallets: account.wallets,
        email,
    }))
}

/// RFC 7009: a client ends one of its refresh tokens (and so its session), or the session
/// behind one of its access tokens. Unknown tokens and other clients' answer 200 alike.
#[utoipa::path(post, path = "/oauth2/revoke", security((), ("client" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or was never valid (RFC 7009 §2.2)", body = Revoked),
        (status = 400, response = OAuthProblem),
        (status = 401, response = OAuthProblem),
    ))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, OAuthError> {
    let params = single_params(pairs)?;
    let client = identify(&state, &pool, &headers, &params).await?;
    let Some(token) = params.get("token") else {
        return Err(oauth_error("invalid_request", "token is required"));
    };
    let now = state.clock.now();
    let hint = params.get("token_type_hint").map(String::as_str);
    if hint != Some("refresh_token") && token.contains('.') {
        let keys = state.keys.keys(pool.id, now).await?;
        let issuer = state.config.issuer(&pool.name);
        if let Some(claims) = tokens::verify_access(&keys, &issuer, token, now)
            && claims.token.client_id == client.id
        {
            state
                .users
                .end_session_tree(&pool, claims.sid, "revoked_by_client", now)
                .await?;
        }
        return Ok(no_store_json(Revoked {}));
    }
    state
        .users
        .revoke_refresh_token(&pool, token, Some(&client.id), now)
        .await?;
    Ok(no_store_json(Revoked {}))
}

/// RFC 7662 token introspection, for confidential clients (resource servers): an access
/// token of this pool is active while its signature, issuer, audience and lifetime hold and,
/// for a user's token, while its session is live (so a revoked session shows at once).
/// Refresh tokens are opaque to everyone but the gateway: never active here.
#[utoipa::path(post, path = "/oauth2/introspect", security(("client" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Whether the token is active, and its claims if it is", body = IntrospectionAnswer),
        (status = 400, response = OAuthProblem),
        (status = 401, response = OAuthProblem),
    ))]
pub(super) async fn introspect(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, OAuthError> {
    let params = single_params(pairs)?;
    authenticate(&state, &pool, &headers, &params).await?;
    let Some(token) = params.get("token") else {
        return Err(oauth_error("invalid_request", "token is required"));
    };
    let inactive = || {
        Ok(no_store_json(IntrospectionAnswer::Inactive(Inactive {
            active: false,
        })))
    };
    let now = state.clock.now();
    let keys = state.keys.keys(pool.id, now).await?;
    let issuer = state.config.issuer(&pool.name);
    let Some(claims) = tokens::verify_access_jwt(&keys, &issuer, token, now) else {
        return inactive();
    };
    // A user's token is active only while its session is; a client's own has none.
    if claims.get("sid").is_some() {
        let live = match AccessClaims::of_user(claims.clone()) {
            Some(user) => live_session(&state, pool.id, &user, now).await?.is_some(),
            None => false,
        };
        if !live {
            return inactive();
        }
    }
    let Value::Object(mut claims) = claims else {
        return inactive();
    };
    // The answer's own members win over claims of the same name (a token has none).
    claims.remove("active");
    claims.remove("token_type");
    Ok(no_store_json(IntrospectionAnswer::Active(Introspection {
        active: true,
        token_type: "Bearer",
        claims,
    })))
}
