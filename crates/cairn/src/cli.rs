//! The command line of DESIGN.md.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Identity rooted in physical servers; secrets only for those that prove it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run or set up the server (attestation service and its admin API)
    #[command(subcommand)]
    Server(ServerCmd),
    /// Host agent: scan hardware, enroll, attest
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Operate a server: hosts and tokens
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Measure throughput and latency
    #[command(subcommand)]
    Bench(BenchCmd),
}

/// Where the server is and how to reach it.
#[derive(Args, Clone)]
pub struct Remote {
    /// Server URL
    #[arg(long, env = "CAIRN_SERVER", default_value = "http://127.0.0.1:7410")]
    pub server: String,
    /// Allow plain HTTP to a non-loopback server
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Args, Clone)]
pub struct AdminRemote {
    #[command(flatten)]
    pub remote: Remote,
    /// Admin bearer token
    #[arg(long, env = "CAIRN_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:7410")]
    pub listen: String,
    /// Database URL: sqlite://PATH or postgres://… (default: DATA_DIR/cairn.db)
    #[arg(long, env = "CAIRN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Roles to serve, comma separated
    #[arg(long, value_delimiter = ',', default_value = "attestation")]
    pub roles: Vec<String>,
    /// The `iss` of issued tokens (default: http://LISTEN)
    #[arg(long)]
    pub issuer: Option<String>,
    /// Refuse replaceable-component drift instead of issuing `warning` PATs
    #[arg(long)]
    pub strict_drift: bool,
    /// Seconds a challenge nonce stays valid
    #[arg(long, default_value_t = 60)]
    pub nonce_ttl: u64,
    /// Seconds a PAT stays valid
    #[arg(long, default_value_t = 300)]
    pub pat_ttl: u64,
}

#[derive(Subcommand)]
pub enum ServerCmd {
    /// Create keys, the database and the first admin token (printed once)
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, env = "CAIRN_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Serve from an initialized data directory
    Run {
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Init and run in a temporary directory; prints the URL and admin token
    Dev {
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Args, Clone)]
pub struct HkArg {
    /// Hardware key: soft:PATH (Ed25519 file, created on first use) or tpm:TCTI
    #[arg(long, env = "CAIRN_HK")]
    pub hk: String,
    /// Read hardware from a captured /sys and /proc tree instead of this machine
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
}

#[derive(Subcommand)]
pub enum AgentCmd {
    /// Print this machine's hardware report and fingerprint
    Scan {
        #[arg(long, default_value = "/")]
        root: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Enroll this machine (pending until approved, or active with a join token)
    Enroll {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        hk: HkArg,
        /// Single-use join token: enroll straight to active
        #[arg(long, env = "CAIRN_JOIN_TOKEN", hide_env_values = true)]
        join_token: Option<String>,
        /// Host name to register (default: this machine's hostname)
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Attest and print a PAT (diagnostics)
    Attest {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        hk: HkArg,
        /// Bind the PAT to this security token (its SHA-256 becomes the `tkd` claim)
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Print the decoded claims too
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Hosts in the registry
    Hosts {
        #[command(flatten)]
        remote: AdminRemote,
        #[command(subcommand)]
        action: HostsAction,
    },
    /// Bearer tokens
    Tokens {
        #[command(flatten)]
        remote: AdminRemote,
        #[command(subcommand)]
        action: TokensAction,
    },
}

#[derive(Subcommand)]
pub enum HostsAction {
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        host_id: String,
        #[arg(long)]
        json: bool,
    },
    /// pending/quarantined → active
    Approve { host_id: String },
    /// → revoked, for good
    Revoke { host_id: String },
    /// → quarantined: no more PATs until approved
    Quarantine { host_id: String },
    /// Open the maintenance window: the next attestation's hardware is accepted
    Rotate { host_id: String },
}

#[derive(Subcommand)]
pub enum TokensAction {
    Create {
        /// admin or join
        #[arg(long, default_value = "join")]
        role: String,
        /// Lifetime in seconds (join tokens default to 24 h; admin tokens do not expire)
        #[arg(long)]
        ttl: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// challenge + attest over HTTP on loopback, beside the crypto alone
    Attest {
        /// Concurrent clients
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds to run
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Use an external server (needs --admin-token); default: an in-process dev server
        #[arg(long)]
        server: Option<String>,
        #[arg(long, env = "CAIRN_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
}
