//! The periodic purge: expired sessions (with their refresh tokens), codes and undo links,
//! sign-ups never confirmed, sent or failed mail after the retention
//! (`GATEHOUSE_RETENTION_DAYS`), and audit events after theirs
//! (`GATEHOUSE_AUDIT_RETENTION_DAYS`, or a pool's shorter `audit_retention_days`). Deletes run in bounded batches through indexes, so a
//! run is cheap whatever the size of the tables; every instance may run it (deleting what is
//! already gone is a no-op).

use accounts::store::{DynStore, PurgeCutoffs, PurgeReport};
use std::time::Duration;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;

/// How often each instance purges.
const INTERVAL: Duration = Duration::from_secs(600);
/// Rows per delete, and deletes per table per run: at most 20,000 rows a table a run.
const BATCH: i64 = 1000;
const BATCHES: u32 = 20;

const DAY: i64 = 86_400;

/// What a purge at `now` deletes, under `config`'s retention.
pub fn cutoffs(config: &Config, now: i64) -> PurgeCutoffs {
    let keep = i64::try_from(config.retention_days).unwrap_or(i64::MAX / DAY) * DAY;
    PurgeCutoffs {
        sessions_expired_before: now - keep,
        codes_expired_before: now - keep,
        pending_created_before: now - keep,
        mail_created_before: now - keep,
        audit_before: (config.audit_retention_days > 0).then(|| {
            now - i64::try_from(config.audit_retention_days).unwrap_or(i64::MAX / DAY) * DAY
        }),
    }
}

/// One purge now.
pub async fn purge_once(
    store: &DynStore,
    config: &Config,
    now: i64,
) -> Result<PurgeReport, accounts::Error> {
    let mut report = store
        .purge_expired(&cutoffs(config, now), BATCH, BATCHES)
        .await?;
    // Pools that keep their audit events for fewer days than the gateway does.
    let mut after: Option<String> = None;
    loop {
        let pools = store.list_pools(after.as_deref(), 200).await?;
        let Some(last) = pools.last() else { break };
        after = Some(last.name.clone());
        for pool in &pools {
            if let Some(days) = pool.config.audit_retention_days {
                let before = now - i64::from(days) * DAY;
                report.audit_events += store
                    .purge_pool_audit(pool.id, before, BATCH, BATCHES)
                    .await?;
            }
        }
    }
    Ok(report)
}

/// Purges every [`INTERVAL`] until `shutdown` turns true.
pub async fn run(
    store: DynStore,
    config: std::sync::Arc<Config>,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        match purge_once(&store, &config, clock.now()).await {
            Ok(report) if report != PurgeReport::default() => {
                tracing::info!(?report, "purged expired rows");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purge failed; retrying at the next interval"),
        }
    }
}
