//! One module per command group.

mod admin;
mod agent;
mod audit;
mod bench;
mod server;
mod workload;

use crate::cli::Command;
use crate::exit::Result;

pub async fn run(command: Command) -> Result {
    match command {
        Command::Server(cmd) => server::run(cmd).await,
        Command::Agent(cmd) => agent::run(cmd).await,
        Command::Admin(cmd) => admin::run(cmd).await,
        Command::Workload(cmd) => workload::run(cmd).await,
        Command::Audit(cmd) => audit::run(cmd).await,
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

/// Text from outside (a workload's stderr, say) made safe for a terminal: control characters
/// other than newline and tab are written as escapes, so none of them can move the cursor,
/// retitle the window or inject input.
fn escape_controls(text: &str) -> String {
    escape(text, |c| matches!(c, '\n' | '\t'))
}

/// The same for a value printed on one line (a host's name, a component id from a report
/// anyone can enroll): every control character escaped, newlines and tabs too.
fn one_line(text: &str) -> String {
    escape(text, |_| false)
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> String {
    text.chars()
        .map(|c| match c {
            c if keep(c) => c.to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A time as people and scripts read it: RFC 3339, UTC.
fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// `64M`, `1G`, `512K` or plain bytes.
fn parse_size(text: &str) -> Result<u64> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" | "KIB" => 10,
        "M" | "MIB" => 20,
        "G" | "GIB" => 30,
        _ => {
            return Err(crate::exit::Failure::usage(format!(
                "size {text:?}: use bytes or K, M, G"
            )));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| crate::exit::Failure::usage(format!("size {text:?} is not a positive size")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(
            super::escape_controls("ok\tline\n\x1b]0;owned\x07\r"),
            "ok\tline\n\\u{1b}]0;owned\\u{7}\\u{d}"
        );
        assert_eq!(
            super::one_line("disk\n\x1b[2Jx\u{9b}"),
            "disk\\u{a}\\u{1b}[2Jx\\u{9b}"
        );
    }
}
