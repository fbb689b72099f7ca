//! A client connection's stream (accept loop → here → hyper) with a deadline on stalled
//! writes: a client that stops reading its answers is cut off once an answer has waited that
//! long to be written.
//!
//! hyper's header timeout counts only while it waits to read. A client that pipelines
//! requests and never reads the answers fills the socket's buffers; hyper then waits to write,
//! stops reading, and neither timeout runs: the connection (and its slot under the connection
//! cap) was held for good, at no more cost to the client than a few MB of requests.
//!
//! A write waiting is not by itself a client reading nothing: Linux reports a socket
//! writable only once much of a send buffer of up to MBs has drained, which a client reading
//! slowly but steadily may not do within the limit. So each connection's socket reports
//! progress as soon as little is left unsent (`TCP_NOTSENT_LOWAT`), and a write waits the
//! whole limit only when the client has taken next to nothing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// What may be left unsent for the socket to take more: small, so that a client that reads at
/// all lets writes go on well within the limit.
#[cfg(any(target_os = "linux", target_os = "android"))]
const UNSENT_LOW_WATER: u32 = 16 * 1024;

/// Has the socket report itself writable once its unsent bytes fall under
/// [`UNSENT_LOW_WATER`]. Best effort: where it cannot be set, the guard still frees the
/// connections of clients that read nothing, and may cut a very slow reader too.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn report_progress_early(stream: &tokio::net::TcpStream) {
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(UNSENT_LOW_WATER) {
        tracing::debug!(error = %e, "cannot set TCP_NOTSENT_LOWAT");
    }
}

/// Elsewhere the option is not there (socket2 offers it on Linux only).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn report_progress_early(_stream: &tokio::net::TcpStream) {}

pub struct StallGuard<S> {
    inner: S,
    limit: Duration,
    /// Running while a write waits on the client; cleared by any progress.
    stalled_since: Option<Pin<Box<Sleep>>>,
}

impl<S> StallGuard<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled_since: None,
        }
    }

    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled_since = None;
            return polled;
        }
        let limit = self.limit;
        let deadline = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client has read nothing of its answer for the request timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}
