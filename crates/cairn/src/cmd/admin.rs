//! `cairn admin hosts | tokens | instances | volumes`.

use std::path::Path;

use cairn_agent::volume::{self, KeyOut};
use cairn_client::ApiClient;
use cairn_proto::api::{
    HostView, InstanceRequest, TokenRequest, VolumeFormat, VolumeRequest, check_id,
};
use cairn_proto::secret::VolumeKey;
use cairn_proto::{HostAction, HostId, random_bytes};

use crate::cli::{
    AdminCmd, AdminRemote, HostsAction, InstancesAction, TokensAction, VolumesAction,
};
use crate::exit::{Exit, Failure, Result};

fn client(remote: &AdminRemote) -> Result<ApiClient> {
    Ok(remote
        .remote
        .client()?
        .with_admin_token(Some(remote.admin_token.clone())))
}

fn host_id(raw: &str) -> Result<HostId> {
    raw.parse()
        .map_err(|e: String| Failure::usage(format!("{raw:?}: {e}")))
}

pub async fn run(cmd: AdminCmd) -> Result {
    match cmd {
        AdminCmd::Hosts { remote, action } => hosts(&client(&remote)?, action).await,
        AdminCmd::Instances { remote, action } => instances(&client(&remote)?, action).await,
        AdminCmd::Volumes { remote, action } => volumes(&client(&remote)?, action).await,
        AdminCmd::Tokens { remote, action } => tokens(&client(&remote)?, action).await,
    }
}

async fn tokens(client: &ApiClient, action: TokensAction) -> Result {
    match action {
        TokensAction::Create { role, ttl, json } => {
            let created = client
                .create_token(&TokenRequest {
                    role,
                    ttl_seconds: ttl,
                })
                .await?;
            match json {
                true => super::print_json(&created),
                false => println!("{}", created.token),
            }
        }
        TokensAction::List { json } => {
            let tokens = client.tokens().await?;
            if json {
                super::print_json(&tokens);
                return Ok(());
            }
            println!(
                "{:<18} {:<8} {:<8} {:<20} EXPIRES",
                "ID", "ROLE", "STATE", "CREATED"
            );
            let now = time::OffsetDateTime::now_utc();
            for t in tokens {
                let state = match (t.revoked_at, t.used_at, t.expires_at) {
                    (Some(_), _, _) => "revoked",
                    (None, Some(_), _) => "used",
                    (None, None, Some(at)) if at <= now => "expired",
                    _ => "valid",
                };
                println!(
                    "{:<18} {:<8} {:<8} {:<20} {}",
                    t.id,
                    t.role,
                    state,
                    super::rfc3339(t.created_at),
                    t.expires_at.map_or("never".into(), super::rfc3339)
                );
            }
        }
        TokensAction::Revoke { token_id, json } => {
            let revoked = client.revoke_token(token_id.as_str()).await?;
            match json {
                true => super::print_json(&revoked),
                false => println!("revoked {} ({})", revoked.id, revoked.role),
            }
        }
    }
    Ok(())
}

async fn instances(client: &ApiClient, action: InstancesAction) -> Result {
    let (request, out) = match action {
        InstancesAction::Revoke { instance_id } => {
            client.revoke_instance(instance_id.as_str()).await?;
            println!("revoked {instance_id}: its security tokens are refused from now on");
            return Ok(());
        }
        InstancesAction::Create {
            instance_id,
            host_id: host,
            volumes,
            image_digest,
            out,
        } => (
            InstanceRequest {
                instance_id,
                host_id: host_id(&host)?,
                volume_ids: volumes,
                image_digest,
            },
            out,
        ),
    };
    let created = client.create_instance(&request).await?;
    match out {
        Some(path) => {
            volume::write_key(
                &KeyOut::File(path.clone()),
                created.security_token.as_bytes(),
            )
            .map_err(|e| Failure::new(Exit::Failure, e.to_string()))?;
            println!(
                "security token written to {} (expires {})",
                path.display(),
                super::rfc3339(created.expires_at)
            );
        }
        None => println!("{}", created.security_token),
    }
    Ok(())
}

async fn volumes(client: &ApiClient, action: VolumesAction) -> Result {
    match action {
        VolumesAction::List { json } => {
            let volumes = client.volumes().await?;
            if json {
                super::print_json(&volumes);
            } else {
                println!("{:<40} {:<6} {:<22} CREATED", "VOLUME", "FORMAT", "KEK");
                for v in volumes {
                    println!(
                        "{:<40} {:<6} {:<22} {}",
                        v.volume_id,
                        v.format,
                        v.kek_id,
                        super::rfc3339(v.created_at)
                    );
                }
            }
            Ok(())
        }
        VolumesAction::Create {
            id,
            format,
            out,
            size,
            json,
        } => {
            let volume_id =
                id.unwrap_or_else(|| format!("vol-{}", hex::encode(random_bytes::<8>())));
            check_id("volume", &volume_id).map_err(Failure::usage)?;
            let size = super::parse_size(&size)?;
            let key = VolumeKey::random();
            // The image first, then the registration: a key is registered only for an image
            // that exists, and an image whose registration fails is removed.
            if let (Some(format), Some(out)) = (format, &out) {
                if out.exists() {
                    return Err(Failure::usage(format!(
                        "{} exists; refusing to overwrite it",
                        out.display()
                    )));
                }
                create_image(format, out, size, key.expose())?;
            }
            let registered = client
                .create_volume(&VolumeRequest {
                    volume_id: volume_id.clone(),
                    format: format.unwrap_or(VolumeFormat::Raw),
                    key,
                })
                .await;
            let view = match registered {
                Ok(view) => view,
                Err(e) => {
                    if let Some(out) = &out {
                        let _ = std::fs::remove_file(out);
                    }
                    return Err(e.into());
                }
            };
            if json {
                super::print_json(&serde_json::json!({ "volume": view, "image": out }));
            } else {
                match &out {
                    Some(out) => println!(
                        "volume {} created: {} image at {}",
                        view.volume_id,
                        view.format,
                        out.display()
                    ),
                    None => println!("volume {} created", view.volume_id),
                }
            }
            Ok(())
        }
    }
}

fn create_image(format: VolumeFormat, out: &Path, size: u64, key: &[u8]) -> Result {
    let made = match format {
        VolumeFormat::Luks => volume::format_luks(out, size, key),
        VolumeFormat::Qcow2 => volume::create_qcow2(out, size, key),
        VolumeFormat::Raw => return Err(Failure::usage("a raw volume has no image")),
    };
    made.map_err(|e| {
        let _ = std::fs::remove_file(out);
        Failure::new(Exit::Failure, format!("creating the {format} image: {e}"))
    })
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
                        super::one_line(&h.name)
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
        HostsAction::Approve { host_id } => (host_id, HostAction::Approve),
        HostsAction::Revoke { host_id } => (host_id, HostAction::Revoke),
        HostsAction::Quarantine { host_id } => (host_id, HostAction::Quarantine),
        HostsAction::Rotate { host_id } => (host_id, HostAction::Rotate),
        HostsAction::ClearTamper { host_id } => (host_id, HostAction::ClearTamper),
    };
    let host = client.host_action(&host_id(&id)?, verb).await?;
    println!("{} is now {}", host.host_id, host.status);
    Ok(())
}

fn print_host(h: &HostView) {
    println!("host        {}", h.host_id);
    // Names and reports come from unauthenticated enrollments: nothing in them reaches the
    // terminal as a control character.
    println!("name        {}", super::one_line(&h.name));
    println!("status      {}", h.status);
    for sensor in &h.tamper {
        println!("tamper      {} (tripped)", super::one_line(sensor));
    }
    println!(
        "key         {} {}",
        h.hk.alg.as_str(),
        cairn_proto::b64::encode(&h.hk.public_key)
    );
    println!("fingerprint {}", h.fingerprint);
    for c in &h.report.components {
        println!(
            "  {:<8} {:<24} {}",
            c.class.as_str(),
            super::one_line(&c.id),
            c.digest()
        );
    }
    for r in &h.history {
        println!(
            "history     {} {} {}",
            super::rfc3339(r.recorded_at),
            r.reason,
            r.fingerprint
        );
    }
}
