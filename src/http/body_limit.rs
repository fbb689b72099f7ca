//! Refuses a request whose declared `Content-Length` is over its route's body limit before
//! any of the body is read. Reading the body is what makes hyper answer a client's
//! `Expect: 100-continue`; refusing first tells that client 413 at once instead of inviting
//! it to upload megabytes only to be refused. Bodies without a length (chunked) are still
//! cut off by the extractors' own limit as they arrive.

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
/// first, as [`super::buffer`] reads an `/api` one, unless the sender asked to be told before
/// it sends (`Expect: 100-continue`) or the body is too long to be worth it: a sender that
/// writes its whole body before it reads (Node's `http`, Python's `urllib`) otherwise meets
/// a closed connection and logs a broken pipe, not the 413.
pub async fn refuse_declared_oversize(
    State(max): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    match declared_length(&request) {
        Some(length) if length > max as u64 => {
            // The request's own timeout, outside, bounds a slow body.
            match super::buffer::buffer(request, max, READ_THROUGH_WITHIN).await {
                Err(refused) => refused.into_response(),
                // Not reached: more than `max` was declared, so more must arrive.
                Ok(_) => too_large(max).into_response(),
            }
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
