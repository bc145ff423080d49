//! Test support: a fresh PostgreSQL database per test, or a reason why there is none.
//!
//! `CAIRN_TEST_POSTGRES` names the server (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! When it is unreachable, PostgreSQL cases are skipped with a printed reason, unless
//! `CAIRN_REQUIRE_POSTGRES=1` (set by CI), which turns that into a failure.

use sqlx::{Connection, Executor};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Creates an empty database and returns its URL; `None` (after printing why) when there is
/// no PostgreSQL server and it is not required.
pub async fn fresh_postgres(label: &str) -> Option<String> {
    let admin = std::env::var("CAIRN_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CAIRN_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "PostgreSQL is required (CAIRN_REQUIRE_POSTGRES=1) but {admin} is unreachable: {e}"
                );
            }
            eprintln!("SKIPPED PostgreSQL case {label}: {admin} is unreachable ({e})");
            return None;
        }
    };
    let name = format!(
        "cairn_test_{}",
        &cairn_proto::Digest::sha256(cairn_proto::Nonce::random().0).hex()[..16]
    );
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("CREATE DATABASE");
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}
