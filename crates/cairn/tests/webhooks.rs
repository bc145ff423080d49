//! Webhooks through the real server and real receivers (`scripts/webhook-receiver.py`, which
//! checks every signature with the Python `standardwebhooks` library): a receiver that refuses
//! at first, and one that is down across a server restart, each get every event they asked
//! for, once, in log order, signed with the secret `cairn server webhook-secret` shows.

mod common;

use std::path::PathBuf;
use std::process::Command;

use cairn_agent::HardwareKeySigner;
use cairn_proto::HostAction;
use cairn_proto::sealed::RecipientKey;
use common::receiver::{Receiver, have_standardwebhooks, webhook_secret};
use common::*;

/// `(index, type)` of every logged event from `from` on, as the admin reads them.
async fn logged_from(server: &TestServer, from: u64) -> Vec<(u64, String)> {
    events_after(server, from.checked_sub(1))
        .await
        .into_iter()
        .map(|e| (e.index, e.entry["type"].as_str().unwrap().to_string()))
        .collect()
}

fn delivered(accepted: &[serde_json::Value]) -> Vec<(u64, String)> {
    accepted
        .iter()
        .map(|d| {
            (
                d["index"].as_u64().unwrap(),
                d["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn terminate(server: &mut TestServer) {
    ok(&Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .output()
        .unwrap());
    assert!(server.wait().success());
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_event_reaches_its_webhooks_once_and_in_order_on_sqlite() {
    if have_standardwebhooks() {
        through_refusals_and_a_restart(None).await;
    }
}

#[tokio::test]
async fn every_event_reaches_its_webhooks_once_and_in_order_on_postgres() {
    let Some(url) = cairn_store::testing::fresh_postgres("e2e-webhooks").await else {
        return;
    };
    if have_standardwebhooks() {
        through_refusals_and_a_restart(Some(&url)).await;
    }
}

async fn through_refusals_and_a_restart(database_url: Option<&str>) {
    // One receiver wants every event and refuses the first three deliveries; the other wants
    // host events and volume releases, and is down until told otherwise.
    let mut every = Receiver::start(&["--refuse-first", "3"]);
    let down: PathBuf = every.dir.path().join("down");
    std::fs::write(&down, "").unwrap();
    let mut some = Receiver::start(&["--down-while", down.to_str().unwrap()]);
    let every_hook = format!("{}/every", every.url);
    let some_url = format!("{}/some?k=v", some.url);
    let some_hook = format!("{some_url}#host.*,volume.released");
    let flags = ["--webhook", &every_hook, "--webhook", &some_hook];
    let mut first = TestServer::start(database_url, &flags);
    let secret = webhook_secret(&first.data_dir, &some_hook);
    assert!(secret.starts_with("whsec_"), "{secret}");
    // The filter is not part of the secret; the URL is.
    assert_eq!(secret, webhook_secret(&first.data_dir, &some_url));
    let every_secret = webhook_secret(&first.data_dir, &every_hook);
    assert_ne!(secret, every_secret);
    every.give_secret(&every_secret);
    some.give_secret(&secret);

    // Before the restart: a host enrolled, quarantined and approved again, a volume released.
    let key = active_host(&first, &baremetal()).await;
    let host = key.public().host_id();
    let admin = first.admin();
    admin
        .host_action(&host, HostAction::Quarantine)
        .await
        .unwrap();
    admin.host_action(&host, HostAction::Approve).await.unwrap();
    volume(&first, "vol-hook").await;
    let token = security_token(&first, "i-hook", &host, &["vol-hook"]).await;
    let pat = pat(&first, &key, Some(&token), &RecipientKey::generate()).await;
    release(&first, "vol-hook", &token, &pat).await.unwrap();
    // The webhook started where the log stood when it was configured: after init's token.
    let before = logged_from(&first, 1).await;
    assert_eq!(delivered(&every.wait_for(before.len()).await), before);
    let metrics = first.get_text("/metrics").await;
    assert!(counter(&metrics, "cairn_webhook_failures_total") >= 3);
    assert_eq!(
        counter(&metrics, "cairn_webhook_deliveries_total"),
        before.len() as u64
    );
    assert!(some.accepted().is_empty());
    terminate(&mut first);

    // After it: the same data directory, more events, then the second receiver comes back.
    let second = TestServer::run(
        &first.data_dir,
        database_url,
        &flags,
        first.admin_token.clone(),
    );
    let admin = second.admin();
    admin.host_action(&host, HostAction::Revoke).await.unwrap();
    ok(&second.cli(&["admin", "tokens", "create", "--role", "join"]));
    std::fs::remove_file(&down).unwrap();

    let all = logged_from(&second, 1).await;
    assert!(all.len() > before.len() + 1);
    let wanted: Vec<(u64, String)> = all
        .iter()
        .filter(|(_, kind)| kind.starts_with("host.") || kind == "volume.released")
        .cloned()
        .collect();
    assert!(wanted.iter().any(|(_, kind)| kind == "host.revoked"));
    for (receiver, expected) in [(&every, &all), (&some, &wanted)] {
        let accepted = receiver.wait_for(expected.len()).await;
        assert_eq!(&delivered(&accepted), expected);
        assert!(
            accepted.iter().all(|d| d["duplicate"] == false),
            "{accepted:?}"
        );
        assert!(
            !receiver.stderr().contains("REJECTED"),
            "{}",
            receiver.stderr()
        );
    }
    let metrics = second.get_text("/metrics").await;
    assert!(counter(&metrics, "cairn_webhook_failures_total") >= 1);
}

#[test]
fn a_webhook_that_would_leak_or_is_given_twice_is_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = env!("CARGO_BIN_EXE_cairn");
    ok(&Command::new(cairn)
        .args(["server", "init", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap());
    for (hook, says) in [
        ("http://hooks.example/cairn", "loopback"),
        ("https://hooks.example/#hots.*", "event filter"),
    ] {
        let out = Command::new(cairn)
            .args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(["--webhook", hook])
            .output()
            .unwrap();
        assert_exit(&out, 2);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{out:?}"
        );
    }
    let out = Command::new(cairn)
        .args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--webhook", "http://127.0.0.1:9/a#pat.issued"])
        .args(["--webhook", "http://127.0.0.1:9/a"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("twice"),
        "{out:?}"
    );
}

/// Two replicas on one PostgreSQL database, both configured with one webhook: events made on
/// either reach the receiver once each, in log order, and when the delivering replica stops
/// the other takes over.
#[tokio::test]
async fn replicas_deliver_a_webhook_once_between_them() {
    let Some(url) = cairn_store::testing::fresh_postgres("e2e-webhook-replicas").await else {
        return;
    };
    if !have_standardwebhooks() {
        return;
    }
    let mut receiver = Receiver::start(&[]);
    let hook = format!("{}/both", receiver.url);
    let flags = ["--webhook", hook.as_str()];
    let mut a = TestServer::start(Some(&url), &flags);
    let b = TestServer::run(&a.data_dir, Some(&url), &flags, a.admin_token.clone());
    receiver.give_secret(&webhook_secret(&a.data_dir, &hook));
    for (i, server) in [&a, &b, &a, &b].into_iter().enumerate() {
        ok(&server.cli(&["admin", "volumes", "create", "--id", &format!("v{i}")]));
        ok(&server.cli(&["admin", "tokens", "create", "--role", "join"]));
    }
    // A replica's reader sees what that replica acknowledged; reading on `a` first has it
    // sequence its own queue too.
    logged_from(&a, 1).await;
    let before = logged_from(&b, 1).await;
    assert_eq!(delivered(&receiver.wait_for(before.len()).await), before);
    // Whichever held the lease, the one left delivers what comes next.
    terminate(&mut a);
    ok(&b.cli(&["admin", "tokens", "create", "--role", "join"]));
    let all = logged_from(&b, 1).await;
    assert_eq!(all.len(), before.len() + 1);
    let accepted = receiver.wait_for(all.len()).await;
    assert_eq!(delivered(&accepted), all);
    assert!(
        accepted.iter().all(|d| d["duplicate"] == false),
        "{accepted:?}"
    );
}

/// How long `receiver` took to accept `n` deliveries, from now.
async fn time_to(receiver: &Receiver, n: usize) -> std::time::Duration {
    let started = std::time::Instant::now();
    let accepted = receiver.wait_for(n).await;
    assert!(accepted.len() >= n, "{accepted:?}\n{}", receiver.stderr());
    started.elapsed()
}

/// A server killed with SIGKILL and restarted on its data directory delivers again at once:
/// its lease is named after the queue the restart finds abandoned, and given up then (before,
/// the new process waited out the dead one's 90 s lease).
#[tokio::test]
async fn a_killed_server_resumes_its_webhooks_within_seconds_of_its_restart() {
    if !have_standardwebhooks() {
        return;
    }
    let mut receiver = Receiver::start(&[]);
    let hook = format!("{}/restart", receiver.url);
    let flags = ["--webhook", hook.as_str()];
    let mut first = TestServer::start(None, &flags);
    receiver.give_secret(&webhook_secret(&first.data_dir, &hook));
    ok(&first.cli(&["admin", "tokens", "create", "--role", "join"]));
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    first.stop(); // SIGKILL, holding the lease
    // Timed from the kill: the dead process's lease (6 s) would not have run out by then.
    let killed = std::time::Instant::now();
    let second = TestServer::run(&first.data_dir, None, &flags, first.admin_token.clone());
    ok(&second.cli(&["admin", "tokens", "create", "--role", "join"]));
    time_to(&receiver, 2).await;
    let took = killed.elapsed();
    eprintln!("delivering again {took:?} after the kill");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    let all = logged_from(&second, 1).await;
    assert_eq!(delivered(&receiver.accepted()), all);
}

/// A replica killed with SIGKILL while it holds a webhook's lease: a live replica takes it
/// over within 15 s (the lease is short and renewed by its holder while it lives).
#[tokio::test]
async fn a_dead_replicas_webhook_passes_to_a_live_one_within_seconds() {
    let Some(url) = cairn_store::testing::fresh_postgres("e2e-webhook-takeover").await else {
        return;
    };
    if !have_standardwebhooks() {
        return;
    }
    let mut receiver = Receiver::start(&[]);
    let hook = format!("{}/takeover", receiver.url);
    let flags = ["--webhook", hook.as_str()];
    // `a` alone first: it takes the lease, and keeps it once `b` is up.
    let mut a = TestServer::start(Some(&url), &flags);
    receiver.give_secret(&webhook_secret(&a.data_dir, &hook));
    ok(&a.cli(&["admin", "tokens", "create", "--role", "join"]));
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    let b = TestServer::run(&a.data_dir, Some(&url), &flags, a.admin_token.clone());
    ok(&b.cli(&["admin", "tokens", "create", "--role", "join"]));
    assert_eq!(receiver.wait_for(2).await.len(), 2);
    a.stop(); // SIGKILL, holding the lease
    let killed = std::time::Instant::now();
    ok(&b.cli(&["admin", "tokens", "create", "--role", "join"]));
    time_to(&receiver, 3).await;
    let took = killed.elapsed();
    eprintln!("taken over {took:?} after the kill");
    assert!(took < std::time::Duration::from_secs(15), "{took:?}");
    let all = logged_from(&b, 1).await;
    let accepted = receiver.accepted();
    assert_eq!(delivered(&accepted), all);
    assert!(
        accepted.iter().all(|d| d["duplicate"] == false),
        "{accepted:?}"
    );
}
