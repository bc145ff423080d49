//! `cairn server init | run | dev | webhook-secret`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use cairn_keystore::KeyStoreSpec;
use cairn_server::tls::{DEFAULT_NAMES, TlsFiles};
use cairn_server::{Limits, Server, ServerConfig};

use crate::cli::{ServeArgs, ServerCmd, TlsArgs};
use crate::exit::{Exit, Failure, Result};

pub async fn run(cmd: ServerCmd) -> Result {
    // The registry holds host inventories, token hashes and wrapped volume keys: every file
    // a server makes (the database, its journal, keys) is its owner's alone.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    match cmd {
        ServerCmd::Init {
            data_dir,
            database_url,
            key_store,
            tls,
            tls_sans,
            json,
        } => {
            // The names are checked first: once init is done its admin token must be shown.
            let names = tls.then(|| tls_names(tls_sans)).transpose()?;
            let made = init(&data_dir, database_url.as_deref(), &key_store.spec).await?;
            let ca = match names {
                Some(names) => Some(make_private_ca(&data_dir, &names)?),
                None => None,
            };
            if json {
                super::print_json(&serde_json::json!({
                    "admin_token": made.admin_token,
                    "ca_cert": ca,
                    "log_key": made.log_key,
                }));
            } else {
                println!("initialized {}", data_dir.display());
                if let Some(ca) = ca {
                    println!(
                        "TLS: clients trust {} (--ca-cert, CAIRN_CA_CERT)",
                        ca.display()
                    );
                }
                println!("transparency log key (for auditors): {}", made.log_key);
                println!(
                    "admin token (shown once; keep it secret): {}",
                    made.admin_token
                );
            }
            Ok(())
        }
        ServerCmd::Run {
            data_dir,
            serve,
            tls,
        } => {
            let server = bind(&data_dir, serve, tls).await?;
            announce(&server, None);
            serve_until_signal(server).await
        }
        ServerCmd::Dev { serve } => {
            let dir = tempfile::Builder::new()
                .prefix("cairn-dev-")
                .tempdir()
                .map_err(|e| Failure::new(Exit::Failure, e.to_string()))?;
            let made = init(
                dir.path(),
                serve.database_url.as_deref(),
                &serve.key_store.spec,
            )
            .await?;
            let ca = make_private_ca(dir.path(), &tls_names(vec![])?)?;
            let tls = TlsArgs {
                tls_cert: None,
                tls_key: None,
                insecure_plaintext: false,
            };
            let server = bind(dir.path(), serve, tls).await?;
            announce(&server, Some((&made, &ca)));
            let result = serve_until_signal(server).await;
            drop(dir);
            result
        }
        ServerCmd::WebhookSecret {
            data_dir,
            key_store,
            webhook,
        } => {
            let keys = key_store
                .spec
                .open(&data_dir)
                .map_err(|e| Failure::new(Exit::Failure, e.to_string()))?;
            let secret = cairn_server::webhook_secret(keys.as_ref(), &webhook)
                .map_err(|e| Failure::new(Exit::Failure, e.to_string()))?;
            println!("{}", secret.to_whsec().as_str());
            Ok(())
        }
    }
}

/// The names a made certificate is for: those given (each a DNS name or an IP address), or
/// the loopback names.
fn tls_names(names: Vec<String>) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(DEFAULT_NAMES.iter().map(|n| n.to_string()).collect());
    }
    for name in &names {
        cairn_server::tls::check_name(name)
            .map_err(|e| Failure::usage(format!("--tls-san {name:?}: {e}")))?;
    }
    Ok(names)
}

fn make_private_ca(data_dir: &Path, names: &[String]) -> Result<std::path::PathBuf> {
    cairn_server::tls::make_private_ca(data_dir, names)
        .map_err(|e| Failure::new(Exit::Failure, e.to_string()))
}

async fn init(
    data_dir: &Path,
    database_url: Option<&str>,
    key_store: &KeyStoreSpec,
) -> Result<cairn_server::Initialized> {
    let url = database_url
        .map(String::from)
        .unwrap_or_else(|| ServerConfig::default_database_url(data_dir));
    let fail =
        |e: std::io::Error| Failure::new(Exit::Failure, format!("{}: {e}", data_dir.display()));
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    // A directory that existed keeps its mode through create_dir_all.
    std::fs::set_permissions(
        data_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(fail)?;
    cairn_server::init(data_dir, &url, key_store)
        .await
        .map_err(|e| Failure::new(Exit::Failure, e.to_string()))
}

async fn bind(data_dir: &Path, args: ServeArgs, tls: TlsArgs) -> Result<Server> {
    let mut config = ServerConfig::new(data_dir.to_path_buf(), args.listen);
    config.tls = match (tls.tls_cert, tls.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    config.insecure_plaintext = tls.insecure_plaintext;
    config.limits = Limits {
        header_timeout: Duration::from_secs(args.header_timeout),
        request_timeout: Duration::from_secs(args.request_timeout),
        max_connections: args.max_connections as usize,
        max_connections_per_address: args.max_connections_per_address as usize,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    config.database_url = args.database_url;
    config.key_store = args.key_store.spec;
    config.roles = args.roles;
    config.issuer = args.issuer;
    config.strict_drift = args.strict_drift;
    config.nonce_ttl = Duration::from_secs(args.nonce_ttl);
    config.pat_ttl = Duration::from_secs(args.pat_ttl);
    config.security_token_ttl = Duration::from_secs(args.security_token_ttl);
    config.trusted_issuers = args.trusted_issuers;
    config.max_pending_hosts = args.max_pending_hosts;
    config.max_log_queue = usize::try_from(args.max_log_queue).unwrap_or(usize::MAX);
    config.issuer_refresh = cairn_server::Refresh {
        every: Duration::from_secs(args.issuer_refresh),
        max_staleness: Duration::from_secs(args.issuer_max_staleness),
    };
    config.ek_ca = args.ek_ca;
    config.ek_auto_approve = args.ek_auto_approve;
    config.pcr_reference = args.pcr_reference;
    config.webhooks = args.webhooks;
    Server::bind(config).await.map_err(|e| match e {
        cairn_server::ServeError::Issuers(_)
        | cairn_server::ServeError::EkCa(_)
        | cairn_server::ServeError::PcrReference(_)
        | cairn_server::ServeError::Tls(_)
        | cairn_server::ServeError::PlaintextNotLoopback(_)
        | cairn_server::ServeError::WebhookTwice(_) => Failure::usage(e.to_string()),
        e => Failure::new(Exit::Failure, e.to_string()),
    })
}

/// The first stdout line names the address, so scripts and tests can use port 0; a dev
/// server then names its CA and admin token, and a line for the shell with all three.
fn announce(server: &Server, dev: Option<(&cairn_server::Initialized, &Path)>) {
    let url = server.url();
    println!("cairn server listening on {url}");
    if let Some((made, ca)) = dev {
        let (token, log_key) = (&made.admin_token, &made.log_key);
        println!("CA certificate: {}", ca.display());
        println!("transparency log key: {log_key}");
        println!("admin token: {token}");
        println!(
            "export CAIRN_SERVER={url} CAIRN_CA_CERT={} CAIRN_ADMIN_TOKEN={token} CAIRN_LOG_KEY={log_key}",
            ca.display()
        );
    }
    let _ = std::io::stdout().flush();
}

async fn serve_until_signal(server: Server) -> Result {
    // SIGHUP reloads the certificate; without TLS it is logged and ignored, never fatal.
    let certificates = server.certificates();
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| Failure::new(Exit::Failure, format!("SIGHUP handler: {e}")))?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match certificates.as_ref().map(|c| (c, c.reload())) {
                None => tracing::info!("SIGHUP: no TLS certificate to reload"),
                Some((c, Ok(()))) => {
                    tracing::info!(cert = %c.files().cert.display(), "TLS certificate reloaded")
                }
                Some((_, Err(e))) => tracing::error!(
                    error = %e,
                    "TLS certificate not reloaded; serving the one in use"
                ),
            }
        }
    });
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    server.serve(shutdown).await;
    Ok(())
}
