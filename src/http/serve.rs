//! The listener's accept loop: hands each connection to hyper with a deadline for its request
//! headers (a client that connects and stalls, or sits idle between requests, is closed) and
//! one for answers the client does not read (`stall`), caps
//! the connections open at once, and on shutdown stops accepting and lets the open ones finish.
//!
//! `axum::serve` sets no timer, so hyper's header timeout never runs there: a client that
//! sends half a request line kept its connection (and a file descriptor) for good, and a few
//! thousand of them starved the process of descriptors.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

use super::stall::StallGuard;

/// How long the loop waits before accepting again when the process is out of descriptors
/// (or another resource): the open connections' own deadlines are what frees them.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How often connections refused past the cap are logged (with their count).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// Descriptors kept for everything but client connections: SQLite's files for the writer,
/// the syncer and the readers, outbound sends and agent calls, the log, the runtime's own.
const RESERVED_DESCRIPTORS: u64 = 128;

/// What each connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a request's headers, counted from the connection's start or the end of
    /// its previous response (so it is also the keep-alive idle limit).
    pub header_timeout: Duration,
    /// Longest an answer may wait on a client that reads nothing of it; then the connection
    /// is closed.
    pub write_stall_timeout: Duration,
    /// Connections open at once; past it new ones are closed at once.
    pub max_connections: usize,
}

/// The connection cap this process can keep: raises the soft open-file limit as far as
/// `wanted` connections need (up to the hard limit) and, if that is still short, lowers the
/// cap to fit. A cap above the descriptors there are never refuses anyone: `accept` fails
/// instead, the kernel leaves new clients hanging in its backlog, and the store and outbound
/// sends can no longer open files or sockets either.
pub fn fit_to_open_file_limit(wanted: usize) -> usize {
    let needed = (wanted as u64).saturating_add(RESERVED_DESCRIPTORS);
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => wanted,
        Ok(limit) => {
            let fit = limit.saturating_sub(RESERVED_DESCRIPTORS).max(1) as usize;
            tracing::warn!(
                open_file_limit = limit,
                wanted,
                serving = fit,
                "the open-file limit (ulimit -n) is too low for max_connections; \
                 raise it to serve more connections at once"
            );
            fit
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            wanted
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// the open connections to finish their requests (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // Not `half_close`: it would keep hyper from seeing a client leave an MCP stream until
        // the next keep-alive write fails (15-30 s of a held session or listener slot), for
        // the rare client that closes its side after its request. That client gets no answer,
        // but what it sent is stored once: its retry is a duplicate.
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // HTTP/1.1 only. Telling HTTP/2 from HTTP/1 first waits for the client's opening bytes with
    // no deadline, so a client that connects and says nothing (or opens HTTP/2 and idles)
    // escaped the header timeout and held a connection slot for good. Senders and MCP clients
    // speak HTTP/1.1; HTTP/2 and TLS end at a reverse proxy in front.
    let builder = builder.http1_only();
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let (mut refused, mut last_warned) = (0u64, None);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_per_connection(&e) {
                        tracing::warn!(error = %e, "cannot accept a connection; retrying shortly");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            refused += 1;
            if last_warned.is_none_or(|at: Instant| at.elapsed() >= REFUSAL_LOG_EVERY) {
                // Once in a while, not per connection: a flood would flood the log too.
                tracing::warn!(%remote, refused, max = limits.max_connections, "too many open connections; closing new ones");
                last_warned = Some(Instant::now());
                refused = 0;
            }
            continue;
        };
        // The peer's address reaches handlers as axum's `ConnectInfo`.
        let service = make_service
            .call(remote)
            .await
            .unwrap_or_else(|never| match never {});
        answer_at_once(&stream);
        super::stall::report_progress_early(&stream);
        let connection = builder
            .serve_connection(
                TokioIo::new(StallGuard::new(stream, limits.write_stall_timeout)),
                TowerToHyperService::new(service),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Sends each write as it is made (`TCP_NODELAY`). An MCP answer over server-sent events goes
/// as two writes (a priming event, then the message): with Nagle's algorithm the second waited
/// for the client's delayed acknowledgement, some 40 ms on every MCP request.
fn answer_at_once(stream: &tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
}

/// Errors that concern only the connection being accepted (it was reset before we took it),
/// not the listener: the next accept may go ahead at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn an_accepted_connection_sends_each_write_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(
            !accepted.nodelay().unwrap(),
            "the default, which this changes"
        );
        super::answer_at_once(&accepted);
        assert!(accepted.nodelay().unwrap());
    }
}
