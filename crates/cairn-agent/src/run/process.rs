//! The `process` runtime: the payload, a native executable or a `#!` script, in the kernel
//! sandbox of [`super::sandbox`] (or, only when the operator said `--unsandboxed`, as a plain
//! child process). Its stdout is streamed into a bounded [`Capture`], its stderr into a small
//! one; at `timeout_s` the whole sandbox is killed, and the agent waits for nothing after.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::RunError;
use super::limits::Limits;
use super::output::{Capture, Output};
use super::sandbox::Sandbox;

/// What is kept of a workload's stderr, to show the operator.
const STDERR_KEPT: usize = 64 << 10;
/// How long the agent waits for the pipes to close once the workload has been killed.
const GRACE: Duration = Duration::from_secs(2);

/// How a native workload is confined.
pub enum Confinement {
    Sandbox(Sandbox),
    /// The operator's explicit `--unsandboxed`: only a cleared environment, resource limits
    /// and a private directory. The workload runs as the agent's user and sees its host.
    None,
}

/// What a workload did: its exit status, its stdout and what was kept of its stderr.
pub struct Ran {
    pub status: i32,
    pub stdout: Output,
    pub stderr: Vec<u8>,
}

pub async fn run(
    confinement: &Confinement,
    payload: &File,
    payload_len: u64,
    limits: &Limits,
    max_output: usize,
) -> Result<Ran, RunError> {
    let start = |e: std::io::Error| RunError::Workload(format!("cannot start it: {e}"));
    // Unsandboxed, the payload needs a path; it lives in a private directory for the run.
    let (mut private_dir, mut cgroup) = (None, None);
    let child = match confinement {
        Confinement::Sandbox(sandbox) => {
            // The key is out by now: a sandbox that fails here is a failed workload, not a
            // refusal before anything was asked for.
            let failed = |e: String| RunError::Workload(format!("the sandbox did not start: {e}"));
            if !sandbox.has_cgroup() {
                tracing::warn!(
                    "no memory cgroup for this run (cgroup v2: pass --cgroup DIR): memory_mb \
                     caps each of its processes, not all of them together"
                );
            }
            cgroup = sandbox.cgroup_for(limits).map_err(failed)?;
            sandbox
                .command(limits, payload, payload_len, None)
                .map_err(failed)?
                .spawn(cgroup.as_ref())
                .await
                .map_err(failed)?
        }
        Confinement::None => {
            let dir = tempfile::Builder::new()
                .prefix("cairn-run-")
                .tempdir()
                .map_err(start)?;
            let program = dir.path().join("workload");
            copy_executable(payload, &program).map_err(start)?;
            let child = unsandboxed(&program, dir.path(), limits)
                .spawn()
                .map_err(start)?;
            private_dir = Some(dir);
            child
        }
    };
    let ran = supervise(child, limits.timeout_s, max_output).await;
    // Whatever is left of it dies with its cgroup; its files go with its directory.
    drop(cgroup);
    drop(private_dir);
    ran
}

/// Waits for the workload and drains its output, killing it at `timeout_s`.
async fn supervise(
    mut child: tokio::process::Child,
    timeout_s: u64,
    max_output: usize,
) -> Result<Ran, RunError> {
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let finished = async {
        let (stdout, stderr, status) = tokio::join!(
            drain(stdout, max_output),
            drain(stderr, STDERR_KEPT),
            child.wait()
        );
        (stdout, stderr, status)
    };
    match tokio::time::timeout(Duration::from_secs(timeout_s), finished).await {
        Ok((stdout, stderr, status)) => {
            let status = status.map_err(|e| RunError::Workload(e.to_string()))?;
            Ok(Ran {
                status: status.code().unwrap_or(-1),
                stdout,
                stderr: stderr.kept,
            })
        }
        Err(_) => {
            // Killing bubblewrap kills its namespace's init, and with it every process left.
            let _ = child.start_kill();
            let _ = tokio::time::timeout(GRACE, child.wait()).await;
            Err(RunError::Workload(format!("killed after {timeout_s} s")))
        }
    }
}

async fn drain(pipe: Option<impl AsyncRead + Unpin>, keep: usize) -> Output {
    let mut capture = Capture::new(keep);
    if let Some(mut pipe) = pipe {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            capture.write(&buf[..n]);
        }
    }
    capture.finish()
}

fn copy_executable(payload: &File, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(to)?;
    let mut payload = payload.try_clone()?;
    std::io::Seek::rewind(&mut payload)?;
    std::io::copy(&mut payload, &mut out)?;
    Ok(())
}

/// `prlimit` on memory, CPU, processes and files, an empty environment, the private
/// directory as working directory.
fn unsandboxed(program: &Path, dir: &Path, limits: &Limits) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("prlimit");
    // Without a user namespace of its own, a task limit would count every process of the
    // agent's user, so it is left out here.
    let prlimits = limits.prlimit_args().into_iter();
    command
        .args(prlimits.filter(|a| !a.starts_with("--nproc")))
        .arg("--")
        .arg(program)
        .args(&limits.args)
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}
