//! Refuses a request whose declared `Content-Length` is over its route's body limit before
//! the handler runs. A client that asked `Expect: 100-continue` is told 413 before any of the
//! body is read (reading it is what makes hyper invite the upload); one that sends its body
//! anyway has it read through and dropped first, so that it reads the 413. Bodies without a
//! length (chunked) are still cut off by the extractors' own limit as they arrive.

use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The REST API's bodies are small JSON documents: axum's own default limit, applied as
/// the API key check reads the body for the audit log.
pub const API_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Middleware: 413 when the declared length is over `max` bytes. The body is read through
/// first, as an `/api` one is, unless the sender asked to be told before
/// it sends (`Expect: 100-continue`) or the body is too long to be worth it: a sender that
/// writes its whole body before it reads (Node's `http`, Python's `urllib`) otherwise meets
/// a closed connection and logs a broken pipe, not the 413.
pub async fn refuse_declared_oversize(
    State(max): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    match declared_length(&request) {
        // The request's own timeout, outside, bounds a slow body.
        Some(length) if length > max as u64 => {
            super::buffer::read_through(request, max, READ_THROUGH_WITHIN)
                .await
                .into_response()
        }
        _ => next.run(request).await,
    }
}

/// A bound of its own on reading an oversized body through; the request timeout is shorter.
const READ_THROUGH_WITHIN: std::time::Duration = std::time::Duration::from_secs(300);

/// The body's declared length, as hyper read it from `Content-Length` (which also takes a
/// list of equal values, `N, N`, that a plain parse of the header would miss).
pub fn declared_length(request: &Request) -> Option<u64> {
    request.body().size_hint().exact()
}

/// The answer to a body over `max` bytes, whether declared or found while reading.
pub fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("body is larger than the {max} bytes allowed"),
    )
}
