//! MCP over stdin/stdout with the front check HTTP `/mcp` has ([`jsonrpc::check`]): a line
//! that is not one well-formed JSON-RPC message, or a common call with malformed params, is
//! answered here as HTTP answers it and never reaches rmcp (which drops an unparsable line
//! unanswered and reports malformed params as `-32601 Method not found`), and so is a
//! `subscriptions/listen` naming a resource that does not exist ([`listen_check`]).
//!
//! rmcp speaks to one end of an in-memory pipe. One task reads stdin a line at a time and
//! passes on the lines the check accepts; the other is stdout's only writer: it copies rmcp's
//! output a whole line at a time and writes the refusals between those lines, so the two
//! never mix inside one.

use rmcp::ServiceExt;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::sync::mpsc;

use super::{McpServer, listen_check};
use crate::app::AppState;
use crate::http::jsonrpc;

/// Bytes in flight between the two tasks and rmcp, each way.
const PIPE_BYTES: usize = 64 * 1024;

/// The longest line read. A longer one is dropped whole, as rmcp drops it (its limit).
const MAX_LINE: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;

/// Refusals waiting for stdout; a client that sends faster than it reads waits for them.
const QUEUED_REFUSALS: usize = 64;

/// UTF-8 byte order mark, which rmcp skips at the start of a message (RFC 8259 §8.1).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Serves `server` on `input` and `output` until the input ends (or rmcp stops).
pub async fn serve(
    server: McpServer,
    input: impl AsyncRead + Unpin + Send + 'static,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> anyhow::Result<()> {
    let (rmcp_end, our_end) = tokio::io::duplex(PIPE_BYTES);
    let (from_rmcp, to_rmcp) = tokio::io::split(our_end);
    let (refuse, refusals) = mpsc::channel(QUEUED_REFUSALS);
    let reader = tokio::spawn(pass_checked_lines(
        server.state.clone(),
        input,
        to_rmcp,
        refuse,
    ));
    let writer = tokio::spawn(write_lines(from_rmcp, refusals, output));
    let served = async {
        let running = server.serve(rmcp_end).await?;
        running.waiting().await?;
        anyhow::Ok(())
    }
    .await;
    // rmcp has let go of its end, so the writer reaches the end of rmcp's output and stops.
    let written = writer.await;
    // Still running only when rmcp stopped first; then it waits on stdin, and only for lines
    // that nobody would read.
    reader.abort();
    served?;
    written??;
    Ok(())
}

/// Reads `input` a line at a time: the lines the check accepts go on to rmcp, the others'
/// refusals to the writer. At the end of input, rmcp is told the input ended.
async fn pass_checked_lines(
    state: AppState,
    input: impl AsyncRead + Unpin,
    mut to_rmcp: impl AsyncWrite + Unpin,
    refuse: mpsc::Sender<Vec<u8>>,
) {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        match read_line(&mut input, &mut line).await {
            Ok(Line::Whole) => {}
            Ok(Line::TooLong) => {
                tracing::error!(
                    max_bytes = MAX_LINE,
                    "an MCP message on stdin was too long; dropped"
                );
                continue;
            }
            Ok(Line::End) => break,
            Err(e) => {
                tracing::error!(error = %e, "reading stdin");
                break;
            }
        }
        let message = message_of(&line);
        if message.is_empty() {
            continue;
        }
        let refused = match jsonrpc::check(message) {
            Err(refusal) => Some(refusal),
            Ok(parsed) => listen_check::refusal(&state, &parsed.value).await,
        };
        if let Some(refusal) = refused {
            let mut answer = refusal.message().to_string().into_bytes();
            answer.push(b'\n');
            if refuse.send(answer).await.is_err() {
                break;
            }
            continue;
        }
        let passed = async {
            to_rmcp.write_all(message).await?;
            to_rmcp.write_all(b"\n").await?;
            to_rmcp.flush().await
        };
        if passed.await.is_err() {
            // rmcp has stopped.
            break;
        }
    }
    let _ = to_rmcp.shutdown().await;
}

/// Writes rmcp's output and the refusals to `output`, each a whole line at a time, until rmcp
/// stops; then the refusals already queued.
async fn write_lines(
    from_rmcp: impl AsyncRead + Unpin,
    mut refusals: mpsc::Receiver<Vec<u8>>,
    mut output: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut from_rmcp = BufReader::new(from_rmcp);
    let mut line = Vec::new();
    loop {
        tokio::select! {
            // When a refusal wins the race, what was read of rmcp's line stays in `line`
            // (`read_until` appends), and the next round finishes the same line.
            read = from_rmcp.read_until(b'\n', &mut line) => {
                if read? == 0 {
                    break;
                }
                output.write_all(&line).await?;
                output.flush().await?;
                line.clear();
            }
            Some(refusal) = refusals.recv() => {
                output.write_all(&refusal).await?;
                output.flush().await?;
            }
        }
    }
    output.write_all(&line).await?;
    while let Ok(refusal) = refusals.try_recv() {
        output.write_all(&refusal).await?;
    }
    output.flush().await
}

/// What [`read_line`] found.
enum Line {
    /// A line and its `\n`.
    Whole,
    /// A line longer than [`MAX_LINE`], skipped.
    TooLong,
    /// The end of input. Bytes after the last `\n` are a message cut short, which rmcp would
    /// drop as well.
    End,
}

/// Reads the next line into `line` (cleared first) without holding more than [`MAX_LINE`]
/// bytes of it.
async fn read_line(
    input: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<Line> {
    line.clear();
    (&mut *input)
        .take(MAX_LINE as u64)
        .read_until(b'\n', line)
        .await?;
    if line.ends_with(b"\n") {
        return Ok(Line::Whole);
    }
    if line.len() < MAX_LINE {
        return Ok(Line::End);
    }
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::End);
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(at) => {
                input.consume(at + 1);
                return Ok(Line::TooLong);
            }
            None => {
                let skipped = available.len();
                input.consume(skipped);
            }
        }
    }
}

/// The message a line holds: without its line ending (`\n` or `\r\n`) and a leading BOM.
fn message_of(line: &[u8]) -> &[u8] {
    let message = line.strip_suffix(b"\n").unwrap_or(line);
    let message = message.strip_suffix(b"\r").unwrap_or(message);
    message.strip_prefix(BOM).unwrap_or(message)
}
