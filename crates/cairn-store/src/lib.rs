//! Cairn's database. One [`Store`] type serves both backends through sqlx's `Any` driver:
//! SQLite (the embedded default: one file, WAL) and PostgreSQL (shared by server replicas).
//! The SQL is portable, so each operation is written once; correctness across replicas comes
//! from single-statement atomic updates (`DELETE … RETURNING`, conditional `UPDATE`), never
//! from in-process locks.

mod erots;
mod expiry;
mod hardware_keys;
mod hosts;
mod local;
mod log;
mod nonces;
#[cfg(feature = "test-support")]
pub mod testing;
mod tokens;
mod volumes;
mod webhooks;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Connection, Executor, SqlSafeStr};

pub use erots::{ErotRecord, ExpiredErot};
pub use hosts::{Challenge, Enrolled, HostRecord, HostState, NewHost, Transition};
pub use log::{Appended, LoggedEntry, NewEntry, QueueMark};
pub use tokens::{TokenRecord, token_id};
pub use volumes::{InstanceRecord, Placement, VolumeRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?} (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database {0}")]
    Locked(String),
    /// A failure shared by every request of a batch (see `nonces`).
    #[error("{0}")]
    Batch(Arc<StoreError>),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The stored log is not the tree its last signed checkpoint names (invariant 9): it was
    /// rewritten, truncated or reordered. Nothing more is signed until an operator looks.
    #[error("the transparency log is inconsistent: {0}")]
    LogInconsistent(String),
}

impl StoreError {
    /// The failure itself, out of the batch it was shared by.
    pub fn root(&self) -> &StoreError {
        match self {
            StoreError::Batch(e) => e.root(),
            e => e,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// In-memory state of a database this process owns (SQLite); `None` when it is shared.
    local: Option<Arc<local::Local>>,
    keys: Arc<hardware_keys::HardwareKeys>,
    /// PostgreSQL's nonce writers, started with the first attestation (in its runtime).
    batches: Arc<std::sync::OnceLock<nonces::Batches>>,
}

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (2, "boot", include_str!("../migrations/0002_boot.sql")),
    (3, "erots", include_str!("../migrations/0003_erots.sql")),
    (
        4,
        "tpm_activation",
        include_str!("../migrations/0004_tpm_activation.sql"),
    ),
    (
        5,
        "used_nonces",
        include_str!("../migrations/0005_used_nonces.sql"),
    ),
    (
        6,
        "revocation",
        include_str!("../migrations/0006_revocation.sql"),
    ),
    (7, "reports", include_str!("../migrations/0007_reports.sql")),
    (8, "log", include_str!("../migrations/0008_log.sql")),
    (
        9,
        "webhooks",
        include_str!("../migrations/0009_webhooks.sql"),
    ),
    (10, "tamper", include_str!("../migrations/0010_tamper.sql")),
    (
        11,
        "log_queues",
        include_str!("../migrations/0011_log_queues.sql"),
    ),
    (
        12,
        "log_outbox",
        include_str!("../migrations/0012_log_outbox.sql"),
    ),
];

/// How long a pooled connection may sit idle before it is checked when next lent out.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// The file of a `sqlite:` URL; `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

impl Store {
    /// The URL of a SQLite database file, created if missing.
    pub fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    /// Connects and brings the schema up to date (replicas may race here: the migrator
    /// takes a database lock).
    pub async fn connect(url: &str) -> Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.into()));
        };
        // Owning a SQLite file is checked before touching it.
        let local = match backend {
            Backend::Sqlite => Some(Arc::new(local::Local::open(sqlite_path(url).as_deref())?)),
            Backend::Postgres => None,
        };
        // A pooled connection is pinged only when it sat idle a while (a database restart
        // since then would otherwise fail the request it is lent to). Measured: pinging at
        // every acquire doubled the round trips of an attestation on PostgreSQL, and round
        // trips (each a wake-up of both processes) are most of what it costs.
        let mut options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_WHEN_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            });
        if backend == Backend::Sqlite {
            // Measured: one connection is slower than eight (readers then queue behind
            // writers); the cost per query is sqlx-sqlite's worker-thread handoff, not locks.
            options = options.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL with NORMAL syncs at checkpoints: a committed transaction survives a
                    // process crash. busy_timeout covers other processes on the same file.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA mmap_size = 268435456;")
                        .await
                        .map(|_| ())
                })
            });
        } else {
            options = options.max_connections(16);
        }
        let pool = options.connect(url).await?;
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations).run(&pool).await?;
        Ok(Store {
            pool,
            backend,
            local,
            keys: Arc::default(),
            batches: Arc::default(),
        })
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
