//! MCP over stdin/stdout with the front check HTTP `/mcp` has ([`jsonrpc::check`]): a line
//! that is not one well-formed JSON-RPC message, or a common call with malformed params, is
//! answered here as HTTP answers it and never reaches rmcp (which drops an unparsable line
//! unanswered and reports malformed params as `-32601 Method not found`), and so is a
//! `subscriptions/listen` naming a resource that does not exist ([`listen_check`]). A line
//! too long to read is answered too (rmcp drops it unanswered, and its client waits forever),
//! and a last line without its `\n` is read as a line. A `\uD83D` escape with no pair (a
//! string cut inside an emoji) is read, and passed on, as U+FFFD, as HTTP `/mcp` reads it.
//!
//! rmcp speaks to one end of an in-memory pipe. One task reads stdin a line at a time and
//! passes on the lines the check accepts; the other is stdout's only writer: it copies rmcp's
//! output a whole line at a time and writes the refusals between those lines, so the two
//! never mix inside one.

use std::cell::RefCell;

use rmcp::ServiceExt;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::sync::mpsc;

use super::{McpServer, listen_check};
use crate::app::AppState;
use crate::http::jsonrpc;

/// Bytes in flight between the two tasks and rmcp, each way.
const PIPE_BYTES: usize = 64 * 1024;

/// The longest line read. A longer one is skipped whole and answered with an error (rmcp,
/// whose limit this is, drops it unanswered).
const MAX_LINE: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;

/// How far into a line too long to read its `id` is looked for.
const ID_WITHIN: usize = 64 * 1024;

/// JSON-RPC's code for a server error of its own, as HTTP `/mcp` answers a body too large.
const TRANSPORT_ERROR: i64 = -32000;

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
        server.hub.clone(),
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
    // A client that ends its input before it starts a session (a launcher checking the
    // command runs) has asked for nothing: rmcp's "connection closed" is no failure then.
    let asked_nothing = matches!(reader.await, Ok(Ended::BeforeAnyRequest));
    if served.is_err() && asked_nothing {
        return Ok(());
    }
    served?;
    written??;
    Ok(())
}

/// How the input ended.
enum Ended {
    /// Before the session began.
    BeforeAnyRequest,
    After,
}

/// Reads `input` a line at a time: the lines the check accepts go on to rmcp, the others'
/// refusals to the writer. A notification before the session begins is dropped: rmcp ends the
/// whole session on one (HTTP `/mcp` takes it with a 202). At the end of input, open
/// `subscriptions/listen` streams are ended with their final result and rmcp is told the
/// input ended (else it waits 5 s on those streams before it stops).
async fn pass_checked_lines(
    state: AppState,
    hub: std::sync::Arc<super::hub::Hub>,
    input: impl AsyncRead + Unpin,
    mut to_rmcp: impl AsyncWrite + Unpin,
    refuse: mpsc::Sender<Vec<u8>>,
) -> Ended {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    let mut started = false;
    loop {
        match read_line(&mut input, &mut line).await {
            Ok(Line::Whole) => {}
            Ok(Line::TooLong) => {
                tracing::warn!(
                    max_bytes = MAX_LINE,
                    "an MCP message on stdin was too long; answered with an error"
                );
                let answer = json!({"jsonrpc": "2.0", "id": id_at_start(&line), "error": {
                    "code": TRANSPORT_ERROR,
                    "message": format!("the message is longer than the {MAX_LINE} bytes a line \
                                        may hold; it was not read"),
                }});
                let mut answer = answer.to_string().into_bytes();
                answer.push(b'\n');
                if refuse.send(answer).await.is_err() {
                    break;
                }
                continue;
            }
            Ok(Line::End) => break,
            Err(e) => {
                tracing::error!(error = %e, "reading stdin");
                break;
            }
        }
        // An unpaired surrogate escape is read as U+FFFD, as HTTP `/mcp` reads it, and passed
        // on to rmcp so.
        let message = crate::lone_surrogates::mended(message_of(&line));
        let message = &*message;
        if message.is_empty() {
            continue;
        }
        let refused = match jsonrpc::check(message) {
            Err(refusal) => Some(refusal),
            Ok(parsed) => {
                let method = parsed.value.get("method").and_then(Value::as_str);
                let request = method.is_some() && parsed.value.get("id").is_some();
                if !started && method.is_some() && !request {
                    tracing::debug!(method, "a notification before the session began; dropped");
                    continue;
                }
                // rmcp's session begins with `initialize`, or with a request of a protocol that
                // needs none (2026-07-28), which names its version in `_meta`; `server/discover`
                // and `ping` leave it waiting.
                let versioned = parsed
                    .value
                    .pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
                    .is_some();
                started |= method == Some("initialize")
                    || (request && versioned && method != Some("server/discover"));
                listen_check::refusal(&state, &parsed.value, None).await
            }
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
    hub.end_listeners(LISTENERS_CLOSE_LIMIT).await;
    let _ = to_rmcp.shutdown().await;
    if started {
        Ended::After
    } else {
        Ended::BeforeAnyRequest
    }
}

/// How long the end of input waits for `subscriptions/listen` streams to end with their final
/// result, as `serve`'s shutdown does.
const LISTENERS_CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

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
    /// A line and its `\n`, or the last line without one: a client that writes its last
    /// message and closes stdin is answered too (and one that stopped mid-message is told it
    /// is not JSON).
    Whole,
    /// A line longer than [`MAX_LINE`], skipped; its first [`MAX_LINE`] bytes are kept.
    TooLong,
    /// The end of input.
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
    if line.is_empty() {
        return Ok(Line::End);
    }
    if line.len() < MAX_LINE {
        return Ok(Line::Whole);
    }
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::TooLong);
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

/// The `id` of a message too long to read, when it comes early (clients write `jsonrpc`,
/// `id` and `method` before `params`): only the message's own keys within the first
/// [`ID_WITHIN`] bytes are read, never the rest. `null` when it is not found there, as
/// JSON-RPC answers a request whose id cannot be read.
fn id_at_start(line: &[u8]) -> Value {
    let start = &line[..line.len().min(ID_WITHIN)];
    let start = start.strip_prefix(BOM).unwrap_or(start);
    let found = RefCell::new(None);
    // Stops with an error once the id is read, or where the text is cut.
    let _ = IdOnly(&found).deserialize(&mut serde_json::Deserializer::from_slice(start));
    found
        .into_inner()
        .filter(|id: &Value| id.is_string() || id.is_i64())
        .unwrap_or(Value::Null)
}

/// Reads a message object's keys up to `id`, and keeps its value.
struct IdOnly<'a>(&'a RefCell<Option<Value>>);

impl<'de> DeserializeSeed<'de> for IdOnly<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        reader.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdOnly<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON-RPC message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "id" {
                *self.0.borrow_mut() = Some(map.next_value()?);
                return Err(de::Error::custom("id found"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_of_a_line_too_long_is_read_from_its_start_only() {
        let long = "x".repeat(ID_WITHIN);
        for (line, id) in [
            (
                format!(r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"a":"{long}"#),
                json!(7),
            ),
            (
                format!(r#"{{"id":"r-1","params":{{"nested":{{"id":3}}}},"p":"{long}"#),
                json!("r-1"),
            ),
            (
                format!(r#"{{"jsonrpc":"2.0","params":{{"id":3,"a":"{long}"}},"id":9}}"#),
                Value::Null,
            ),
            (
                format!(r#"{{"jsonrpc":"2.0","id":{{"x":1}},"a":"{long}"#),
                Value::Null,
            ),
            (format!("[{long}"), Value::Null),
            (format!("\u{feff}{{\"id\":2,\"a\":\"{long}"), json!(2)),
        ] {
            assert_eq!(id_at_start(line.as_bytes()), id, "{}", &line[..40]);
        }
    }
}
