//! Tamper detection through the real agent, server and webhook receiver: a captured sysfs tree
//! whose chassis intrusion switch reads "intrusion" is refused, quarantined, logged and
//! announced; only an operator's explicit, logged clear ends the quarantine, and only a sensor
//! that reads clear again lets the host attest.

mod common;

use std::path::Path;

use common::receiver::{Receiver, have_standardwebhooks, webhook_secret};
use common::*;

/// A copy of a captured machine with a chassis intrusion switch (an `it87` chip's).
fn machine_with_intrusion_switch() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            match entry.file_type().unwrap().is_dir() {
                true => copy(&entry.path(), &target),
                false => drop(std::fs::copy(entry.path(), &target).unwrap()),
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture("baremetal"), dir.path());
    let chip = dir.path().join("sys/class/hwmon/hwmon3");
    std::fs::create_dir_all(&chip).unwrap();
    std::fs::write(chip.join("name"), "it87\n").unwrap();
    set_switch(dir.path(), "0");
    dir
}

fn set_switch(root: &Path, value: &str) {
    std::fs::write(
        root.join("sys/class/hwmon/hwmon3/intrusion0_alarm"),
        format!("{value}\n"),
    )
    .unwrap();
}

const SENSOR: &str = "chassis/chassis:hwmon.it87.intrusion0";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_tripped_sensor_is_refused_quarantined_logged_and_announced_until_cleared() {
    let receiver = have_standardwebhooks().then(|| Receiver::start(&[]));
    let hook = receiver.as_ref().map(|r| format!("{}/hook#host.*", r.url));
    let flags: Vec<&str> = hook
        .iter()
        .flat_map(|h| ["--webhook", h.as_str()])
        .collect();
    let server = TestServer::start(None, &flags);
    let mut receiver = receiver;
    if let (Some(receiver), Some(hook)) = (receiver.as_mut(), &hook) {
        receiver.give_secret(&webhook_secret(&server.data_dir, hook));
    }

    let machine = machine_with_intrusion_switch();
    let root = machine.path().to_str().unwrap();
    let hk = format!("soft:{}", machine.path().join("hk.pem").display());
    let join = join_token(&server).await;
    let enrolled: serde_json::Value = serde_json::from_str(&ok(&server.cli(&[
        "agent",
        "enroll",
        "--hk",
        &hk,
        "--root",
        root,
        "--join-token",
        &join,
        "--json",
    ])))
    .unwrap();
    let host = enrolled["host_id"].as_str().unwrap().to_string();
    let attest = || server.cli(&["agent", "attest", "--hk", &hk, "--root", root]);
    let show = || -> serde_json::Value {
        serde_json::from_str(&ok(
            &server.cli(&["admin", "hosts", "show", &host, "--json"])
        ))
        .unwrap()
    };
    ok(&attest());
    assert_eq!(show()["report"]["components"].as_array().unwrap().len(), 17);

    // The case is opened: the switch latches, the next attestation is refused and the host
    // quarantined for tamper.
    set_switch(machine.path(), "1");
    let refused = attest();
    assert_exit(&refused, 10);
    assert!(stderr(&refused).contains("tamper-detected"), "{refused:?}");
    assert!(stderr(&refused).contains(SENSOR), "{refused:?}");
    let quarantined = show();
    assert_eq!(quarantined["status"], "quarantined");
    assert_eq!(quarantined["tamper"], serde_json::json!([SENSOR]));
    assert!(stderr(&attest()).contains("host-quarantined"));
    // Approving or rotating is no way around an inspection.
    for action in ["approve", "rotate"] {
        let out = server.cli(&["admin", "hosts", action, &host]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("tamper-uncleared"), "{out:?}");
    }

    // Cleared while the switch still reads tripped: the next attestation quarantines again.
    ok(&server.cli(&["admin", "hosts", "clear-tamper", &host]));
    assert!(stderr(&attest()).contains("tamper-detected"));
    assert_eq!(show()["status"], "quarantined");

    // The sensor reset on the machine, then cleared: it attests again.
    set_switch(machine.path(), "0");
    ok(&server.cli(&["admin", "hosts", "clear-tamper", &host]));
    let cleared = show();
    assert_eq!(cleared["status"], "active");
    assert!(cleared.get("tamper").is_none(), "{cleared}");
    ok(&attest());
    // Nothing to clear now.
    let out = server.cli(&["admin", "hosts", "clear-tamper", &host]);
    assert!(stderr(&out).contains("invalid-transition"), "{out:?}");

    // A machine that says it was opened does not enroll at all.
    let other = machine_with_intrusion_switch();
    set_switch(other.path(), "1");
    let other_hk = format!("soft:{}", other.path().join("hk.pem").display());
    let out = server.cli(&[
        "agent",
        "enroll",
        "--hk",
        &other_hk,
        "--root",
        other.path().to_str().unwrap(),
    ]);
    assert!(stderr(&out).contains("tamper-detected"), "{out:?}");
    assert_eq!(server.admin().hosts().await.unwrap().len(), 1);

    // Logged: each tamper with its sensors, each clear by the operator's token.
    let host_events: Vec<_> = events_after(&server, None)
        .await
        .into_iter()
        .filter(|e| e.entry["type"].as_str().unwrap().starts_with("host."))
        .collect();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        host_events
            .iter()
            .map(|e| &e.entry)
            .filter(|e| e["type"] == kind)
            .collect()
    };
    let tampers = of("host.tamper");
    assert_eq!(tampers.len(), 2);
    for tamper in &tampers {
        assert_eq!(tamper["host_id"], host.as_str());
        assert_eq!(tamper["sensors"], serde_json::json!([SENSOR]));
        assert_eq!(tamper["to"], "quarantined");
    }
    let clears = of("host.tamper_cleared");
    assert_eq!(clears.len(), 2);
    assert!(
        clears
            .iter()
            .all(|c| c["by"].as_str().unwrap().starts_with("t_"))
    );
    assert!(clears.iter().all(|c| c["to"] == "active"));

    // Announced: the receiver got every host event, these among them, in log order.
    if let Some(receiver) = &receiver {
        let expected: Vec<(u64, String)> = host_events
            .iter()
            .map(|e| (e.index, e.entry["type"].as_str().unwrap().to_string()))
            .collect();
        let got: Vec<(u64, String)> = receiver
            .wait_for(expected.len())
            .await
            .iter()
            .map(|d| {
                let kind = d["type"].as_str().unwrap().to_string();
                (d["index"].as_u64().unwrap(), kind)
            })
            .collect();
        assert_eq!(got, expected);
    }

    // A sensor that goes silent (its switch unplugged, its driver unloaded) is tamper too.
    std::fs::remove_file(
        machine
            .path()
            .join("sys/class/hwmon/hwmon3/intrusion0_alarm"),
    )
    .unwrap();
    let refused = attest();
    assert!(stderr(&refused).contains("tamper-detected"), "{refused:?}");
    assert!(stderr(&refused).contains(SENSOR), "{refused:?}");
    assert_eq!(show()["tamper"], serde_json::json!([SENSOR]));
}
