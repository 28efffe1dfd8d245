//! `GET /openapi.json`: the OpenAPI 3.1 document of every `/v1`, `/oauth2` and `/admin/v1`
//! route (and each pool's discovery document and JWKS), generated from the code, never
//! written by hand.
//!
//! Each handler carries a `#[utoipa::path]` (method, path, parameters, request body, answers
//! and their statuses, security) and its request and answer types derive `ToSchema` (the
//! `accounts` types behind that crate's `schema` feature), honouring their serde attributes.
//! Every router registers its handlers with `utoipa_axum::routes!`, which takes the route's
//! path and methods from that same attribute: a handler is served exactly where its
//! documentation says, and nothing is documented that is not served. The unit tests below
//! prove the rest: every documented operation reaches a handler, no undocumented method is
//! served on a documented path, and no API route is added around `routes!`.
//!
//! Why utoipa (with utoipa-axum) rather than aide and schemars: utoipa builds the document
//! from attributes at compile time, with no change to the handlers' signatures or to the
//! extractors (aide infers operations from extractor and answer types, so every custom
//! extractor here, `AppJson`, `Pool`, `Authenticated`, `Admin`, would need its own
//! `OperationInput`, and a handler answering `Response` or `(StatusCode, Json<T>)` says
//! nothing about its status or body); its attributes state 201, 202 and 204 answers and
//! form-encoded bodies directly; and it is the most used OpenAPI generator for axum.
//!
//! Left out: the hosted HTML pages (`/login`, `/signup`, `/recover`, `/account`, their
//! follow-up steps and assets), which are forms for browsers rather than an API, and the root's
//! `/`, `/healthz`, `/readyz`, `/metrics` and this document itself.
//!
//! Added here once for every operation rather than on each handler: the `pool` path
//! parameter, and a `default` answer for every refusal a handler does not name (the
//! gateway-wide ones: 413, 415, 429, 500, 503, an unknown pool).

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    Components, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, Ref, RefOr, Required,
    ResponseBuilder, Schema,
};
use utoipa::{PartialSchema, ToResponse, ToSchema};

use super::error::{AppError, Code, ProblemDetails};
use super::oauth::OAuthErrorBody;
use crate::state::AppState;

/// Where the document is served, at the root.
pub const PATH: &str = "/openapi.json";

/// The media type of every problem details answer (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A user's access token (`/v1/me…`, `/v1/storage/credentials`, `/oauth2/userinfo`).
pub const USER: &str = "user";
/// The root admin token or an admin client's access token (`/admin/v1`).
pub const ADMIN: &str = "admin";
/// A confidential client's id and secret at the token, revocation and introspection endpoints.
pub const CLIENT: &str = "client";

/// Pool names (`accounts::is_pool_name`).
const POOL_NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,62}$";

/// The OAuth endpoints that answer RFC 6749 §5.2 errors (under the pool's issuer).
const OAUTH_JSON: [&str; 4] = [
    "/oauth2/token",
    "/oauth2/revoke",
    "/oauth2/introspect",
    "/oauth2/userinfo",
];

/// A refusal of the API: RFC 9457 problem details, `code` says which.
pub struct Problem;

impl<'r> ToResponse<'r> for Problem {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(ProblemDetails::name())))
            .build();
        let response = ResponseBuilder::new()
            .description("Refused: RFC 9457 problem details; `code` says why")
            .content(PROBLEM_JSON, content)
            .build();
        ("Problem", response.into())
    }
}

/// A refusal of an OAuth endpoint: an RFC 6749 §5.2 error (RFC 6750 §3 for userinfo).
pub struct OAuthProblem;

impl<'r> ToResponse<'r> for OAuthProblem {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(OAuthErrorBody::name())))
            .build();
        let response = ResponseBuilder::new()
            .description("Refused: an RFC 6749 §5.2 error")
            .content("application/json", content)
            .build();
        ("OAuthError", response.into())
    }
}

/// Every stable error code, as `ProblemDetails.code` carries it: [`Code::ALL`].
impl PartialSchema for Code {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Code::ALL.iter().map(|c| c.as_str())))
            .description(Some(
                "The stable error code clients switch on; the HTTP status follows from it",
            ))
            .into()
    }
}

impl ToSchema for Code {}

/// The document of [`super::routes`], finished: info, security schemes, the shared error
/// answers, the `pool` parameter.
pub fn document() -> OpenApi {
    let (_, doc) = super::routes().split_for_parts();
    finish(doc)
}

/// Completes what the routers collected with what holds for every operation.
pub(super) fn finish(mut doc: OpenApi) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title("Gatehouse")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Identity gateway: sign-up, sign-in with passwords and Sign-In with Ethereum, \
             unified tokens, OAuth 2.0 / OpenID Connect, and the operators' admin API. \
             Everything pool-scoped lives under the pool's issuer, `/pools/{pool}`.",
        ))
        .license(Some(
            LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        ))
        .build();
    let components = doc.components.get_or_insert_with(Components::new);
    add_schema::<ProblemDetails>(components);
    add_schema::<OAuthErrorBody>(components);
    for (name, response) in [Problem::response(), OAuthProblem::response()] {
        components.responses.insert(name.to_string(), response);
    }
    components.add_security_scheme(
        USER,
        http(
            HttpAuthScheme::Bearer,
            Some("JWT"),
            "An access token (RFC 9068 JWT) of the pool in the path, from a sign-in; its \
             session must be live",
        ),
    );
    components.add_security_scheme(
        ADMIN,
        http(
            HttpAuthScheme::Bearer,
            None,
            "The root `GATEHOUSE_ADMIN_TOKEN` (every pool), or an access token from the \
             `client_credentials` grant of a client of the pool in the path with the scope \
             `admin:read` or `admin:write`",
        ),
    );
    components.add_security_scheme(
        CLIENT,
        http(
            HttpAuthScheme::Basic,
            None,
            "A confidential client's `client_id` and `client_secret` (`client_secret_basic`, \
             RFC 6749 §2.3.1); they may instead be sent in the form (`client_secret_post`)",
        ),
    );

    for (path, item) in doc.paths.paths.iter_mut() {
        let oauth_json = OAUTH_JSON.iter().any(|p| path.ends_with(p));
        for (_, op) in operations(item) {
            if path.contains("{pool}") && !has_path_param(op, "pool") {
                op.parameters
                    .get_or_insert_with(Vec::new)
                    .insert(0, pool_param());
            }
            op.responses
                .responses
                .entry("default".into())
                .or_insert_with(|| default_answer(oauth_json));
        }
    }
    unique_operation_ids(&mut doc);
    doc
}

/// An HTTP authentication scheme (RFC 9110 §11) and who holds its credential.
fn http(scheme: HttpAuthScheme, format: Option<&str>, description: &str) -> SecurityScheme {
    let mut http = Http::new(scheme);
    http.bearer_format = format.map(str::to_string);
    http.description = Some(description.to_string());
    SecurityScheme::Http(http)
}

/// `T` and every schema it refers to.
fn add_schema<T: ToSchema>(components: &mut Components) {
    let mut schemas = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut schemas);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

/// The documented operations of a path, with their methods.
pub(super) fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("OPTIONS", &mut item.options),
        ("HEAD", &mut item.head),
        ("PATCH", &mut item.patch),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
    .collect()
}

fn has_path_param(op: &Operation, name: &str) -> bool {
    op.parameters
        .iter()
        .flatten()
        .any(|p| p.name == name && matches!(p.parameter_in, ParameterIn::Path))
}

fn pool_param() -> Parameter {
    ParameterBuilder::new()
        .name("pool")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The pool's name (`main` exists from the first start)"))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(POOL_NAME_PATTERN))
                .examples(["main"]),
        ))
        .build()
}

/// Whatever else an operation may answer: problem details, and at the OAuth endpoints an
/// RFC 6749 error too (a request that never reached the endpoint, say for a pool that does
/// not exist, is refused as everywhere else).
fn default_answer(oauth_json: bool) -> RefOr<utoipa::openapi::Response> {
    if !oauth_json {
        return Ref::from_response_name(Problem::response().0).into();
    }
    let content = |name| {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(name)))
            .build()
    };
    ResponseBuilder::new()
        .description(
            "Refused: an RFC 6749 §5.2 error, or RFC 9457 problem details when the request \
             never reached the endpoint (no such pool, a body too large, the gateway busy)",
        )
        .content("application/json", content(OAuthErrorBody::name()))
        .content(PROBLEM_JSON, content(ProblemDetails::name()))
        .build()
        .into()
}

/// One handler may serve two methods (userinfo's `GET` and `POST`): its operation id gets the
/// method as a suffix, so ids stay unique as OpenAPI requires.
fn unique_operation_ids(doc: &mut OpenApi) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations(item) {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for (method, op) in operations(item) {
            if let Some(id) = &mut op.operation_id
                && seen.get(id.as_str()).is_some_and(|n| *n > 1)
            {
                *id = format!("{id}_{}", method.to_ascii_lowercase());
            }
        }
    }
}

/// `GET /openapi.json`, serialized once when the router is built.
pub(super) fn router(doc: &OpenApi) -> Router<AppState> {
    let body = serde_json::to_vec(doc)
        .map(Bytes::from)
        .map_err(|e| e.to_string());
    Router::new().route(
        PATH,
        get(move || {
            let body = body.clone();
            async move { serve(body) }
        }),
    )
}

fn serve(body: Result<Bytes, String>) -> Response {
    match body {
        Ok(bytes) => {
            let mut res = bytes.into_response();
            let headers = res.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            res
        }
        Err(why) => AppError::Internal(format!("the OpenAPI document: {why}")).into_response(),
    }
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
