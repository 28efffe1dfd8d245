//! `gatehouse user import FILE` and `gatehouse user export`: accounts as NDJSON, one per
//! line, the same form both ways (and the admin API's import). The import reports each
//! refused line as `{"line", "code", "reason"}` and ends with `{"done": …}`; the export
//! leaves password hashes out unless `--with-hashes` is given.

use accounts::store::{AccountCursor, AccountFilter};
use accounts::{Actor, Imported, UserLine};
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::Path;

use super::find_pool;
use crate::state::AppState;

/// Accounts read per page of an export.
const PAGE: i64 = 500;

pub async fn import(
    state: &AppState,
    pool: &str,
    file: &Path,
    from_line: u64,
) -> anyhow::Result<()> {
    let pool = find_pool(state, pool).await?;
    let groups = state.users.group_names(&pool).await?;
    // A command on the box: reading its input blocking is what it is there for.
    let reader: Box<dyn BufRead + Send> = if file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(file)?))
    };
    let (mut n, mut imported, mut refused) = (0u64, 0u64, 0u64);
    let mut out = std::io::stdout();
    for text in reader.lines() {
        let text = text?;
        n += 1;
        if n < from_line || text.trim().is_empty() {
            continue;
        }
        let now = state.clock.now();
        match state
            .users
            .import_line(&pool, &groups, text.trim(), &Actor::Cli, now)
            .await?
        {
            Imported::Account(_) => imported += 1,
            Imported::Refused(r) => {
                refused += 1;
                writeln!(
                    out,
                    "{}",
                    json!({ "line": n, "code": r.code, "reason": r.reason })
                )?;
            }
        }
    }
    let done = json!({ "done": { "last_line": n, "imported": imported, "refused": refused, "next_line": n + 1 } });
    writeln!(out, "{done}")?;
    Ok(())
}

pub async fn export(
    state: &AppState,
    pool: &str,
    with_hashes: bool,
    to: Option<&Path>,
) -> anyhow::Result<()> {
    let pool = find_pool(state, pool).await?;
    let mut out: Box<dyn Write + Send> = match to {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let filter = AccountFilter::default();
    let mut after: Option<AccountCursor> = None;
    loop {
        let page = state
            .store
            .search_accounts(pool.id, &filter, after, PAGE)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(AccountCursor {
            created_at: last.account.created_at,
            id: last.account.id,
        });
        let full = i64::try_from(page.len()).unwrap_or(PAGE) == PAGE;
        // A sign-up nobody confirmed is not an account to move.
        for bundle in page
            .into_iter()
            .filter(|b| b.account.status != accounts::AccountStatus::Pending)
        {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&UserLine::of(bundle, with_hashes))?
            )?;
        }
        if !full {
            break;
        }
    }
    out.flush()?;
    Ok(())
}
