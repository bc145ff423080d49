//! `cairn admin hosts | tokens`.

use cairn_agent::ApiClient;
use cairn_proto::HostId;
use cairn_proto::api::{HostView, TokenRequest, TokenRole};

use crate::cli::{AdminCmd, AdminRemote, HostsAction, TokensAction};
use crate::exit::{Failure, Result};

fn client(remote: &AdminRemote) -> Result<ApiClient> {
    Ok(
        ApiClient::new(&remote.remote.server, remote.remote.insecure)?
            .with_admin_token(Some(remote.admin_token.clone())),
    )
}

fn host_id(raw: &str) -> Result<HostId> {
    raw.parse()
        .map_err(|e: String| Failure::usage(format!("{raw:?}: {e}")))
}

pub async fn run(cmd: AdminCmd) -> Result {
    match cmd {
        AdminCmd::Hosts { remote, action } => hosts(&client(&remote)?, action).await,
        AdminCmd::Tokens {
            remote,
            action: TokensAction::Create { role, ttl, json },
        } => {
            let role: TokenRole = role.parse().map_err(Failure::usage)?;
            let created = client(&remote)?
                .create_token(&TokenRequest {
                    role,
                    ttl_seconds: ttl,
                })
                .await?;
            if json {
                super::print_json(&created);
            } else {
                println!("{}", created.token);
            }
            Ok(())
        }
    }
}

async fn hosts(client: &ApiClient, action: HostsAction) -> Result {
    let (id, verb) = match action {
        HostsAction::List { json } => {
            let hosts = client.hosts().await?;
            if json {
                super::print_json(&hosts);
            } else {
                println!("{:<34} {:<12} {:<18} NAME", "HOST", "STATUS", "FINGERPRINT");
                for h in hosts {
                    println!(
                        "{:<34} {:<12} {:<18} {}",
                        h.host_id,
                        h.status.as_str(),
                        &h.fingerprint.hex()[..16],
                        h.name
                    );
                }
            }
            return Ok(());
        }
        HostsAction::Show { host_id: id, json } => {
            let host = client.host(&host_id(&id)?).await?;
            if json {
                super::print_json(&host);
            } else {
                print_host(&host);
            }
            return Ok(());
        }
        HostsAction::Approve { host_id } => (host_id, "approve"),
        HostsAction::Revoke { host_id } => (host_id, "revoke"),
        HostsAction::Quarantine { host_id } => (host_id, "quarantine"),
        HostsAction::Rotate { host_id } => (host_id, "rotate"),
    };
    let host = client.host_action(&host_id(&id)?, verb).await?;
    println!("{} is now {}", host.host_id, host.status);
    Ok(())
}

fn print_host(h: &HostView) {
    println!("host        {}", h.host_id);
    println!("name        {}", h.name);
    println!("status      {}", h.status);
    println!(
        "key         {} {}",
        h.hk.alg.as_str(),
        cairn_proto::b64::encode(&h.hk.public_key)
    );
    println!("fingerprint {}", h.fingerprint);
    for c in &h.report.components {
        println!("  {:<8} {:<24} {}", c.class.as_str(), c.id, c.digest());
    }
    for r in &h.history {
        println!(
            "history     {} {} {}",
            r.recorded_at, r.reason, r.fingerprint
        );
    }
}
