//! The `wasm` runtime: wasmtime with WASI preview 1. The module gets its arguments and a
//! stdout that Cairn captures, and nothing else: no environment, no preopened directories,
//! no sockets. Its memory is capped at the description's `memory_mb` (a `memory.grow` past
//! it fails, and an initial memory past it fails instantiation) and its run at `timeout_s`
//! by epoch interruption.

use std::path::Path;
use std::time::Duration;

use wasmtime::{Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::{Limits, RunError};

/// Output kept from a workload's stdout.
const MAX_OUTPUT: usize = 16 << 20;

struct State {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

pub fn run(program: &Path, limits: &Limits) -> Result<(i32, Vec<u8>), RunError> {
    let fail = |e: wasmtime::Error| RunError::Workload(format!("{e:#}"));
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).map_err(fail)?;
    let module = Module::from_file(&engine, program).map_err(fail)?;
    let stdout = MemoryOutputPipe::new(MAX_OUTPUT);
    let mut argv = vec!["workload".to_string()];
    argv.extend(limits.args.iter().cloned());
    let wasi = wasmtime_wasi::WasiCtxBuilder::new()
        .args(&argv)
        .stdout(stdout.clone())
        .build_p1();
    let memory = usize::try_from(limits.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    let mut store = Store::new(
        &engine,
        State {
            wasi,
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .instances(1)
                .trap_on_grow_failure(true)
                .build(),
        },
    );
    store.limiter(|state| &mut state.limits);
    store.set_epoch_deadline(1);
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut State| &mut state.wasi)
        .map_err(fail)?;

    // The clock: one epoch tick at the deadline interrupts the module wherever it is.
    let ticker = {
        let engine = engine.clone();
        let timeout = Duration::from_secs(limits.timeout_s);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            if stopped.recv_timeout(timeout).is_err() {
                engine.increment_epoch();
            }
        });
        (stop, handle)
    };
    let outcome = linker
        .instantiate(&mut store, &module)
        .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
        .and_then(|start| start.call(&mut store, ()));
    let _ = ticker.0.send(());
    let _ = ticker.1.join();
    let status = match outcome {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => *code,
            None if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) => {
                return Err(RunError::Workload(format!(
                    "stopped after {} s",
                    limits.timeout_s
                )));
            }
            None => return Err(RunError::Workload(format!("{e:#}"))),
        },
    };
    drop(store);
    Ok((status, stdout.contents().to_vec()))
}
