//! Before rmcp on `/mcp`: reads a client's `Accept` as HTTP means it. rmcp takes a POST only
//! when `Accept` lists `application/json` and `text/event-stream` by name, and a GET only
//! when it names `text/event-stream`; a client that sends `*/*`, `text/*` or the event stream
//! alone (some proxies in front of hosted assistants do) was refused 406 though it accepts
//! what the server answers. Such a header is rewritten to the names rmcp looks for; one that
//! accepts no event stream is left for rmcp to refuse, as the server's answers are streams.

use axum::extract::Request;
use axum::http::header::ACCEPT;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// What a POST's `Accept` is rewritten to: the two names rmcp looks for.
const BOTH: &str = "application/json, text/event-stream";
const EVENT_STREAM: &str = "text/event-stream";

/// Middleware on `/mcp`.
pub async fn lenient_accept(mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(ACCEPT)
        .map(|v| v.to_str().unwrap_or_default());
    if let Some(accept) = rewritten(request.method(), given) {
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static(accept));
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::NOT_ACCEPTABLE {
        return response;
    }
    // rmcp's words ("must accept both") ask for more than is needed here, where an event
    // stream alone is taken: said as this server reads `Accept` (made JSON by `json_errors`).
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        axum::body::Body::from(
            "Not Acceptable: the answers on /mcp are event streams (text/event-stream); send \
             `Accept: application/json, text/event-stream`",
        ),
    )
}

/// The `Accept` to give rmcp in place of `given` (`None`: none was sent), or `None` to leave
/// it as it is.
fn rewritten(method: &Method, given: Option<&str>) -> Option<&'static str> {
    // No `Accept` at all accepts anything (RFC 9110).
    let ranges: Vec<String> = match given {
        Some(header) => header.split(',').filter_map(media_range).collect(),
        None => vec!["*/*".into()],
    };
    let has = |name: &str| ranges.iter().any(|r| r == name);
    let stream = has(EVENT_STREAM) || has("text/*") || has("*/*");
    let named_both = has("application/json") && has(EVENT_STREAM);
    match *method {
        Method::POST if stream && !named_both => Some(BOTH),
        Method::GET if stream && !has(EVENT_STREAM) => Some(EVENT_STREAM),
        _ => None,
    }
}

/// A media range of an `Accept` list, lower-cased and without its parameters; none for one
/// its client refuses (`q=0`).
fn media_range(item: &str) -> Option<String> {
    let mut parts = item.split(';').map(str::trim);
    let range = parts.next().filter(|r| !r.is_empty())?.to_ascii_lowercase();
    let refused = parts.any(|p| {
        p.split_once('=').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("q")
                && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        })
    });
    (!refused).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_that_take_an_event_stream_are_named_as_rmcp_reads_them() {
        let post = Method::POST;
        let get = Method::GET;
        let cases = [
            (&post, Some("application/json, text/event-stream"), None),
            (
                &post,
                Some("text/event-stream, application/json;q=0.9"),
                None,
            ),
            (&post, Some("*/*"), Some(BOTH)),
            (&post, None, Some(BOTH)),
            (&post, Some("application/*, text/*"), Some(BOTH)),
            (&post, Some("application/json, text/*"), Some(BOTH)),
            (&post, Some("text/event-stream"), Some(BOTH)),
            (&post, Some("Text/Event-Stream ; charset=utf-8"), Some(BOTH)),
            // No event stream accepted: left for rmcp to refuse.
            (&post, Some("application/json"), None),
            (&post, Some("application/json, text/event-stream;q=0"), None),
            (&post, Some("text/html"), None),
            (&get, Some("text/event-stream"), None),
            (&get, Some("*/*"), Some(EVENT_STREAM)),
            (&get, None, Some(EVENT_STREAM)),
            (&get, Some("application/json"), None),
            (&Method::DELETE, Some("*/*"), None),
        ];
        for (method, given, want) in cases {
            assert_eq!(rewritten(method, given), want, "{method} {given:?}");
        }
    }
}
