//! Seeds a migrated database with `n` accounts, each with a verified email, a password, an
//! EOA wallet, a live session with its refresh token and a sign-up audit row: the bulk the
//! measured requests run beside. Plain SQL per backend (a recursive CTE on SQLite,
//! `generate_series` on PostgreSQL), so a million accounts take seconds, not an hour of
//! argon2 hashes: every seeded password shares one hash.

use anyhow::Result;

/// Where the seeded accounts are, for the measured password sign-ins.
pub fn email(i: u64) -> String {
    format!("seed{i}@load.test")
}

pub async fn sqlite(url: &str, pool_id: &str, n: u64, hash: &str, now: i64) -> Result<()> {
    let db = sqlx::SqlitePool::connect(url).await?;
    let rows = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)";
    let acc = "printf('00000000-0000-4000-8000-%012d', i)";
    let statements = [
        format!(
            "{rows} INSERT INTO account (id, pool_id, status, attributes, created_at, updated_at) \
             SELECT {acc}, $2, 'active', '{{}}', $3, $3 FROM n"
        ),
        format!(
            "{rows} INSERT INTO email_credential (account_id, pool_id, email, email_normalized, \
             verified_at, created_at) SELECT {acc}, $2, 'seed' || i || '@load.test', \
             'seed' || i || '@load.test', $3, $3 FROM n"
        ),
        format!(
            "{rows} INSERT INTO password_credential (account_id, hash, created_at, updated_at) \
             SELECT {acc}, $4, $3, $3 FROM n"
        ),
        format!(
            "{rows} INSERT INTO wallet_credential (id, pool_id, account_id, kind, chain_id, \
             address, address_key, caip10, created_at, verified_at) \
             SELECT printf('00000000-0000-4000-a000-%012d', i), $2, {acc}, 'eoa', 0, \
             printf('0x%040x', i), printf('0x%040x', i), printf('eip155:1:0x%040x', i), $3, $3 FROM n"
        ),
        format!(
            "{rows} INSERT INTO session (id, pool_id, account_id, amr, auth_time, created_at, \
             expires_at, last_used_at) SELECT printf('00000000-0000-4000-9000-%012d', i), $2, \
             {acc}, '[\"pwd\"]', $3, $3, $3 + 2592000, $3 FROM n"
        ),
        format!(
            "{rows} INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
             SELECT printf('seed%060d', i), printf('00000000-0000-4000-9000-%012d', i), 0, $3 FROM n"
        ),
        format!(
            "{rows} INSERT INTO audit_event (pool_id, account_id, kind, detail, created_at) \
             SELECT $2, {acc}, 'signup', '{{\"method\":\"password\"}}', $3 FROM n"
        ),
    ];
    for sql in &statements {
        let mut q = sqlx::query(sql)
            .bind(i64::try_from(n)?)
            .bind(pool_id)
            .bind(now);
        if sql.contains("$4") {
            q = q.bind(hash);
        }
        q.execute(&db).await?;
    }
    sqlx::query("ANALYZE").execute(&db).await?;
    db.close().await;
    Ok(())
}

pub async fn postgres(url: &str, pool_id: &str, n: u64, hash: &str, now: i64) -> Result<()> {
    let db = sqlx::PgPool::connect(url).await?;
    let rows = "FROM generate_series(1, $1::bigint) AS i";
    let acc = "'00000000-0000-4000-8000-' || lpad(i::text, 12, '0')";
    let hex = "'0x' || lpad(to_hex(i), 40, '0')";
    let statements = [
        format!(
            "INSERT INTO account (id, pool_id, status, attributes, created_at, updated_at) \
             SELECT {acc}, $2, 'active', '{{}}', $3, $3 {rows}"
        ),
        format!(
            "INSERT INTO email_credential (account_id, pool_id, email, email_normalized, \
             verified_at, created_at) SELECT {acc}, $2, 'seed' || i || '@load.test', \
             'seed' || i || '@load.test', $3, $3 {rows}"
        ),
        format!(
            "INSERT INTO password_credential (account_id, hash, created_at, updated_at) \
             SELECT {acc}, $4, $3, $3 {rows}"
        ),
        format!(
            "INSERT INTO wallet_credential (id, pool_id, account_id, kind, chain_id, address, \
             address_key, caip10, created_at, verified_at) \
             SELECT '00000000-0000-4000-a000-' || lpad(i::text, 12, '0'), $2, {acc}, 'eoa', 0, \
             {hex}, {hex}, 'eip155:1:' || {hex}, $3, $3 {rows}"
        ),
        format!(
            "INSERT INTO session (id, pool_id, account_id, amr, auth_time, created_at, \
             expires_at, last_used_at) SELECT '00000000-0000-4000-9000-' || lpad(i::text, 12, '0'), \
             $2, {acc}, '[\"pwd\"]', $3, $3, $3 + 2592000, $3 {rows}"
        ),
        format!(
            "INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
             SELECT 'seed' || lpad(i::text, 60, '0'), '00000000-0000-4000-9000-' || lpad(i::text, 12, '0'), \
             0, $3 {rows}"
        ),
        format!(
            "INSERT INTO audit_event (pool_id, account_id, kind, detail, created_at) \
             SELECT $2, {acc}, 'signup', '{{\"method\":\"password\"}}', $3 {rows}"
        ),
    ];
    for sql in &statements {
        // Unused parameters are still typed on PostgreSQL: bind only those the text names.
        let mut q = sqlx::query(sql)
            .bind(i64::try_from(n)?)
            .bind(pool_id)
            .bind(now);
        if sql.contains("$4") {
            q = q.bind(hash);
        }
        q.execute(&db).await?;
    }
    sqlx::query("VACUUM ANALYZE").execute(&db).await?;
    db.close().await;
    Ok(())
}
