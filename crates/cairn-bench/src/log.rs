//! `cairn bench log`: the transparency log's own figures on a store, as the server's writer
//! appends (one transaction and one signed checkpoint per batch): entries per second
//! sustained at each batch size, each batch's latency (the checkpoint latency a request
//! waits out), and the bytes an entry takes in the database, beside the crypto an entry
//! costs alone (its leaf and node hashes, and its share of the checkpoint's signature).

use std::time::{Duration, Instant};

use cairn_log::{Entry, Event, Frontier, LogSigner};
use cairn_proto::HostId;
use cairn_store::{NewEntry, Store};

use crate::measure::{ms, per_second, percentile};
use crate::{Result, failure};

/// A PAT's entry, the most frequent one.
fn entry(i: u64) -> NewEntry {
    let host: HostId = format!("h_{:032x}", i).parse().expect("a host id");
    let event = Event::PatIssued {
        host_id: host,
        jti: format!("{:022}", i),
        expires_at: 1_800_000_000,
    };
    let entry = Entry {
        time: 1_800_000_000,
        event,
    };
    NewEntry {
        kind: entry.event.event_type().as_str().into(),
        at: i as i64,
        subject: entry.event.subject().to_string(),
        owner: None,
        bytes: entry.to_bytes(),
    }
}

fn signer() -> LogSigner {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
    let public: [u8; 32] = pair.public_key().as_ref().try_into().expect("32 bytes");
    LogSigner::new(&public, move |m| Ok(pair.sign(m).as_ref().to_vec()))
}

pub async fn log(batches: &[usize], seconds: u64, database_url: Option<String>) -> Result {
    let dir = tempfile::tempdir().map_err(failure)?;
    let url = database_url.unwrap_or_else(|| Store::sqlite_url(&dir.path().join("bench.db")));
    let store = Store::connect(&url).await.map_err(failure)?;
    let signer = signer();
    let opened = store.open_log(&signer).await.map_err(failure)?;
    if opened.size != 0 {
        return Err(crate::BenchError::usage(
            "the database's log is not empty: give a fresh database",
        ));
    }
    // The bound: an entry's hashes (its leaf and, on average, one node), and one signature
    // per batch.
    let sample = entry(0).bytes;
    let budget = Duration::from_secs(1);
    let mut frontier = Frontier::empty();
    let hashes = per_second(budget, || {
        std::hint::black_box(frontier.append(&sample));
    });
    let signs = per_second(budget, || {
        std::hint::black_box(signer.checkpoint(5, frontier.root()).expect("signs"));
    });
    println!(
        "crypto (1 core): {hashes:.0} entries hashed /s, {signs:.0} checkpoints signed /s; entry {} bytes",
        sample.len()
    );
    let before = store.log_storage_bytes().await.map_err(failure)?;
    let mut next = 0u64;
    for &batch in batches {
        let bound = 1.0 / (1.0 / hashes + 1.0 / (signs * batch as f64));
        let mut latencies = vec![];
        let start = Instant::now();
        let mut appended = 0u64;
        while start.elapsed() < Duration::from_secs(seconds) {
            let entries: Vec<NewEntry> = (next..next + batch as u64).map(entry).collect();
            let t = Instant::now();
            store
                .append_log(&entries, &signer, None)
                .await
                .map_err(failure)?;
            latencies.push(t.elapsed());
            next += batch as u64;
            appended += batch as u64;
        }
        let rate = appended as f64 / start.elapsed().as_secs_f64();
        latencies.sort_unstable();
        println!(
            "log batch {batch:>4}: {rate:>8.0} entries/s ({:.1} % of the 1-core crypto bound {bound:.0}/s), checkpoint latency p50 {:.2} ms p99 {:.2} ms",
            100.0 * rate / bound,
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
        );
    }
    let after = store.log_storage_bytes().await.map_err(failure)?;
    match (before, after) {
        (Some(before), Some(after)) if next > 0 => println!(
            "storage: {:.0} bytes per entry ({} entries; tables and indexes, as the database counts them)",
            (after.saturating_sub(before)) as f64 / next as f64,
            next
        ),
        _ => println!("storage: not measured (this database does not say)"),
    }
    store.close().await;
    Ok(())
}
