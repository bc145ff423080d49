//! `cairn agent scan | enroll | attest`.

use cairn_agent::boot::{self, BootError};
use cairn_agent::volume::{Backend, KeyOut, Luks, Qemu};
use cairn_agent::{HardwareKeySigner, flows};
use cairn_client::{ApiClient, ClientError};
use cairn_hfm::Scan;
use cairn_proto::Report;

use crate::cli::{AgentCmd, BootArgs, BootBackend, HkArg, Remote, RunArgs};
use crate::exit::{self, Exit, Failure, Result};

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
            let (client, key, report) = prepare(&remote, &hk, true)?;
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
        AgentCmd::Boot(args) => boot(args).await,
        AgentCmd::Run(args) => run_workload(args).await,
        AgentCmd::Attest {
            remote,
            hk,
            token_file,
            json,
        } => {
            let (client, key, report) = prepare(&remote, &hk, false)?;
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
            .map_err(|e| Failure::client(e, Exit::AttestationRefused))?;
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

async fn boot(args: BootArgs) -> Result {
    let backend = backend(&args)?;
    let token = security_token(&args).await?;
    let (client, key, report) = prepare(&args.remote, &args.hk, false)?;
    let client = client.with_attempts(args.attempts);
    let mut step = |line: &str| eprintln!("cairn boot: {line}");
    step(&format!(
        "scanned hardware, fingerprint {}",
        report.fingerprint()
    ));
    boot::boot(
        &client,
        key.as_ref(),
        report,
        &token,
        &args.volume,
        &backend,
        &mut step,
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        let (stage, code) = match &e {
            BootError::Attestation(c) => (c, Exit::AttestationRefused),
            BootError::Release(c) => (c, Exit::KeyReleaseRefused),
            BootError::Sealed(_) => return Failure::new(Exit::KeyReleaseRefused, e.to_string()),
            BootError::Unlock(_) => return Failure::new(Exit::UnlockFailed, e.to_string()),
        };
        // A garbled answer halts boot as surely as a refusal.
        let code = match stage {
            ClientError::Protocol(_) => code,
            other => exit::client_code(other, code),
        };
        Failure::new(code, format!("boot halted: {e}"))
    })
}

async fn run_workload(args: RunArgs) -> Result {
    use cairn_agent::run::{self, Ceilings, RunError, RunOptions};
    let receipt = std::fs::read_to_string(&args.receipt)
        .map_err(|e| Failure::usage(format!("receipt {}: {e}", args.receipt.display())))?;
    let options = RunOptions {
        ceilings: Ceilings {
            memory_mb: args.max_memory_mb,
            timeout_s: args.max_timeout_s,
            pids: args.max_pids,
        },
        max_output: args.max_output,
        unsandboxed: args.unsandboxed,
        bwrap: args.bwrap,
        cgroup: args.cgroup,
    };
    if options.unsandboxed {
        eprintln!(
            "cairn run: WARNING: --unsandboxed: a native workload runs as this agent's user and \
             can read this host's files (the hardware key among them), reach its network and \
             outlive its run"
        );
    }
    let (client, key, report) = prepare(&args.remote, &args.hk, false)?;
    let outcome = run::run(&client, key.as_ref(), report, &args.ewc, &receipt, &options)
        .await
        .map_err(|e| {
            let code = match &e {
                RunError::Attestation(c) => exit::client_code(c, Exit::AttestationRefused),
                RunError::Release(c) => exit::client_code(c, Exit::KeyReleaseRefused),
                RunError::Container(_) => Exit::UnlockFailed,
                RunError::Sandbox(_) => Exit::Unsandboxable,
                RunError::Receipt(_) | RunError::Description(_) | RunError::Workload(_) => {
                    Exit::Failure
                }
            };
            Failure::new(code, e.to_string())
        })?;
    use std::io::{IsTerminal, Write};
    // As bytes for a pipe or a file; on a terminal, with its control characters escaped.
    let mut stdout = std::io::stdout();
    if stdout.is_terminal() {
        let text = super::escape_controls(&String::from_utf8_lossy(&outcome.output.kept));
        let _ = stdout.write_all(text.as_bytes());
    } else {
        let _ = stdout.write_all(&outcome.output.kept);
    }
    let _ = stdout.flush();
    if !outcome.stderr.is_empty() {
        eprintln!(
            "cairn run: the workload's stderr:\n{}",
            super::escape_controls(&String::from_utf8_lossy(&outcome.stderr))
        );
    }
    if outcome.output.truncated() {
        eprintln!(
            "cairn run: output truncated: {} of {} bytes shown (--max-output)",
            outcome.output.kept.len(),
            outcome.output.total
        );
    }
    eprintln!(
        "cairn run: workload exited with {}; output digest {}; ERoT {} destroyed",
        outcome.exit_status, outcome.output.digest, outcome.erot_id
    );
    match u8::try_from(outcome.exit_status) {
        Ok(0) => Ok(()),
        Ok(code) => Err(Failure::new(
            Exit::Workload(code),
            format!("the workload exited with {code}"),
        )),
        Err(_) => Err(Failure::new(
            Exit::Failure,
            format!("the workload ended with {}", outcome.exit_status),
        )),
    }
}

fn backend(args: &BootArgs) -> Result<Backend> {
    let key_out = match (&args.key_out, args.key_fd) {
        (Some(path), _) => Some(KeyOut::File(path.clone())),
        (None, Some(fd)) => Some(KeyOut::Fd(fd)),
        (None, None) => None,
    };
    Ok(match args.backend {
        BootBackend::Keyfile => Backend::Keyfile(
            key_out
                .ok_or_else(|| Failure::usage("--backend keyfile needs --key-out or --key-fd"))?,
        ),
        BootBackend::Luks => Backend::Luks(Luks {
            device: args
                .device
                .clone()
                .ok_or_else(|| Failure::usage("--backend luks needs --device"))?,
            name: args
                .name
                .clone()
                .unwrap_or_else(|| format!("cairn-{}", args.volume)),
            verify_only: args.verify_only,
        }),
        BootBackend::Qemu => Backend::Qemu(Qemu {
            image: args
                .image
                .clone()
                .ok_or_else(|| Failure::usage("--backend qemu needs --image"))?,
            key_out,
        }),
    })
}

/// The instance's security token, from a file, the environment or a metadata URL.
async fn security_token(args: &BootArgs) -> Result<String> {
    let token = if let Some(path) = &args.token_file {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("security token {}: {e}", path.display())))?
    } else if let Some(var) = &args.token_env {
        std::env::var(var)
            .map_err(|_| Failure::usage(format!("security token: ${var} is not set")))?
    } else if let Some(url) = &args.token_url {
        cairn_client::fetch_security_token(url, args.attempts).await?
    } else {
        return Err(Failure::usage(
            "give --token-file, --token-env or --token-url",
        ));
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Failure::usage("the security token is empty"));
    }
    Ok(token.to_string())
}

/// The client, the hardware key (created on first use only when `enrolling`) and the scan.
fn prepare(
    remote: &Remote,
    hk: &HkArg,
    enrolling: bool,
) -> Result<(ApiClient, Box<dyn HardwareKeySigner>, Report)> {
    let client = remote.client()?;
    let key = match enrolling {
        true => hk.hk.open_or_create(),
        false => hk.hk.open(),
    }
    .map_err(|e| Failure::usage(e.to_string()))?;
    let report = flows::host_report(&hk.root, key.as_ref());
    Ok((client, key, report))
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
