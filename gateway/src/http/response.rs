//! The answer bodies several routes share. A body that one route alone answers is declared
//! next to its handler, as its request is.

use serde::Serialize;

/// `{status, detail?}`: what happened, for answers that carry no resource (a code was sent,
/// an email was confirmed, the gateway is up).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusResponse {
    /// What happened, as a stable snake_case word (`confirmation_sent`, `confirmed`, …).
    pub status: &'static str,
    /// A sentence for people; left out when the status says it all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

impl StatusResponse {
    pub const fn new(status: &'static str) -> Self {
        StatusResponse {
            status,
            detail: None,
        }
    }

    pub const fn with_detail(status: &'static str, detail: &'static str) -> Self {
        StatusResponse {
            status,
            detail: Some(detail),
        }
    }
}
