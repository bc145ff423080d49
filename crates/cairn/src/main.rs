//! `cairn`: one binary, every role. This file only parses, dispatches and turns errors into
//! exit codes; the work happens in the library crates.

mod cli;
mod cmd;
mod exit;

use clap::Parser;

/// A request allocates and frees many small strings (JSON members, headers) across threads;
/// measured on `cairn bench attest`, glibc's allocator took a sixth of the CPU, mimalloc a
/// fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // A command without its subcommand prints its help, as clap does.
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            e.exit()
        }
        Err(e) if e.use_stderr() => {
            eprintln!("cairn: {}", one_line(&e.render().to_string()));
            return std::process::ExitCode::from(exit::Exit::Usage.code());
        }
        // --help and --version.
        Err(e) => e.exit(),
    };
    let default_level = if matches!(cli.command, cli::Command::Server(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(cmd::run(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: {}", e.message);
            std::process::ExitCode::from(e.code.code())
        }
    }
}

/// A clap error on one line: what is wrong, without the usage and the pointer to `--help`.
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}
