//! `cairn server init | run | dev`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use cairn_keystore::KeyStoreSpec;
use cairn_server::{Server, ServerConfig};

use crate::cli::{ServeArgs, ServerCmd};
use crate::exit::{FAILURE, Failure, Result};

pub async fn run(cmd: ServerCmd) -> Result {
    // The registry holds host inventories, token hashes and wrapped volume keys: every file
    // a server makes (the database, its journal, keys) is its owner's alone.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    match cmd {
        ServerCmd::Init {
            data_dir,
            database_url,
            key_store,
            json,
        } => {
            let token = init(&data_dir, database_url.as_deref(), &key_store).await?;
            if json {
                super::print_json(&serde_json::json!({ "admin_token": token }));
            } else {
                println!("initialized {}", data_dir.display());
                println!("admin token (shown once; keep it secret): {token}");
            }
            Ok(())
        }
        ServerCmd::Run { data_dir, serve } => {
            let server = bind(&data_dir, serve).await?;
            announce(&server, None);
            serve_until_signal(server).await
        }
        ServerCmd::Dev { serve } => {
            let dir = tempfile::Builder::new()
                .prefix("cairn-dev-")
                .tempdir()
                .map_err(|e| Failure::new(FAILURE, e.to_string()))?;
            let token = init(dir.path(), serve.database_url.as_deref(), &serve.key_store).await?;
            let server = bind(dir.path(), serve).await?;
            announce(&server, Some(&token));
            let result = serve_until_signal(server).await;
            drop(dir);
            result
        }
    }
}

async fn init(
    data_dir: &Path,
    database_url: Option<&str>,
    key_store: &KeyStoreSpec,
) -> Result<String> {
    let url = database_url
        .map(String::from)
        .unwrap_or_else(|| ServerConfig::default_database_url(data_dir));
    let fail = |e: std::io::Error| Failure::new(FAILURE, format!("{}: {e}", data_dir.display()));
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    // A directory that existed keeps its mode through create_dir_all.
    std::fs::set_permissions(
        data_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(fail)?;
    cairn_server::init(data_dir, &url, key_store)
        .await
        .map_err(|e| Failure::new(FAILURE, e.to_string()))
}

async fn bind(data_dir: &Path, args: ServeArgs) -> Result<Server> {
    let mut config = ServerConfig::new(data_dir.to_path_buf(), args.listen);
    config.database_url = args.database_url;
    config.key_store = args.key_store;
    config.roles = args.roles;
    config.issuer = args.issuer;
    config.strict_drift = args.strict_drift;
    config.nonce_ttl = Duration::from_secs(args.nonce_ttl);
    config.pat_ttl = Duration::from_secs(args.pat_ttl);
    config.security_token_ttl = Duration::from_secs(args.security_token_ttl);
    config.trusted_issuers = args.trusted_issuers;
    config.ek_ca = args.ek_ca;
    config.ek_auto_approve = args.ek_auto_approve;
    config.pcr_reference = args.pcr_reference;
    Server::bind(config).await.map_err(|e| match e {
        cairn_server::ServeError::Issuers(_)
        | cairn_server::ServeError::EkCa { .. }
        | cairn_server::ServeError::PcrReference(_) => Failure::usage(e.to_string()),
        e => Failure::new(FAILURE, e.to_string()),
    })
}

/// The first stdout line names the address, so scripts and tests can use port 0.
fn announce(server: &Server, admin_token: Option<&str>) {
    let url = format!("http://{}", server.local_addr());
    println!("cairn server listening on {url}");
    if let Some(token) = admin_token {
        println!("admin token: {token}");
        println!("export CAIRN_SERVER={url} CAIRN_ADMIN_TOKEN={token}");
    }
    let _ = std::io::stdout().flush();
}

async fn serve_until_signal(server: Server) -> Result {
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    server
        .serve(shutdown)
        .await
        .map_err(|e| Failure::new(FAILURE, format!("server failed: {e}")))
}
