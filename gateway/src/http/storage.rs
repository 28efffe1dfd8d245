//! `POST /v1/storage/credentials`: a scoped, short-lived grant on the pool's S3-compatible
//! store for one storage role (DESIGN, "Storage credentials").

use accounts::storage_role::StorageAction;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::error::AppError;
use super::extract::{AppJson, Authenticated};
use crate::state::AppState;
use crate::storage::{self, Caller, GrantRequest, GrantUrl, Refusal, Stamp};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/storage/credentials", post(grant))
}

fn refused(status: StatusCode, code: &'static str, detail: impl Into<String>) -> AppError {
    AppError::Refused {
        status,
        code,
        detail: detail.into(),
    }
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Conditions(why) => {
                refused(StatusCode::FORBIDDEN, "role_conditions_unmet", why)
            }
            Refusal::Action(a) => refused(
                StatusCode::FORBIDDEN,
                "action_not_allowed",
                format!("the role does not allow {}", a.as_str()),
            ),
            Refusal::Key(why) => refused(StatusCode::BAD_REQUEST, "object_key_invalid", why),
            Refusal::Limits(why) => refused(StatusCode::BAD_REQUEST, "upload_limits", why),
        }
    }
}

/// A grant for the role: presigned URLs for the named objects, and a POST policy when the
/// role allows `put`; audited (role, prefix, expiry, objects; never the URLs).
async fn grant(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<GrantRequest>,
) -> Result<Json<Value>, AppError> {
    let Some(s3) = state.config.s3.as_ref() else {
        return Err(refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_not_configured",
            "no storage is configured: set GATEHOUSE_S3_ENDPOINT, GATEHOUSE_S3_BUCKET, GATEHOUSE_S3_ACCESS_KEY_ID and GATEHOUSE_S3_SECRET_ACCESS_KEY (and GATEHOUSE_S3_REGION)",
        ));
    };
    let pool = &auth.pool;
    let Some(role) = pool
        .config
        .storage_roles
        .iter()
        .find(|r| r.name == req.role)
    else {
        return Err(refused(
            StatusCode::NOT_FOUND,
            "role_not_found",
            format!("this pool has no storage role {:?}", req.role),
        ));
    };
    if let Some(problem) = role.problem() {
        return Err(refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_not_configured",
            problem,
        ));
    }
    if req.objects.len() > storage::MAX_OBJECTS {
        return Err(AppError::BadRequest {
            code: "too_many_objects",
            detail: format!("at most {} objects per grant", storage::MAX_OBJECTS),
        });
    }
    let now = state.clock.now();
    let account = state
        .store
        .find_account(pool.id, auth.claims.sub)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if account.account.status != accounts::AccountStatus::Active {
        return Err(AppError::Domain(accounts::Error::AccountDisabled));
    }
    let groups = auth.claims.claims["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    storage::check_conditions(
        role,
        &Caller {
            email_verified: account
                .email
                .as_ref()
                .is_some_and(|e| e.verified_at.is_some()),
            amr: &auth.claims.amr,
            auth_time: auth.claims.auth_time,
            groups,
            now,
        },
    )?;

    let prefix = role.prefix_for(&pool.name, &auth.claims.sub.to_string());
    let now_dt = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|_| AppError::Unavailable("clock".into()))?;
    let stamp = Stamp::new(now_dt);
    let ttl = role.ttl_seconds;
    let mut urls = Vec::with_capacity(req.objects.len());
    for o in &req.objects {
        if !role.allows(o.action) {
            return Err(Refusal::Action(o.action).into());
        }
        let (key, query, headers): (String, Vec<(&str, &str)>, _) = match o.action {
            StorageAction::List => {
                if !o.key.is_empty() {
                    return Err(Refusal::Key("list takes no key".into()).into());
                }
                (
                    String::new(),
                    vec![("list-type", "2"), ("prefix", prefix.as_str())],
                    Vec::new(),
                )
            }
            StorageAction::Put => {
                storage::check_key(&prefix, &o.key)?;
                (
                    format!("{prefix}{}", o.key),
                    Vec::new(),
                    storage::put_headers(role, o)?,
                )
            }
            StorageAction::Get | StorageAction::Delete => {
                storage::check_key(&prefix, &o.key)?;
                (format!("{prefix}{}", o.key), Vec::new(), Vec::new())
            }
        };
        let method = storage::method(o.action);
        urls.push(GrantUrl {
            key: o.key.clone(),
            action: o.action,
            method,
            url: s3.presign(method, &key, &query, &headers, &stamp, ttl),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect::<Map<_, _>>(),
        });
    }
    let expires_at = now_dt + time::Duration::seconds(ttl);
    let post = if role.allows(StorageAction::Put) {
        let content_type = if role.content_types.is_empty() {
            req.content_type
                .as_deref()
                .map(storage::check_media_type)
                .transpose()?
        } else {
            Some(storage::allowed_type(role, req.content_type.as_deref())?)
        };
        let exact = match &req.upload_key {
            Some(k) => {
                storage::check_key(&prefix, k)?;
                Some(format!("{prefix}{k}"))
            }
            None => None,
        };
        let min = u64::from(role.max_size.is_some());
        let fields = s3.post_policy(
            &prefix,
            exact.as_deref(),
            (min, role.max_size),
            content_type.as_deref(),
            &stamp,
            expires_at,
        );
        Some(json!({
            "url": s3.bucket_url(),
            "fields": fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<Map<_, _>>(),
            "max_size": role.max_size,
        }))
    } else {
        None
    };
    let expires_rfc3339 = expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    state
        .users
        .record_storage_grant(
            pool.id,
            auth.claims.sub,
            json!({
                "role": role.name,
                "prefix": prefix,
                "expires_at": expires_rfc3339,
                "objects": req.objects.iter().map(|o| json!({ "key": o.key, "action": o.action })).collect::<Vec<_>>(),
                "post": post.is_some(),
                "session": auth.session.id,
            }),
            now,
        )
        .await?;
    let mut answer = json!({
        "role": role.name,
        "endpoint": s3.endpoint.as_str().trim_end_matches('/'),
        "bucket": s3.bucket,
        "prefix": prefix,
        "expires_at": expires_rfc3339,
        "urls": urls,
    });
    if let Some(post) = post {
        answer["post"] = post;
    }
    Ok(Json(answer))
}
