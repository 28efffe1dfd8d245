//! OAuth 2.0 / OpenID Connect rules that do not depend on HTTP: PKCE (RFC 7636), the checks
//! of an authorization request against its client (RFC 6749 §4.1, OIDC Core §3.1.2,
//! RFC 9700), and the state an authorization keeps between its steps. The endpoints that
//! use them live in `http/oauth/` and `http/pages/`.

pub mod flow;
pub mod pkce;
pub mod request;
