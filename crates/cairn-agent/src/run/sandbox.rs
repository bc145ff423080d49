//! The kernel sandbox of the `process` runtime, built by bubblewrap (`bwrap`): the workload
//! gets its own user, mount, pid, network, IPC, UTS and cgroup namespaces; a root that holds
//! only the system's read-only `/usr` (and the `/bin`, `/lib*` that lead there), its own
//! `/proc`, `/dev/{null,zero,random,urandom}` and a size-capped tmpfs `/work` with the
//! decrypted payload; no network but loopback; no capabilities, `no_new_privs`, no further user
//! namespaces and the seccomp filter of [`super::seccomp`]; an empty environment; resource
//! limits from its description (the process limit counts the sandbox's own user namespace, so
//! it is the run's alone); and it dies with the agent. When the agent runs as root, each run
//! also gets an unprivileged uid of its own outside the sandbox, so that even an escape from
//! the namespaces lands on a user that owns nothing.
//!
//! When the workload's first process exits, bubblewrap's init (pid 1 of its namespace) exits
//! and the kernel kills every process left in the namespace; killing bubblewrap at the timeout
//! does the same, so nothing of a workload outlives its run.

use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::cgroup::{CgroupParent, RunCgroup};
use super::limits::Limits;

/// Where the payload sits inside the sandbox, and the sandbox's working directory.
const WORK: &str = "/work";
const PAYLOAD: &str = "/work/workload";
/// The uid and gid the workload sees (mapped to the run's own uid outside).
const INSIDE_ID: u32 = 65534;
/// When the agent is root, each run's uid outside is picked at random in
/// `[RUN_UID_BASE, RUN_UID_BASE + 2^24)`, a range no distribution allocates.
const RUN_UID_BASE: u32 = 0x7f00_0000;
/// How long bubblewrap may take to build the sandbox.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A host that can build the sandbox: where bubblewrap and the tools it runs are.
#[derive(Clone, Debug)]
pub struct Sandbox {
    bwrap: PathBuf,
    prlimit: PathBuf,
    /// The run's own uid and gid outside, when the agent may choose one (it is root).
    outside_id: Option<u32>,
    seccomp: Vec<u8>,
    /// Where each run's memory and pids cgroup goes, when the host has one for the agent.
    cgroup: Option<CgroupParent>,
}

impl Sandbox {
    /// Finds bubblewrap (`bwrap`, or the one on `PATH`) and the cgroup parent (`cgroup`, a
    /// delegated v2 directory, or the agent's own v1 cgroups) and checks that they can build
    /// this sandbox on this host, by running `true` in it. Nothing of a workload is needed, so
    /// this runs before any key is asked for.
    pub async fn probe(bwrap: Option<&Path>, cgroup: Option<&Path>) -> Result<Sandbox, String> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let bwrap = match bwrap {
            Some(bwrap) => bwrap.to_path_buf(),
            None => which("bwrap", std::env::split_paths(&path)).ok_or(
                "bubblewrap (bwrap) is not installed (Debian and Ubuntu: apt-get install bubblewrap)",
            )?,
        };
        // These run inside, where only the system's directories are.
        let prlimit = which("prlimit", []).ok_or("prlimit (util-linux) is not installed")?;
        let truth = which("true", []).ok_or("true (coreutils) is not installed")?;
        close_inherited_on_exec()?;
        let outside_id = rustix::process::geteuid().is_root().then(|| {
            let [a, b, c, _] = cairn_proto::random_bytes::<4>();
            RUN_UID_BASE + u32::from_be_bytes([0, a, b, c])
        });
        let sandbox = Sandbox {
            bwrap,
            prlimit,
            outside_id,
            seccomp: super::seccomp::program_bytes()?,
            cgroup: CgroupParent::find(cgroup)?,
        };
        let limits = Limits::of(&serde_json::json!({ "memory_mb": 16, "timeout_s": 5 }))
            .expect("valid limits");
        let empty = tempfile::tempfile().map_err(|e| e.to_string())?;
        let cgroup = sandbox.cgroup_for(&limits)?;
        let child = sandbox
            .command(&limits, &empty, 0, Some(&truth))?
            .spawn(cgroup.as_ref())
            .await
            .map_err(|e| format!("{}: {e}", sandbox.bwrap.display()))?;
        let output = tokio::time::timeout(START_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| format!("the probe did not finish in {} s", START_TIMEOUT.as_secs()))?
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            let why = String::from_utf8_lossy(&output.stderr);
            return Err(format!(
                "bubblewrap cannot build it here ({}): {}",
                output.status,
                why.trim()
            ));
        }
        Ok(sandbox)
    }

    /// A fresh cgroup with `limits` for one run, where the host has a cgroup parent.
    pub fn cgroup_for(&self, limits: &Limits) -> Result<Option<RunCgroup>, String> {
        self.cgroup
            .as_ref()
            .map(|parent| parent.create(limits))
            .transpose()
    }

    /// Whether runs get a memory and pids cgroup (else only per-process limits).
    pub fn has_cgroup(&self) -> bool {
        self.cgroup.is_some()
    }

    /// The command that runs `payload` (an open file of `payload_len` bytes) under `limits`,
    /// or, for the probe, the host's `program` in the same sandbox. Its stdin is empty; its
    /// stdout and stderr are pipes for the caller.
    pub fn command(
        &self,
        limits: &Limits,
        payload: &File,
        payload_len: u64,
        program: Option<&Path>,
    ) -> Result<SandboxCommand, String> {
        // What bubblewrap reads and writes at start-up goes to it by descriptor: the payload,
        // the seccomp program (from an unnamed file), a pipe on which it tells the sandbox's
        // first pid, and one it waits on before going on. The child's ends are inheritable
        // copies, held until it is spawned and closed in the agent right after.
        let err = |e: std::io::Error| e.to_string();
        let mut seccomp = tempfile::tempfile().map_err(err)?;
        seccomp
            .write_all(&self.seccomp)
            .and_then(|()| seccomp.rewind())
            .map_err(err)?;
        let payload = payload.try_clone().map_err(err)?;
        let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC);
        let (info_read, info_write) = pipe().map_err(|e| e.to_string())?;
        let (block_read, block_write) = pipe().map_err(|e| e.to_string())?;
        let inherited = [
            payload,
            seccomp,
            File::from(info_write),
            File::from(block_read),
        ];
        for fd in &inherited {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).map_err(|e| e.to_string())?;
        }
        let [payload, seccomp, info_write, block_read] = &inherited;
        let fd = |file: &File| file.as_raw_fd().to_string();
        let id = INSIDE_ID.to_string();
        let mut command = tokio::process::Command::new(&self.bwrap);
        command
            .args(["--unshare-all", "--unshare-user", "--disable-userns"])
            .args(["--die-with-parent", "--new-session", "--cap-drop", "ALL"])
            .args(["--uid", &id, "--gid", &id, "--hostname", "workload"])
            .args(["--ro-bind", "/usr", "/usr"]);
        for dir in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            match std::fs::read_link(dir) {
                Ok(target) => {
                    command.arg("--symlink").arg(target).arg(dir);
                }
                Err(_) if Path::new(dir).is_dir() => {
                    command.args(["--ro-bind", dir, dir]);
                }
                Err(_) => {}
            }
        }
        command.args(["--proc", "/proc", "--dir", "/dev"]);
        for dev in ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"] {
            command.args(["--dev-bind", dev, dev]);
        }
        // The writable tmpfs counts against the workload's memory; the payload is copied in.
        command
            .arg("--size")
            .arg(limits.memory_bytes().max(payload_len + 4096).to_string())
            .args(["--tmpfs", WORK, "--perms", "0500", "--file"])
            .arg(fd(payload))
            .arg(PAYLOAD)
            .args(["--remount-ro", "/", "--chdir", WORK, "--clearenv"])
            .args(["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin"])
            .args(["--setenv", "HOME", WORK, "--setenv", "TMPDIR", WORK])
            .arg("--seccomp")
            .arg(fd(seccomp))
            .arg("--info-fd")
            .arg(fd(info_write))
            .arg("--block-fd")
            .arg(fd(block_read))
            .arg("--")
            .arg(&self.prlimit)
            .args(limits.prlimit_args())
            .arg("--");
        match program {
            Some(program) => command.arg(program),
            None => command.arg(PAYLOAD).args(&limits.args),
        };
        command
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(id) = self.outside_id {
            command.uid(id).gid(id);
        }
        Ok(SandboxCommand {
            command,
            inherited,
            info: File::from(info_read),
            go: File::from(block_write),
        })
    }
}

/// A sandbox ready to start, with the descriptors its child inherits.
pub struct SandboxCommand {
    command: tokio::process::Command,
    inherited: [File; 4],
    /// Where bubblewrap tells the sandbox's first pid.
    info: File,
    /// What bubblewrap waits on, namespaces built, before it starts the workload.
    go: File,
}

impl SandboxCommand {
    /// Starts it: once bubblewrap has built the namespaces, their first process is admitted
    /// to `cgroup` (when there is one), and only then is the workload let go, so every one of
    /// its processes starts inside.
    pub async fn spawn(
        mut self,
        cgroup: Option<&RunCgroup>,
    ) -> Result<tokio::process::Child, String> {
        let mut child = self
            .command
            .spawn()
            .map_err(|e| format!("cannot start bubblewrap: {e}"))?;
        drop(self.inherited); // the agent's copies: the child has its own
        let mut info = self.info;
        let told = tokio::time::timeout(
            START_TIMEOUT,
            tokio::task::spawn_blocking(move || {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut info, &mut text).map(|_| text)
            }),
        )
        .await;
        let told = match told {
            Ok(Ok(Ok(text))) => Ok(text),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("bubblewrap did not start in time".to_string()),
        };
        let admitted = match (told, cgroup) {
            (Err(e), _) => Err(e),
            (Ok(_), None) => Ok(()),
            (Ok(told), Some(cgroup)) => serde_json::from_str::<serde_json::Value>(&told)
                .ok()
                .and_then(|info| info.get("child-pid")?.as_u64())
                .and_then(|pid| u32::try_from(pid).ok())
                .ok_or_else(|| format!("bubblewrap did not say its child's pid: {told:?}"))
                .and_then(|pid| cgroup.admit(pid)),
        };
        if let Err(e) = admitted {
            let _ = child.start_kill();
            return Err(e);
        }
        // One byte, then end of file: bubblewrap reads one and goes on.
        let _ = self.go.write_all(b"1");
        drop(self.go);
        Ok(child)
    }
}

/// Marks every descriptor from 3 up close-on-exec. The agent's own already are; those it
/// inherited (from systemd, a shell's redirections, its parent) would otherwise pass through
/// bubblewrap, which hands on whatever it is given, into the workload, past its mount
/// namespace: an inherited descriptor of the hardware key would be readable there.
fn close_inherited_on_exec() -> Result<(), String> {
    // SAFETY: with CLOSE_RANGE_CLOEXEC, close_range(2) closes nothing: it only sets a flag on
    // open descriptors, on which the validity of no Rust object depends.
    let done = unsafe { libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if done != 0 {
        return Err(format!(
            "cannot mark inherited descriptors close-on-exec (close_range needs Linux 5.11): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The first `name` in `dirs`, then in the system's own directories.
fn which(name: &str, dirs: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    dirs.into_iter()
        .chain(["/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
