//! `cairn agent scan | enroll | attest`.

use cairn_agent::{ApiClient, HardwareKeySigner, flows, hk};
use cairn_hfm::Scan;
use cairn_proto::Report;

use crate::cli::{AgentCmd, HkArg, Remote};
use crate::exit::{ATTESTATION_REFUSED, Failure, Result};

pub async fn run(cmd: AgentCmd) -> Result {
    match cmd {
        AgentCmd::Scan { root, json } => {
            print_scan(&cairn_hfm::scan(&root), json);
            Ok(())
        }
        AgentCmd::Enroll {
            remote,
            hk,
            join_token,
            name,
            json,
        } => {
            let (client, key, report) = prepare(&remote, &hk)?;
            let name = name.unwrap_or_else(hostname);
            let enrolled = flows::enroll(&client, key.as_ref(), &name, report, join_token).await?;
            if json {
                super::print_json(&enrolled);
            } else {
                println!(
                    "enrolled {} as {} ({})",
                    name, enrolled.host_id, enrolled.status
                );
            }
            Ok(())
        }
        AgentCmd::Attest {
            remote,
            hk,
            token_file,
            json,
        } => {
            let (client, key, report) = prepare(&remote, &hk)?;
            let token = token_file
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
                })
                .transpose()?;
            let pat = flows::attest(
                &client,
                key.as_ref(),
                report,
                flows::throwaway_instance_key(),
                token.as_deref().map(str::trim),
            )
            .await
            .map_err(|e| Failure::client(e, ATTESTATION_REFUSED))?;
            if json {
                let claims = pat
                    .split('.')
                    .nth(1)
                    .and_then(|c| cairn_proto::b64::decode(c).ok());
                let claims: serde_json::Value = claims
                    .and_then(|c| serde_json::from_slice(&c).ok())
                    .unwrap_or_default();
                super::print_json(&serde_json::json!({ "pat": pat, "claims": claims }));
            } else {
                println!("{pat}");
            }
            Ok(())
        }
    }
}

fn prepare(remote: &Remote, hk: &HkArg) -> Result<(ApiClient, Box<dyn HardwareKeySigner>, Report)> {
    let client = ApiClient::new(&remote.server, remote.insecure)?;
    let key = hk::open(&hk.hk).map_err(|e| Failure::usage(e.to_string()))?;
    Ok((client, key, cairn_hfm::scan(&hk.root).report))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

fn print_scan(scan: &Scan, json: bool) {
    let fingerprint = scan.report.fingerprint();
    if json {
        let components: Vec<_> = scan
            .report
            .components
            .iter()
            .map(|c| serde_json::json!({ "class": c.class, "id": c.id, "digest": c.digest() }))
            .collect();
        super::print_json(&serde_json::json!({
            "fingerprint": fingerprint,
            "report": scan.report,
            "digests": components,
            "absent": scan.absent,
        }));
        return;
    }
    println!("fingerprint {fingerprint}");
    for c in &scan.report.components {
        let values: Vec<String> = c.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  {:<8} {:<24} {}  {}",
            c.class.as_str(),
            c.id,
            &c.digest().hex()[..12],
            values.join(" ")
        );
    }
    for a in &scan.absent {
        println!(
            "  absent   {:<8} {} ({})",
            a.class.as_str(),
            a.source,
            a.reason
        );
    }
}
