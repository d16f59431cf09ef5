//! Commands for operators: `allot check` (the store's invariants), `allot forget` (erasing a customer's personal data), `allot backup` and `allot restore`.

use anyhow::Result;

use allot_store::Store;

/// Prints each invariant with its violations; the exit status is non-zero when one is broken,
/// so monitoring and scripts can run it.
pub async fn check(store: &Store, json: bool) -> Result<std::process::ExitCode> {
    let report = store.check_invariants().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for check in &report.checks {
            let verdict = if check.violations == 0 {
                "ok".to_string()
            } else {
                format!("BROKEN ({} violations)", check.violations)
            };
            println!("{:<20} {verdict:<24} {}", check.name, check.rule);
            if !check.examples.is_empty() {
                println!("{:<20} e.g. {}", "", check.examples.join(", "));
            }
        }
        println!(
            "{}",
            if report.holds {
                "every invariant holds"
            } else {
                "some invariants are broken"
            }
        );
    }
    Ok(if report.holds {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// Erases a customer's personal data and prints what was erased.
pub async fn forget(
    store: &Store,
    id: &str,
    reason: &str,
    clock: allot_core::Clock,
    json: bool,
) -> Result<()> {
    let customer = allot_core::CustomerId::parse(id)?;
    let summary = store
        .forget_customer(&customer, reason, "admin:cli", clock.now())
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "customer {}: personal data erased ({} text attributes, {} match keys, {} conflict records, {} ticket subjects, {} routing traces, {} event reasons, {} tier override reasons, {} transfers, {} notifications); logged as event {}",
            summary.customer_id,
            summary.attributes_erased,
            summary.match_keys_removed,
            summary.conflicts_erased,
            summary.tickets_erased,
            summary.decisions_erased,
            summary.event_reasons_erased,
            summary.tier_reasons_erased,
            summary.transfers_erased,
            summary.notifications_erased,
            summary.event_id
        );
    }
    Ok(())
}

/// Writes a backup of every table to `file` (through a temporary file beside it, renamed when
/// complete, so `file` is never half-written).
pub async fn backup(store: &Store, file: &std::path::Path, clock: allot_core::Clock) -> Result<()> {
    use anyhow::Context;
    let partial = file.with_extension("partial");
    let summary = {
        let handle = std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut out = std::io::BufWriter::new(handle);
        let summary = store.backup(&mut out, clock.now()).await?;
        out.into_inner()
            .map_err(|error| error.into_error())
            .and_then(|handle| handle.sync_all())
            .with_context(|| format!("writing {}", partial.display()))?;
        summary
    };
    std::fs::rename(&partial, file)
        .with_context(|| format!("renaming {} to {}", partial.display(), file.display()))?;
    let rows: u64 = summary.rows.values().sum();
    println!(
        "backed up {} tables, {rows} rows (schema version {}) to {}",
        summary.rows.len(),
        summary.schema_version,
        file.display()
    );
    Ok(())
}

/// Loads a backup into the (empty) database of `--db`, all of it or nothing.
pub async fn restore(store: &Store, file: &std::path::Path) -> Result<()> {
    use anyhow::Context;
    let handle =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let summary = store
        .restore(std::io::BufReader::new(handle))
        .await
        .with_context(|| format!("restoring {}", file.display()))?;
    let rows: u64 = summary.rows.values().sum();
    println!(
        "restored {} tables, {rows} rows from {}",
        summary.rows.len(),
        file.display()
    );
    Ok(())
}
