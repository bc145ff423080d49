//! A memory and pids cgroup for each sandboxed run, where the host lets the agent make one, so
//! that `memory_mb` bounds all of a native workload's processes together (its `/work` tmpfs
//! included), not each of them alone as the address-space rlimit does.
//!
//! - cgroup v2: under the directory the operator delegates with `--cgroup DIR` (one with
//!   `memory` and `pids` in its `cgroup.subtree_control`, writable by the agent; under systemd,
//!   a unit with `Delegate=yes`). Each run gets `DIR/cairn-run-…` with `memory.max`,
//!   `memory.swap.max` 0 and `pids.max`.
//! - cgroup v1: under the agent's own cgroup in the `memory` and `pids` hierarchies, when it
//!   may write there (as root); `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`,
//!   so no swap) and `pids.max`.
//!
//! The sandbox's first process is admitted before bubblewrap lets it go on (its `--block-fd`),
//! so every process of the workload starts inside. When the run ends, whatever is left in the
//! cgroup is killed and the directories removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::limits::Limits;

const V1_ROOT: &str = "/sys/fs/cgroup";

/// Where runs' cgroups go on this host.
#[derive(Clone, Debug)]
pub enum CgroupParent {
    /// v2: the operator's delegated directory.
    Unified(PathBuf),
    /// v1: the agent's own `memory` and `pids` cgroups.
    Legacy { memory: PathBuf, pids: PathBuf },
}

impl CgroupParent {
    /// `delegated` (v2) when the operator gave one; otherwise the agent's own v1 cgroups
    /// when they exist and it may write there; otherwise none (rlimits only).
    pub fn find(delegated: Option<&Path>) -> Result<Option<CgroupParent>, String> {
        if let Some(dir) = delegated {
            let controllers = std::fs::read_to_string(dir.join("cgroup.subtree_control"))
                .map_err(|e| format!("--cgroup {}: {e}", dir.display()))?;
            for needed in ["memory", "pids"] {
                if !controllers.split_whitespace().any(|c| c == needed) {
                    return Err(format!(
                        "--cgroup {}: its cgroup.subtree_control lacks {needed}",
                        dir.display()
                    ));
                }
            }
            return Ok(Some(CgroupParent::Unified(dir.to_path_buf())));
        }
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let path_of = |controller: &str| {
            own.lines().find_map(|line| {
                let mut fields = line.splitn(3, ':');
                let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
                controllers.split(',').any(|c| c == controller).then(|| {
                    Path::new(V1_ROOT)
                        .join(controller)
                        .join(path.trim_start_matches('/'))
                })
            })
        };
        let (Some(memory), Some(pids)) = (path_of("memory"), path_of("pids")) else {
            return Ok(None);
        };
        let writable = |dir: &Path| {
            rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok()
                && dir.join("cgroup.procs").is_file()
        };
        Ok((writable(&memory) && writable(&pids)).then_some(CgroupParent::Legacy { memory, pids }))
    }

    /// Makes a run's cgroup with the limits of `limits`.
    pub fn create(&self, limits: &Limits) -> Result<RunCgroup, String> {
        let name = format!(
            "cairn-run-{}",
            cairn_proto::b64::encode(cairn_proto::random_bytes::<9>())
        );
        let memory = limits.memory_bytes().to_string();
        let pids = limits.pids.to_string();
        let (dirs, settings): (Vec<PathBuf>, Vec<(PathBuf, &str, &str)>) = match self {
            CgroupParent::Unified(parent) => {
                let dir = parent.join(&name);
                let settings = vec![
                    (dir.clone(), "memory.max", memory.as_str()),
                    (dir.clone(), "memory.swap.max", "0"),
                    (dir.clone(), "pids.max", pids.as_str()),
                ];
                (vec![dir], settings)
            }
            CgroupParent::Legacy {
                memory: memory_parent,
                pids: pids_parent,
            } => {
                let (m, p) = (memory_parent.join(&name), pids_parent.join(&name));
                let settings = vec![
                    (m.clone(), "memory.limit_in_bytes", memory.as_str()),
                    (m.clone(), "memory.memsw.limit_in_bytes", memory.as_str()),
                    (p.clone(), "pids.max", pids.as_str()),
                ];
                (vec![m, p], settings)
            }
        };
        let mut cgroup = RunCgroup { dirs: Vec::new() };
        for dir in dirs {
            std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            cgroup.dirs.push(dir);
        }
        for (dir, file, value) in settings {
            let path = dir.join(file);
            // Swap accounting is optional in both versions; without it there is no swap to cap.
            if (file.contains("swap") || file.contains("memsw")) && !path.exists() {
                continue;
            }
            std::fs::write(&path, value).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(cgroup)
    }
}

/// One run's cgroup (a directory per hierarchy); removed, with anything left in it, on drop.
#[derive(Debug)]
pub struct RunCgroup {
    dirs: Vec<PathBuf>,
}

impl RunCgroup {
    /// Moves process `pid` (and so all it will start) into the cgroup.
    pub fn admit(&self, pid: u32) -> Result<(), String> {
        for dir in &self.dirs {
            let procs = dir.join("cgroup.procs");
            std::fs::write(&procs, pid.to_string())
                .map_err(|e| format!("{}: {e}", procs.display()))?;
        }
        Ok(())
    }

    fn members(dir: &Path) -> Vec<i32> {
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // v2 kills the whole cgroup at once; v1 one process at a time.
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
            for _ in 0..50 {
                let members = Self::members(dir);
                if members.is_empty() {
                    break;
                }
                for pid in members {
                    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}
