//! What a workload description asks for, and what the host allows. The description is the
//! customer's (signed into the receipt by the DERG, but written by whoever asked for the ERoT),
//! so every field is checked here, once, and a description over the host's ceilings is refused
//! before the ERoT key is requested: a refused workload burns nothing.

use serde_json::Value;

/// How the payload runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// WebAssembly with WASI preview 1, inside the agent (wasmtime).
    Wasm,
    /// A native executable in the kernel sandbox.
    Process,
    /// No `runtime` given: a wasm binary runs as `Wasm`, anything else as `Process`.
    Detect,
}

/// The description's grant: arguments, memory, time and processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub runtime: Runtime,
    pub args: Vec<String>,
    /// Memory of the whole workload, its payload included.
    pub memory_mb: u64,
    /// Wall-clock time, and CPU time of each of its processes.
    pub timeout_s: u64,
    /// Processes (and threads) the `process` runtime may have at once.
    pub pids: u64,
}

pub const DEFAULT_MEMORY_MB: u64 = 256;
pub const DEFAULT_TIMEOUT_S: u64 = 60;
pub const DEFAULT_PIDS: u64 = 32;
/// Open files per process of a native workload.
const NOFILE: u64 = 256;

/// The host's own limits on any workload (`cairn agent run --max-…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ceilings {
    pub memory_mb: u64,
    pub timeout_s: u64,
    pub pids: u64,
}

impl Default for Ceilings {
    fn default() -> Self {
        Ceilings {
            memory_mb: 2048,
            timeout_s: 3600,
            pids: 256,
        }
    }
}

impl Limits {
    /// Reads `runtime` (`wasm` | `process`, default: by the payload), `args` (strings, default
    /// none), `memory_mb` (default 256), `timeout_s` (default 60) and `pids` (default 32). A
    /// field of the wrong type or out of range is refused, not defaulted.
    pub fn of(workload: &Value) -> Result<Self, String> {
        let number = |name: &str, default: u64| match workload.get(name) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} must be a positive whole number, not {v}")),
        };
        let runtime = match workload.get("runtime") {
            None => Runtime::Detect,
            Some(Value::String(r)) if r == "wasm" => Runtime::Wasm,
            Some(Value::String(r)) if r == "process" => Runtime::Process,
            Some(other) => return Err(format!("unknown runtime {other} (wasm or process)")),
        };
        let args = match workload.get("args") {
            None => Vec::new(),
            Some(Value::Array(args)) => args
                .iter()
                .map(|a| a.as_str().map(String::from))
                .collect::<Option<_>>()
                .ok_or("args must be a list of strings")?,
            Some(_) => return Err("args must be a list of strings".into()),
        };
        Ok(Limits {
            runtime,
            args,
            memory_mb: number("memory_mb", DEFAULT_MEMORY_MB)?,
            timeout_s: number("timeout_s", DEFAULT_TIMEOUT_S)?,
            pids: number("pids", DEFAULT_PIDS)?,
        })
    }

    /// Refuses a grant over any of the host's ceilings, naming each.
    pub fn within(&self, ceilings: &Ceilings) -> Result<(), String> {
        let over: Vec<String> = [
            ("memory_mb", self.memory_mb, ceilings.memory_mb),
            ("timeout_s", self.timeout_s, ceilings.timeout_s),
            ("pids", self.pids, ceilings.pids),
        ]
        .into_iter()
        .filter(|(_, asked, ceiling)| asked > ceiling)
        .map(|(name, asked, ceiling)| format!("{name} {asked} (this host allows {ceiling})"))
        .collect();
        if over.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the workload asks for more than this host allows: {}",
                over.join(", ")
            ))
        }
    }

    pub fn memory_bytes(&self) -> u64 {
        self.memory_mb.saturating_mul(1 << 20)
    }

    /// `prlimit(1)` options for each process of the workload: address space, CPU time, tasks,
    /// open files, no core dumps.
    pub fn prlimit_args(&self) -> Vec<String> {
        vec![
            format!("--as={}", self.memory_bytes()),
            format!("--cpu={}", self.timeout_s),
            format!("--nproc={}", self.pids),
            format!("--nofile={NOFILE}"),
            "--core=0".into(),
        ]
    }

    /// The payload lives in the workload's memory (the sandbox's tmpfs, or wasmtime's
    /// module), so it must fit in it.
    pub fn fits(&self, payload_len: u64) -> Result<(), String> {
        if payload_len > self.memory_bytes() {
            return Err(format!(
                "its payload ({payload_len} bytes) does not fit in its memory_mb {}",
                self.memory_mb
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_apply_only_to_absent_fields() {
        let limits = Limits::of(&json!({ "name": "x" })).unwrap();
        assert_eq!(
            limits,
            Limits {
                runtime: Runtime::Detect,
                args: vec![],
                memory_mb: DEFAULT_MEMORY_MB,
                timeout_s: DEFAULT_TIMEOUT_S,
                pids: DEFAULT_PIDS,
            }
        );
        let limits = Limits::of(
            &json!({ "runtime": "process", "args": ["a", "b"], "memory_mb": 8, "timeout_s": 2, "pids": 4 }),
        )
        .unwrap();
        assert_eq!(limits.runtime, Runtime::Process);
        assert_eq!(limits.args, ["a", "b"]);
        assert_eq!((limits.memory_mb, limits.timeout_s, limits.pids), (8, 2, 4));
    }

    #[test]
    fn malformed_fields_are_refused_not_defaulted() {
        for bad in [
            json!({ "memory_mb": "lots" }),
            json!({ "memory_mb": 0 }),
            json!({ "memory_mb": -1 }),
            json!({ "timeout_s": 1.5 }),
            json!({ "pids": null }),
            json!({ "runtime": "docker" }),
            json!({ "runtime": 1 }),
            json!({ "args": "a b" }),
            json!({ "args": ["a", 1] }),
        ] {
            assert!(Limits::of(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn ceilings_refuse_each_field_over_them() {
        let ceilings = Ceilings {
            memory_mb: 64,
            timeout_s: 10,
            pids: 8,
        };
        let at = Limits::of(&json!({ "memory_mb": 64, "timeout_s": 10, "pids": 8 })).unwrap();
        assert!(at.within(&ceilings).is_ok());
        for (field, value) in [("memory_mb", 65), ("timeout_s", 11), ("pids", 9)] {
            let limits = Limits::of(&json!({ field: value })).unwrap();
            let e = limits.within(&ceilings).unwrap_err();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn the_payload_must_fit_in_the_memory() {
        let limits = Limits::of(&json!({ "memory_mb": 1 })).unwrap();
        assert!(limits.fits(1 << 20).is_ok());
        assert!(limits.fits((1 << 20) + 1).is_err());
    }
}
