//! The `wasm` runtime: wasmtime with WASI preview 1. The module gets its arguments and a
//! stdout that Cairn captures (bounded, hashed whole), and nothing else: no environment, no
//! preopened directories, no sockets. At most one memory and one table: a module declaring
//! more fails validation, and the store refuses to create them, so `memory_mb` caps all of
//! its memory (a `memory.grow` past it traps, and an initial memory past it fails
//! instantiation). At `timeout_s` the module stops wherever it is: an epoch tick interrupts
//! running code, and the run's future, host calls included (a `poll_oneoff` sleeping past the
//! deadline), is dropped, since wasmtime runs it asynchronously.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::{Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;

use super::RunError;
use super::limits::Limits;
use super::output::{Capture, Output};

/// Elements a table may grow to (a few megabytes of references at most).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

struct State {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

pub async fn run(
    module: Vec<u8>,
    limits: &Limits,
    max_output: usize,
) -> Result<(i32, Output), RunError> {
    let fail = |e: wasmtime::Error| RunError::Workload(format!("{e:#}"));
    let mut config = Config::new();
    config
        .async_support(true)
        .epoch_interruption(true)
        .wasm_multi_memory(false);
    let engine = Engine::new(&config).map_err(fail)?;
    let deadline = Duration::from_secs(limits.timeout_s);
    let stdout = SharedCapture(Arc::new(Mutex::new(Capture::new(max_output))));
    let mut argv = vec!["workload".to_string()];
    argv.extend(limits.args.iter().cloned());
    let wasi = wasmtime_wasi::WasiCtxBuilder::new()
        .args(&argv)
        .stdout(stdout.clone())
        .build_p1();
    let memory = usize::try_from(limits.memory_bytes()).unwrap_or(usize::MAX);
    let mut store = Store::new(
        &engine,
        State {
            wasi,
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .memories(1)
                .tables(1)
                .table_elements(MAX_TABLE_ELEMENTS)
                .instances(1)
                .trap_on_grow_failure(true)
                .build(),
        },
    );
    store.limiter(|state| &mut state.limits);
    store.set_epoch_deadline(1);
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut State| &mut state.wasi)
        .map_err(fail)?;

    // The clock: one epoch tick at the deadline interrupts the module wherever it computes.
    let ticker = {
        let engine = engine.clone();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if stopped.recv_timeout(deadline).is_err() {
                engine.increment_epoch();
            }
        });
        stop
    };
    // Compilation counts against the deadline too; it runs on a thread of its own, which a
    // deadline leaves behind instead of waiting for.
    let compiled = {
        let (done, compiled) = tokio::sync::oneshot::channel();
        let engine = engine.clone();
        std::thread::spawn(move || {
            let _ = done.send(Module::new(&engine, &module));
        });
        compiled
    };
    let run = async {
        let module = compiled
            .await
            .map_err(|_| wasmtime::Error::msg("the compiler stopped"))??;
        let instance = linker.instantiate_async(&mut store, &module).await?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        start.call_async(&mut store, ()).await
    };
    let outcome = tokio::time::timeout(deadline, run).await;
    let _ = ticker.send(());
    let stopped = || RunError::Workload(format!("stopped after {} s", limits.timeout_s));
    let status = match outcome {
        Err(_) => return Err(stopped()),
        Ok(Ok(())) => 0,
        Ok(Err(e)) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => *code,
            None if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) => {
                return Err(stopped());
            }
            None => return Err(RunError::Workload(format!("{e:#}"))),
        },
    };
    drop(store);
    let output = std::mem::replace(
        &mut *stdout.0.lock().expect("capture lock"),
        Capture::new(0),
    );
    Ok((status, output.finish()))
}

/// The module's stdout: every write goes into the run's [`Capture`].
#[derive(Clone)]
struct SharedCapture(Arc<Mutex<Capture>>);

impl IsTerminal for SharedCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for SharedCapture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for SharedCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.lock().expect("capture lock").write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
