//! Connections, apart from what is served on them: accepting under a cap, the TLS handshake,
//! HTTP/1.1 with a header timer, and a graceful shutdown. The routes never see a socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;

/// What one connection may hold, and for how long.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long a TLS handshake may take, and then how long from the handshake (or from
    /// answering the last request) to having read a whole request head: also how long an
    /// idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// From a request's head to its answer, body read included (answered 408); also how
    /// long a write may wait for a client that does not read.
    pub request_timeout: Duration,
    /// Connections open at once; past it, new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Connections one client address may hold open; past it, its new ones are closed at
    /// once (behind a proxy, every client has the proxy's address: raise it to the cap).
    pub max_connections_per_address: usize,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_address: 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A request head (request line and headers) is at most this long: what a connection's
/// read buffer may grow to.
const MAX_HEAD: usize = 16 * 1024;

/// File descriptors kept for everything but client connections (database, keys, logs).
const RESERVED_FILES: u64 = 64;

/// Raises this process's open-file limit to its hard limit and returns how many connections
/// fit under it: a cap above the limit would turn a flood into "Too many open files" for
/// everyone, the database included.
pub fn fit_to_open_files(max_connections: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let raise = match (limit.current, limit.maximum) {
        (Some(current), Some(maximum)) => current < maximum,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if raise {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!(error = %e, "raising the open-file limit");
        }
    }
    let available = getrlimit(Resource::Nofile)
        .current
        .map_or(usize::MAX, |n| n.saturating_sub(RESERVED_FILES) as usize);
    if available < max_connections {
        tracing::warn!(
            max_connections,
            available,
            "the open-file limit allows fewer connections than configured; capping there"
        );
    }
    max_connections.min(available).max(1)
}

/// Accepts and serves connections until `shutdown` resolves, then lets those open finish
/// their request in flight (up to the grace period) and closes them.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: &Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let cap = fit_to_open_files(limits.max_connections);
    let permits = Arc::new(Semaphore::new(cap));
    let (stop, stopping) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD);
    let connection = Connection {
        tls,
        http,
        app,
        header_timeout: limits.header_timeout,
        write_timeout: limits.request_timeout,
        stopping,
        metrics,
    };
    let mut open = JoinSet::new();
    let per_address = Arc::new(PerAddress::default());
    tokio::pin!(shutdown);
    loop {
        // Past the cap nothing is accepted: waiting clients queue in the backlog, and none
        // of them costs this process a byte.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore stays open"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted:
                    // nothing to do but wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) =
            per_address.take(peer.ip().to_canonical(), limits.max_connections_per_address)
        else {
            connection.metrics.closed_by_server("per-address-cap");
            continue;
        };
        let connection = connection.clone();
        open.spawn(async move {
            connection.serve(tcp).await;
            drop((slot, permit));
        });
        // Reap the finished, so the set holds only what is open.
        while open.try_join_next().is_some() {}
    }
    // Nobody new: clients now get "connection refused" rather than a wait, then a reset.
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it closes: having them all back means done.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    open.abort_all();
}

/// How many connections each client address holds open (only addresses holding some).
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

impl PerAddress {
    /// A slot for `ip`, unless it holds `max` already.
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let held = open.entry(ip).or_default();
        if *held >= max {
            return None;
        }
        *held += 1;
        Some(AddressSlot {
            of: self.clone(),
            ip,
        })
    }
}

/// One connection's place in its address's count, given back when it closes.
struct AddressSlot {
    of: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.of.0.lock().unwrap_or_else(|e| e.into_inner());
        if let std::collections::hash_map::Entry::Occupied(mut held) = open.entry(self.ip) {
            *held.get_mut() -= 1;
            if *held.get() == 0 {
                held.remove();
            }
        }
    }
}

#[derive(Clone)]
struct Connection {
    tls: Option<TlsAcceptor>,
    http: hyper::server::conn::http1::Builder,
    app: Router,
    header_timeout: Duration,
    write_timeout: Duration,
    stopping: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
}

impl Connection {
    async fn serve(self, tcp: TcpStream) {
        // Every request and response is one small write: send it now, not after an ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let _open = self.metrics.connection_opened();
        let tcp = WriteDeadline::new(tcp, self.write_timeout);
        match &self.tls {
            None => self.http(tcp).await,
            Some(acceptor) => {
                match tokio::time::timeout(self.header_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => self.http(stream).await,
                    Ok(Err(e)) => {
                        self.metrics.closed_by_server("tls-handshake-failed");
                        tracing::debug!(error = %e, "TLS handshake failed");
                    }
                    Err(_) => self.metrics.closed_by_server("tls-handshake-timeout"),
                }
            }
        }
    }

    async fn http(self, io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static) {
        let service = TowerToHyperService::new(self.app.clone());
        let connection = self.http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let mut stop = self.stopping.clone();
        let stopping = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = stopping => {
                // Finish the request in flight, if any, then close.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            if e.is_timeout() {
                self.metrics.closed_by_server("head-timeout");
            } else if is_write_stall(&e) {
                self.metrics.closed_by_server("write-stalled");
            }
            tracing::debug!(error = %e, "connection closed");
        }
    }
}

fn is_write_stall(e: &hyper::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
}

/// A stream whose writes must make progress: one left blocked for `limit` (a client that
/// stopped reading its answer, its window shut) fails, which closes the connection. Reads
/// have their own timers (TLS handshake, request head, request).
struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes on a write's outcome; while it is blocked, counts down to failing it.
    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if outcome.is_ready() {
            self.stalled = None;
            return outcome;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(cx, outcome)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let outcome = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, outcome)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let outcome = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progress(cx, outcome)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
