//! Reads a `/api` or `/mcp` body whole (for the key layer or the MCP gate to check and audit
//! it), under a size limit and a deadline, and answers a body over the limit so the client
//! reads the 413.
//!
//! A client that sends a whole body before it reads the answer (httpx, and with it the Python
//! MCP SDK) loses an answer sent mid-upload: the server closes a connection with unread bytes
//! in it, the client's next write or read fails with a reset, and an MCP session dies of it.
//! So the rest of an oversized body is read and dropped first, up to [`DISCARDED_TIMES`] the
//! limit; past that the connection is closed mid-upload. A client that asked
//! `Expect: 100-continue` is refused before any of the body is read, as it asked to be.

use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::EXPECT;

use super::body_limit::{declared_length, too_large};
use super::error::ApiError;

/// How many times its limit an oversized body is read through before it is refused. On `/api`
/// and `/mcp` only clients holding an API key get this far; a webhook sender gets it too, with
/// none of the body kept ([`read_through`]).
const DISCARDED_TIMES: u64 = 4;

/// Reads the whole body (at most `max` bytes, within `timeout`) and rebuilds the request with
/// the same bytes.
pub async fn buffer(
    request: Request,
    max: usize,
    timeout: Duration,
) -> Result<(Request, Bytes), ApiError> {
    let max = max as u64;
    let declared = declared_length(&request);
    if declared.is_some_and(|n| n > max) && (asks_first(&request) || !worth_reading(declared, max))
    {
        return Err(too_large(max as usize));
    }
    let (parts, body) = request.into_parts();
    let kept = read(body, max, timeout, true, &mut |_| Ok(())).await?;
    let bytes = Bytes::from(kept);
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes))
}

/// The refusal of a body declared over `max`, once it is read through and dropped (none of it
/// kept), so that a sender that writes its whole body before it reads gets the 413.
pub async fn read_through(request: Request, max: usize, timeout: Duration) -> ApiError {
    drain(request, max, timeout)
        .await
        .err()
        .unwrap_or_else(|| too_large(max))
}

/// Reads a body refused whatever it holds (a compressed one) and drops it, up to
/// [`DISCARDED_TIMES`] `max`, so a client that sends it whole before it reads reads the refusal.
pub async fn discard(request: Request, max: usize, timeout: Duration) {
    // Over the limit or late, the refusal is the same: it is the encoding that is refused.
    let _ = drain(request, max, timeout).await;
}

/// Reads a refused request's body to its end and drops it, unless the client waits to be
/// invited or declared more than is read through: then none of it.
async fn drain(request: Request, max: usize, timeout: Duration) -> Result<(), ApiError> {
    if asks_first(&request) || !worth_reading(declared_length(&request), max as u64) {
        return Ok(());
    }
    read(request.into_body(), max as u64, timeout, false, &mut |_| {
        Ok(())
    })
    .await
    .map(drop)
}

/// Reads a body whole (at most `max` bytes, within `timeout`), each piece handed to `hold`
/// (which may refuse it) before it is kept.
pub async fn read_held(
    body: Body,
    max: usize,
    timeout: Duration,
    hold: &mut (dyn FnMut(usize) -> Result<(), ApiError> + Send),
) -> Result<Bytes, ApiError> {
    read(body, max as u64, timeout, true, hold)
        .await
        .map(Bytes::from)
}

/// Reads a body to its end and drops it (read through up to [`DISCARDED_TIMES`] `max`), so a
/// client that sends it whole before it reads reads the answer it is refused with.
pub async fn drop_body(body: Body, max: usize, timeout: Duration) {
    let _ = read(body, max as u64, timeout, false, &mut |_| Ok(())).await;
}

/// Reads `body` to its end, within `timeout`, keeping at most `max` bytes of it when `keep`
/// (each piece handed to `hold` first); 413 once more than `max` has come (read through first,
/// up to [`DISCARDED_TIMES`] it).
async fn read(
    mut body: Body,
    max: u64,
    timeout: Duration,
    keep: bool,
    hold: &mut (dyn FnMut(usize) -> Result<(), ApiError> + Send),
) -> Result<Vec<u8>, ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut kept = Vec::new();
    let mut seen = 0u64;
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        let frame = match tokio::time::timeout_at(deadline, next).await {
            // Once it is over the limit, the answer is 413 however the rest of it goes.
            Err(_) if seen > max => return Err(too_large(max as usize)),
            Err(_) => return Err(body_timeout(timeout)),
            Ok(None) => break,
            Ok(Some(Err(_))) if seen > max => return Err(too_large(max as usize)),
            Ok(Some(Err(e))) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    format!("could not read the body: {e}"),
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen <= max {
            if keep {
                hold(data.len())?;
                kept.extend_from_slice(&data);
            }
        } else if !worth_reading(Some(seen), max) {
            return Err(too_large(max as usize));
        }
    }
    if seen > max {
        return Err(too_large(max as usize));
    }
    Ok(kept)
}

/// Whether a body of this many bytes (so far, or declared) is still read through to answer it.
fn worth_reading(length: Option<u64>, max: u64) -> bool {
    length.is_none_or(|n| n <= max.saturating_mul(DISCARDED_TIMES))
}

/// Whether the client waits to be invited before it sends its body.
fn asks_first(request: &Request) -> bool {
    expects_continue(request.headers())
}

/// Whether a request's client waits to be invited (`Expect: 100-continue`) before it sends
/// its body: one refused whatever its body is then answered without being invited.
pub fn expects_continue(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

fn body_timeout(timeout: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        format!("the body did not arrive within {} s", timeout.as_secs()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_body_is_read_through_up_to_four_times_the_limit() {
        for (length, read) in [
            (None, true),
            (Some(10), true),
            (Some(40), true),
            (Some(41), false),
            (Some(u64::MAX), false),
        ] {
            assert_eq!(worth_reading(length, 10), read, "{length:?}");
        }
    }

    #[test]
    fn only_a_client_that_sends_expect_100_continue_asks_first() {
        for (expect, asks) in [
            (None, false),
            (Some("100-continue"), true),
            (Some(" 100-Continue "), true),
            (Some("something-else"), false),
        ] {
            let mut request = Request::new(Body::empty());
            if let Some(value) = expect {
                request
                    .headers_mut()
                    .insert(EXPECT, value.parse().expect("a header value"));
            }
            assert_eq!(asks_first(&request), asks, "{expect:?}");
        }
    }
}
