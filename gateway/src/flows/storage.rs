//! A storage grant (DESIGN, "Storage credentials"): for one storage role of the pool, the
//! role's conditions checked against the token and the account, presigned URLs for the
//! named objects and a POST policy for uploads, under the caller's own prefix; audited
//! (role, prefix, expiry, objects; never the URLs).

use accounts::SessionId;
use accounts::storage_role::StorageAction;
use accounts::store::PoolRecord;
use serde_json::json;

use crate::state::AppState;
use crate::storage::{self, Caller, Grant, GrantRequest, GrantUrl, PostPolicy, Refusal, Stamp};
use crate::tokens::AccessClaims;

/// Why no grant was made.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// No store, or the role's settings do not work (the operator's to fix).
    #[error("{0}")]
    NotConfigured(String),
    #[error("this pool has no storage role {0:?}")]
    RoleNotFound(String),
    #[error("at most {} objects per grant", storage::MAX_OBJECTS)]
    TooManyObjects,
    /// The role's conditions, actions, keys or limits refused the request.
    #[error("the storage role refused the request")]
    Refused(Refusal),
    #[error(transparent)]
    Account(#[from] accounts::Error),
}

impl From<Refusal> for GrantError {
    fn from(r: Refusal) -> Self {
        GrantError::Refused(r)
    }
}

/// The grant for `req`, as the API answers it.
pub async fn grant(
    state: &AppState,
    pool: &PoolRecord,
    claims: &AccessClaims,
    session: SessionId,
    req: &GrantRequest,
) -> Result<Grant, GrantError> {
    let Some(s3) = state.config.s3.as_ref() else {
        return Err(GrantError::NotConfigured(
            "no storage is configured: set GATEHOUSE_S3_ENDPOINT, GATEHOUSE_S3_BUCKET, GATEHOUSE_S3_ACCESS_KEY_ID and GATEHOUSE_S3_SECRET_ACCESS_KEY (and GATEHOUSE_S3_REGION)".into(),
        ));
    };
    let Some(role) = pool
        .config
        .storage_roles
        .iter()
        .find(|r| r.name == req.role)
    else {
        return Err(GrantError::RoleNotFound(req.role.clone()));
    };
    if let Some(problem) = role.problem() {
        return Err(GrantError::NotConfigured(problem));
    }
    if req.objects.len() > storage::MAX_OBJECTS {
        return Err(GrantError::TooManyObjects);
    }
    let now = state.clock.now();
    let account = state
        .store
        .find_account(pool.id, claims.sub)
        .await?
        .ok_or(accounts::Error::AccountNotFound)?;
    if account.account.status != accounts::AccountStatus::Active {
        return Err(accounts::Error::AccountDisabled.into());
    }
    // The account's groups as stored now, not as the token said when it was issued: a
    // removal takes effect at once here.
    let groups = account.groups.clone();
    storage::check_conditions(
        role,
        &Caller {
            email_verified: account
                .email
                .as_ref()
                .is_some_and(|e| e.verified_at.is_some()),
            amr: &claims.token.amr,
            auth_time: claims.auth_time,
            groups,
            now,
        },
    )?;

    let prefix = role.prefix_for(&pool.name, &claims.sub.to_string());
    let now_dt = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|_| accounts::Error::Store("the clock is out of range".into()))?;
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
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
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
        Some(PostPolicy {
            url: s3.bucket_url(),
            fields: fields.into_iter().collect(),
            max_size: role.max_size,
        })
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
            claims.sub,
            json!({
                "role": role.name,
                "prefix": prefix,
                "expires_at": expires_rfc3339,
                "objects": req.objects.iter().map(|o| json!({ "key": o.key, "action": o.action })).collect::<Vec<_>>(),
                "post": post.is_some(),
                "session": session,
            }),
            now,
        )
        .await?;
    Ok(Grant {
        role: role.name.clone(),
        endpoint: s3.endpoint.as_str().trim_end_matches('/').to_string(),
        bucket: s3.bucket.clone(),
        prefix,
        expires_at: expires_rfc3339,
        urls,
        post,
    })
}
