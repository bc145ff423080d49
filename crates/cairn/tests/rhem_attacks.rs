//! The host runs a tenant's workload without trusting it (DESIGN.md invariants 6 and 10). A
//! customer can seal any workload for any ERoT (`erot_pub`, `erot_id` and the workload
//! digest are public), so each hostile workload here is sealed, receipted and run through the
//! real `cairn agent run` against a real server, and what must hold is checked from outside:
//! nothing of the host reached, nothing left running, nothing run but the receipted bytes,
//! every limit holding.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The lines `name=value` a probe script printed.
fn probe<'a>(output: &'a str, name: &str) -> &'a str {
    output
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name}= in:\n{output}"))
}

/// Runs a workload whose `timeout_s` is 2 and asserts that it was stopped (`why`) and that
/// the agent came back soon after, not when the workload would have ended.
fn assert_stopped(host: &Host, ewc: &Path, receipt: &str, why: &str) {
    let started = Instant::now();
    let out = host.run(ewc, receipt, &[]);
    let took = started.elapsed();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains(why), "{}", stderr(&out));
    assert!(took < Duration::from_secs(12), "the agent waited {took:?}");
}

/// Processes on this machine whose command line contains `marker`.
fn alive_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

const HOSTILE: &str = r#"#!/bin/bash
# A tenant's workload trying everything a sandbox must stop; one line per try.
hk="$1"; canary="$2"; port="$3"
echo "uid=$(id -u)"
echo "caps=$(grep '^CapEff:' /proc/self/status | cut -f2)"
echo "nnp=$(grep '^NoNewPrivs:' /proc/self/status | cut -f2)"
echo "seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2)"
cat "$hk" 2>/dev/null && echo "hk=READ" || echo "hk=unreadable"
cat "$canary" 2>/dev/null && echo "canary=READ" || echo "canary=unreadable"
ls -d /tmp/cairn-run-* 2>/dev/null && echo "others=LISTED" || echo "others=none"
# Every environment and command line this workload can see, the agent's included if it could.
for p in /proc/[0-9]*; do tr '\0' '\n' < $p/environ; tr '\0' ' ' < $p/cmdline; echo; done 2>/dev/null
echo "pids=$(ls -d /proc/[0-9]* | wc -l)"
(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && echo "tcp=CONNECTED" || echo "tcp=refused"
# vsock ignores network namespaces (it reaches the hypervisor): its sockets must not open.
perl -e 'socket(my $s, 40, 1, 0) ? print "vsock=OPENED\n" : print "vsock=refused\n"'
# The agent was started with the hardware key open on descriptor 7.
cat /proc/self/fd/7 2>/dev/null && echo "fd7=READ" || echo "fd7=unreadable"
echo "net=$(ls /sys/class/net 2>/dev/null | tr '\n' ' ')$(cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"
echo "dev=$(ls /dev | tr '\n' ' ')"
echo "root=$(ls / | tr '\n' ' ')"
touch /usr/x 2>/dev/null && echo "usr=WRITABLE" || echo "usr=readonly"
touch /x 2>/dev/null && echo "slash=WRITABLE" || echo "slash=readonly"
touch /work/scratch && echo "work=writable" || echo "work=READONLY"
unshare -U true 2>/dev/null && echo "userns=CREATED" || echo "userns=refused"
# Children that try to outlive the run: a new session, and a double fork.
setsid sh -c 'exec sleep 31.41592' </dev/null >/dev/null 2>&1 &
(sleep 27.18281 </dev/null >/dev/null 2>&1 &)
# Descriptors it inherited: none of the agent's (sockets, the key file, the container).
for fd in /proc/$$/fd/*; do echo "fd=$(readlink $fd)"; done
echo "done=yes"
"#;

#[tokio::test]
async fn a_hostile_native_workload_reaches_nothing_of_its_host_and_nothing_of_it_survives() {
    if !have("bwrap") {
        return;
    }
    let host = Host::new();
    let customer = Customer::new(&host.server);
    let canary = tempfile::Builder::new()
        .prefix("cairn-canary-")
        .tempfile_in("/tmp")
        .unwrap();
    std::fs::write(canary.path(), "canary-contents-7d1f").unwrap();
    let port = host
        .server
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/');
    let description = serde_json::json!({
        "name": "hostile", "runtime": "process", "memory_mb": 256, "timeout_s": 20,
        "args": [host.hk_path().to_str().unwrap(), canary.path().to_str().unwrap(), port],
    })
    .to_string();
    let (_, ewc, receipt) = customer.seal_with(&host.id, &description, HOSTILE.as_bytes(), None);
    let admin_canary = "admin-canary-4b9e0c";
    // The agent starts with secrets in its environment and the hardware key open on a
    // descriptor it inherited without close-on-exec (as from a careless parent).
    let agent = host.run_command(&ewc, &receipt);
    let out = std::process::Command::new("bash")
        .args(["-c", "exec 7<\"$0\"; exec \"$@\""])
        .arg(host.hk_path())
        .arg(agent.get_program())
        .args(agent.get_args())
        .envs([
            ("CAIRN_ADMIN_TOKEN", admin_canary),
            ("CAIRN_TOKEN", admin_canary),
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let seen = stdout(&out);
    assert_eq!(probe(&seen, "done"), "yes", "{seen}");

    // No privilege: an unprivileged uid, no capabilities, no_new_privs, a seccomp filter.
    assert_eq!(probe(&seen, "uid"), "65534");
    assert_eq!(probe(&seen, "caps"), "0000000000000000");
    assert_eq!(probe(&seen, "nnp"), "1");
    assert_eq!(probe(&seen, "seccomp"), "2");
    // Nothing of the host's files: the hardware key, another local file, other runs.
    assert_eq!(probe(&seen, "hk"), "unreadable");
    assert_eq!(probe(&seen, "canary"), "unreadable");
    assert_eq!(probe(&seen, "others"), "none");
    let hk_pem = std::fs::read_to_string(host.hk_path()).unwrap();
    let hk_body = hk_pem.lines().nth(1).unwrap();
    assert!(!seen.contains(hk_body) && !seen.contains("PRIVATE KEY"));
    assert!(!seen.contains("canary-contents-7d1f"));
    // Nothing of the agent: its environment and command line are out of sight.
    assert!(
        !seen.contains(admin_canary),
        "the agent's environment leaked"
    );
    assert!(!seen.contains("CAIRN_"), "{seen}");
    assert!(
        !seen.contains("--hk"),
        "the agent's command line is visible"
    );
    for fd in seen.lines().filter_map(|l| l.strip_prefix("fd=")) {
        assert!(
            fd == "/dev/null" || fd.starts_with("pipe:") || fd.starts_with("/work/"),
            "the workload holds {fd}"
        );
    }
    let pids: u32 = probe(&seen, "pids").parse().unwrap();
    assert!(pids < 10, "{pids} processes visible");
    // No network but loopback.
    assert_eq!(probe(&seen, "tcp"), "refused");
    assert_eq!(probe(&seen, "vsock"), "refused");
    assert_eq!(probe(&seen, "fd7"), "unreadable");
    assert_eq!(probe(&seen, "net").trim(), "lo");
    // Only its own root: the system's read-only /usr, four devices, a writable /work.
    assert_eq!(probe(&seen, "dev").trim(), "null random urandom zero");
    assert!(!probe(&seen, "root").contains("tmp"), "{seen}");
    assert!(!probe(&seen, "root").contains("home"), "{seen}");
    assert_eq!(probe(&seen, "usr"), "readonly");
    assert_eq!(probe(&seen, "slash"), "readonly");
    assert_eq!(probe(&seen, "work"), "writable");
    assert_eq!(probe(&seen, "userns"), "refused");
    // Nothing of it outlives the run.
    for marker in ["31.41592", "27.18281"] {
        let alive = alive_with(marker);
        assert!(alive.is_empty(), "still running after the run: {alive:?}");
    }
    assert!(stderr(&out).contains("destroyed"));
}

/// A native workload past its timeout is killed with every process it started; the agent
/// does not wait for them.
#[tokio::test]
async fn a_native_workload_past_its_timeout_is_killed_with_all_its_processes() {
    if !have("bwrap") {
        return;
    }
    let host = Host::new();
    let customer = Customer::new(&host.server);
    let description = r#"{"name":"sleeper","runtime":"process","memory_mb":64,"timeout_s":2}"#;
    let program = "#!/bin/sh\nsetsid sh -c 'exec sleep 41.4213' </dev/null >/dev/null 2>&1 &\nexec sleep 42.4213\n";
    let (_, ewc, receipt) = customer.seal_with(&host.id, description, program.as_bytes(), None);
    assert_stopped(&host, &ewc, &receipt, "killed after 2 s");
    for marker in ["41.4213", "42.4213"] {
        assert!(alive_with(marker).is_empty(), "{marker} outlived its run");
    }
    // Completion went through all the same: the ERoT is gone.
    let out = host.run(&ewc, &receipt, &[]);
    assert_exit(&out, 11);
}

/// A fork bomb stops at its `pids` limit instead of filling the host's process table: the
/// shell's fork fails (and `sh` gives up, exit 2) once the sandbox holds 8 tasks.
#[tokio::test]
async fn a_fork_bomb_stops_at_its_process_limit() {
    if !have("bwrap") {
        return;
    }
    let host = Host::new();
    let customer = Customer::new(&host.server);
    let description =
        r#"{"name":"bomb","runtime":"process","memory_mb":64,"timeout_s":20,"pids":8}"#;
    let program = "#!/bin/sh\nwhile true; do sleep 5 & echo started; done\n";
    let (_, ewc, receipt) = customer.seal_with(&host.id, description, program.as_bytes(), None);
    let out = host.run(&ewc, &receipt, &[]);
    assert_exit(&out, 2);
    let started = stdout(&out).lines().filter(|l| *l == "started").count();
    assert!(
        (1..8).contains(&started),
        "{started} processes under a limit of 8"
    );
    assert!(stderr(&out).contains("fork"), "{}", stderr(&out));
}

/// Eight processes of about 14 MB each: each is well under its address-space limit, together
/// they are over a `memory_mb` of 64.
const MEMORY_HOG: &str = r#"#!/bin/bash
for i in 1 2 3 4 5 6 7 8; do
  ( x=$(head -c 12000000 /dev/zero | tr '\0' a); sleep 2; echo "survived ${#x}" ) &
done
wait
"#;

/// Where the host gives the agent a memory cgroup (here: cgroup v1, as root), `memory_mb`
/// caps all of a workload's processes together: the same workload that runs whole under a
/// larger grant loses processes to the OOM killer under a smaller one.
#[tokio::test]
async fn memory_mb_caps_all_of_a_native_workloads_processes_together() {
    if !have("bwrap") {
        return;
    }
    let v1_memory = Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists();
    if !v1_memory || !rustix_is_root() {
        eprintln!("SKIPPED: no cgroup v1 memory controller writable here (v2 hosts: --cgroup DIR)");
        return;
    }
    let host = Host::new();
    let customer = Customer::new(&host.server);
    let survivors = |memory_mb: u32| {
        let description = format!(
            r#"{{"name":"hog","runtime":"process","memory_mb":{memory_mb},"timeout_s":30}}"#
        );
        let (_, ewc, receipt) =
            customer.seal_with(&host.id, &description, MEMORY_HOG.as_bytes(), None);
        let out = host.run(&ewc, &receipt, &[]);
        stdout(&out)
            .lines()
            .filter(|l| l.starts_with("survived"))
            .count()
    };
    assert_eq!(
        survivors(512),
        8,
        "the workload does not fit even in 512 MiB"
    );
    let capped = survivors(64);
    assert!(capped < 8, "all 8 processes survived a memory_mb of 64");
}

fn rustix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// Ordinary native payloads still run: a dynamically linked executable with its arguments.
#[tokio::test]
async fn a_dynamically_linked_program_runs_in_the_sandbox() {
    if !have("bwrap") {
        return;
    }
    let host = Host::new();
    let customer = Customer::new(&host.server);
    let program = std::fs::read("/usr/bin/printf").unwrap();
    let description = r#"{"name":"printf","runtime":"process","memory_mb":64,"timeout_s":10,"args":["hello %s\n","native"]}"#;
    let (_, ewc, receipt) = customer.seal_with(&host.id, description, &program, None);
    let out = host.run(&ewc, &receipt, &[]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "hello native\n");
    let digest = cairn_proto::Digest::sha256(b"hello native\n");
    assert!(stderr(&out).contains(&format!("output digest {digest}")));
}

/// Starts the agent on `path` and, the moment it has the file open, lets `swap` change what
/// the path holds; returns the agent's output.
fn run_while_swapping(host: &Host, path: &Path, receipt: &str, swap: impl FnOnce()) -> Output {
    let child = host
        .run_command(path, receipt)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let fds = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let opened = loop {
        let holds = std::fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path));
        if holds || Instant::now() > deadline {
            break holds;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    assert!(opened, "the agent never opened the container");
    swap();
    child.wait_with_output().unwrap()
}

/// The container that runs is the one the receipt was checked against: another container of
/// the same ERoT renamed over the path, or written into the same file, after the receipt
/// check, never runs; nor does anything read through a FIFO, which could serve two streams.
#[tokio::test]
async fn a_container_swapped_after_its_receipt_check_never_runs() {
    if !have("bwrap") {
        return;
    }
    let host = Host::new();
    let customer = Customer::new(&host.server);
    let description = r#"{"name":"benign","runtime":"process","memory_mb":64,"timeout_s":10}"#;
    let benign = b"#!/bin/sh\necho benign\n";
    let evil = b"#!/bin/sh\necho EVIL\n";

    // Renamed over the path.
    let (erot, ewc, receipt) = customer.seal_with(&host.id, description, benign, None);
    let swapped_in = customer.seal(&erot, evil, "rename");
    let out = run_while_swapping(&host, &ewc, &receipt, || {
        std::fs::rename(&swapped_in, &ewc).unwrap();
    });
    assert!(!stdout(&out).contains("EVIL"), "the swapped container ran");
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "benign\n");

    // Rewritten in place (same file, so the same descriptor sees the new bytes).
    let (erot, ewc, receipt) = customer.seal_with(&host.id, description, benign, None);
    let evil_bytes = std::fs::read(customer.seal(&erot, evil, "inplace")).unwrap();
    let out = run_while_swapping(&host, &ewc, &receipt, || {
        std::fs::write(&ewc, &evil_bytes).unwrap();
    });
    assert!(
        !stdout(&out).contains("EVIL"),
        "the rewritten container ran"
    );
    // Rewritten after the receipt check: the decrypting pass sees other bytes (exit 12); in
    // the rare case it landed before the check, the receipt refuses it (exit 1).
    let code = out.status.code();
    assert!(
        code == Some(12) || code == Some(1),
        "{code:?}: {}",
        stderr(&out)
    );
    if code == Some(12) {
        assert!(
            stderr(&out).contains("changed after its receipt"),
            "{}",
            stderr(&out)
        );
    }

    // A FIFO is refused before anything is asked for: the ERoT is still there afterwards.
    let (_, ewc, receipt) = customer.seal_with(&host.id, description, benign, None);
    let fifo = customer.dir.path().join("served.ewc");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let out = host.run(&fifo, &receipt, &[]);
    assert_exit(&out, 12);
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    let out = host.run(&ewc, &receipt, &[]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "benign\n");
}

/// The host's ceilings and its sandbox are checked before the ERoT key is asked for, so a
/// refused workload burns nothing; `--unsandboxed` runs it, saying loudly what it gives up.
#[tokio::test]
async fn refusals_before_the_key_burn_nothing_and_unsandboxed_says_so() {
    if !have("bwrap") {
        return;
    }
    let host = Host::new();
    let customer = Customer::new(&host.server);
    let description = r#"{"name":"id","runtime":"process","memory_mb":100,"timeout_s":10}"#;
    let program = b"#!/bin/sh\necho \"uid=$(id -u)\"\n";
    let (_, ewc, receipt) = customer.seal_with(&host.id, description, program, None);

    let out = host.run(&ewc, &receipt, &["--max-memory-mb", "50"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("memory_mb 100 (this host allows 50)"),
        "{}",
        stderr(&out)
    );
    let out = agent_run_with(
        &host.server,
        &host.hk_spec(),
        &ewc,
        &receipt,
        &[],
        &[("CAIRN_MAX_TIMEOUT_S", "5")],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("timeout_s 10 (this host allows 5)"),
        "{}",
        stderr(&out)
    );
    // A host where bubblewrap cannot build the sandbox, or has none: exit 13.
    let out = host.run(&ewc, &receipt, &["--bwrap", "/bin/false"]);
    assert_exit(&out, 13);
    assert!(
        stderr(&out).contains("cannot sandbox the workload"),
        "{}",
        stderr(&out)
    );
    let out = host.run(&ewc, &receipt, &["--bwrap", "/nonexistent/bwrap"]);
    assert_exit(&out, 13);
    // None of that asked for the key: it is released now, and the workload runs sandboxed.
    let out = host.run(&ewc, &receipt, &[]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "uid=65534\n");

    // Unsandboxed, only by explicit choice, and loudly.
    let (_, ewc, receipt) = customer.seal_with(&host.id, description, program, None);
    let out = host.run(&ewc, &receipt, &["--unsandboxed"]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("WARNING: --unsandboxed"),
        "{}",
        stderr(&out)
    );
    assert_ne!(stdout(&out), "uid=65534\n");
}

/// Twenty memories, which once each got `memory_mb` of their own.
fn wasm_many_memories() -> String {
    let memories = "(memory 1)".repeat(20);
    format!(r#"(module {memories} (func (export "_start")))"#)
}

/// Sleeps 20 s in a WASI host call (`poll_oneoff` on the monotonic clock).
const WASM_SLEEPER: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 20000000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"#;

/// Spins forever in wasm code.
const WASM_SPINNER: &str = r#"(module (func (export "_start") (loop (br 0))))"#;

#[tokio::test]
async fn wasm_limits_hold_for_every_memory_and_across_host_calls() {
    let host = Host::new();
    let customer = Customer::new(&host.server);
    let description = r#"{"name":"w","runtime":"wasm","memory_mb":16,"timeout_s":2}"#;

    let (_, ewc, receipt) =
        customer.seal_with(&host.id, description, wasm_many_memories().as_bytes(), None);
    let out = host.run(&ewc, &receipt, &[]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("memor"), "{}", stderr(&out));

    for (module, what) in [(WASM_SLEEPER, "sleeping host call"), (WASM_SPINNER, "spin")] {
        let (_, ewc, receipt) = customer.seal_with(&host.id, description, module.as_bytes(), None);
        eprintln!("{what}");
        assert_stopped(&host, &ewc, &receipt, "stopped after 2 s");
    }
}
