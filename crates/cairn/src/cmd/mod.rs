//! One module per command group.

mod admin;
mod agent;
mod bench;
mod server;

use crate::cli::Command;
use crate::exit::Result;

pub async fn run(command: Command) -> Result {
    match command {
        Command::Server(cmd) => server::run(cmd).await,
        Command::Agent(cmd) => agent::run(cmd).await,
        Command::Admin(cmd) => admin::run(cmd).await,
        Command::Bench(cmd) => bench::run(cmd).await,
    }
}

/// Prints `value` as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON output")
    );
}

/// A time as people and scripts read it: RFC 3339, UTC.
fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
