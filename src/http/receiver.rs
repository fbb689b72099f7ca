//! `POST /webhooks/{provider}/{webhook_id}`: the receiver. Takes the body (size-limited),
//! hands it to ingest, and answers only after the event is durable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{body_limit, buffer};
use crate::app::AppState;
use crate::providers::Handshake;
use crate::service::ingest::{self, Addressed, Inbound, Outcome};
use crate::service::limits::Held;

pub fn router(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/webhooks/{provider}/{webhook_id}", post(receive_webhook))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(
            max_body_bytes,
            body_limit::refuse_declared_oversize,
        ))
}

/// The charset a request's `Content-Type` names, when it is not UTF-8 (or its ASCII subset):
/// a body that then fails to parse is told why.
fn other_charset(headers: &HeaderMap) -> Option<String> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let charset = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))?
        .1
        .trim()
        .trim_matches('"');
    let utf8 = ["utf-8", "utf8", "us-ascii", "ascii"]
        .iter()
        .any(|c| charset.eq_ignore_ascii_case(c));
    (!utf8).then(|| crate::quote::quoted(charset).to_string())
}

async fn receive_webhook(
    State(state): State<AppState>,
    Path((provider, webhook_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let addressed = (provider, webhook_id);
    let (delivery, mut response) =
        match receive(state, addressed, query, remote, headers, body).await {
            Ok(answered) => answered,
            Err(refused) => (Delivery::of_error(&refused), refused.into_response()),
        };
    // For [`count`], which counts every answer of the receiver, these and the ones given
    // before or around this handler (a declared body over the limit, a request past its time).
    response.extensions_mut().insert(delivery);
    response
}

async fn receive(
    state: AppState,
    (provider, webhook_id): (String, String),
    query: Option<String>,
    remote: SocketAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<(Delivery, Response), ApiError> {
    let (max, timeout) = (
        state.config.max_body_bytes,
        Duration::from_secs(state.config.request_timeout_secs),
    );
    // Answered before any of the body is kept, each read through (none of it kept) so that a
    // sender that writes its whole body before it reads reads the answer.
    if let Some(refused) = encoded(&headers) {
        buffer::drop_body(body, max, timeout).await;
        return Ok((Delivery::UnsupportedEncoding, refused.into_response()));
    }
    let client = state.limits.client(remote.ip(), &headers);
    // A body sent to no webhook, or to one that refuses it whatever it holds (disabled, or
    // from outside its allowlist), is not kept while it comes and takes no slot: slow ones on
    // many connections would fill the memory, or the slots, for anyone who can reach the port.
    let refused = match ingest::addressed(&state, &provider, &webhook_id, client).await? {
        Addressed::Nowhere => Some(Outcome::UnknownWebhook),
        Addressed::Refused(outcome) => Some(outcome),
        Addressed::Open => None,
    };
    if let Some(outcome) = refused {
        // A sender that waits to be invited to send its body is not invited.
        if !buffer::expects_continue(&headers) {
            buffer::drop_body(body, max, timeout).await;
        }
        return Ok(match state.limits.check_refused(Some(client.ip)) {
            Ok(()) => (Delivery::of(&outcome), answer(outcome, false, false, None)),
            Err(wait) => (Delivery::RateLimited, rate_limited(wait)),
        });
    }
    // Bounded work in flight: past it, senders are told to come back (they retry) rather
    // than every request queueing for the writer with its body in memory; and a client's
    // share of it, so that one sender's slow bodies do not refuse every other's. So are
    // bodies held in memory, by bytes: many large ones arriving at once wait their turn.
    let Some(_slot) = state.limits.admit(client.ip) else {
        buffer::drop_body(body, max, timeout).await;
        return Ok((Delivery::Busy, too_busy()));
    };
    let mut held: Vec<Held> = Vec::new();
    let mut hold = |bytes: usize| {
        held.push(state.limits.hold(client.ip, bytes).ok_or_else(busy)?);
        Ok(())
    };
    let body = buffer::read_held(body, max, timeout, &mut hold).await?;
    let provider_is_slack = provider.eq_ignore_ascii_case("slack");
    // Slash commands and interactivity come as forms; the Events API sends JSON.
    let slack_form = provider_is_slack && is_form(&headers);
    let charset = other_charset(&headers);
    let inbound = Inbound {
        provider,
        webhook_id,
        headers,
        body,
        query,
        client: Some(client),
        dry_run: false,
    };
    let outcome = ingest::ingest(&state, inbound).await?;
    let delivery = Delivery::of(&outcome);
    Ok((
        delivery,
        answer(outcome, provider_is_slack, slack_form, charset.as_deref()),
    ))
}

/// What became of a request to the receiver, as `/metrics` counts it
/// (`webhook_mcp_deliveries_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Verified and stored (200 `accepted`).
    Accepted,
    /// Verified, and its delivery id already stored (200 `duplicate`).
    Duplicate,
    /// A Slack `url_verification` or `ssl_check` answered; nothing stored.
    Handshake,
    /// Failed verification (401): stored as a rejected event, while the webhook keeps it.
    Unauthorized,
    /// Verified but not a body the provider sends (400 `invalid_payload`), or a request that
    /// could not be read as a delivery (a body cut off, a method other than POST).
    Invalid,
    /// No webhook of that provider at that id (404 `webhook_not_found`).
    NotFound,
    /// The webhook is disabled (404 `webhook_disabled`).
    Disabled,
    /// From outside the webhook's allowlist (403).
    Forbidden,
    /// A body over `WEBHOOK_MCP_MAX_BODY_BYTES` (413).
    TooLarge,
    /// A compressed body (415).
    UnsupportedEncoding,
    /// Over a rate limit (429).
    RateLimited,
    /// At the in-flight or body-memory bound (503 `busy`).
    Busy,
    /// The webhook was replaced while the delivery was checked (503 `webhook_changed`).
    Replaced,
    /// The request took longer than `WEBHOOK_MCP_REQUEST_TIMEOUT_SECS` (408).
    Timeout,
    /// The server could not take it: storage trouble, a stop under way, a fault (5xx).
    Error,
}

impl Delivery {
    /// Every outcome, in the order `/metrics` lists them.
    pub const ALL: [Delivery; 15] = [
        Delivery::Accepted,
        Delivery::Duplicate,
        Delivery::Handshake,
        Delivery::Unauthorized,
        Delivery::Invalid,
        Delivery::NotFound,
        Delivery::Disabled,
        Delivery::Forbidden,
        Delivery::TooLarge,
        Delivery::UnsupportedEncoding,
        Delivery::RateLimited,
        Delivery::Busy,
        Delivery::Replaced,
        Delivery::Timeout,
        Delivery::Error,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Delivery::Accepted => "accepted",
            Delivery::Duplicate => "duplicate",
            Delivery::Handshake => "handshake",
            Delivery::Unauthorized => "unauthorized",
            Delivery::Invalid => "invalid",
            Delivery::NotFound => "not_found",
            Delivery::Disabled => "disabled",
            Delivery::Forbidden => "forbidden",
            Delivery::TooLarge => "too_large",
            Delivery::UnsupportedEncoding => "unsupported_encoding",
            Delivery::RateLimited => "rate_limited",
            Delivery::Busy => "busy",
            Delivery::Replaced => "replaced",
            Delivery::Timeout => "timeout",
            Delivery::Error => "error",
        }
    }

    fn of(outcome: &Outcome) -> Delivery {
        match outcome {
            Outcome::Accepted {
                duplicate: false, ..
            } => Delivery::Accepted,
            Outcome::Accepted {
                duplicate: true, ..
            } => Delivery::Duplicate,
            // Answered 400 (see `answer`).
            Outcome::Handshake(Handshake::SlackChallenge { challenge }) if challenge.is_empty() => {
                Delivery::Invalid
            }
            Outcome::Handshake(_) => Delivery::Handshake,
            Outcome::Rejected { .. } => Delivery::Unauthorized,
            Outcome::BadPayload { .. } => Delivery::Invalid,
            Outcome::UnknownWebhook => Delivery::NotFound,
            Outcome::Replaced => Delivery::Replaced,
            Outcome::Forbidden => Delivery::Forbidden,
            Outcome::RateLimited(_) => Delivery::RateLimited,
            Outcome::Disabled => Delivery::Disabled,
        }
    }

    fn of_error(refused: &ApiError) -> Delivery {
        match refused.code {
            "busy" => Delivery::Busy,
            _ => Delivery::of_status(refused.status),
        }
    }

    /// An answer given without a word of which it is: by its status.
    fn of_status(status: StatusCode) -> Delivery {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Delivery::TooLarge,
            StatusCode::REQUEST_TIMEOUT => Delivery::Timeout,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Delivery::UnsupportedEncoding,
            StatusCode::TOO_MANY_REQUESTS => Delivery::RateLimited,
            s if s.is_server_error() => Delivery::Error,
            _ => Delivery::Invalid,
        }
    }
}

/// How many requests the receiver answered with each outcome since this process started.
#[derive(Debug, Default)]
pub struct Deliveries([AtomicU64; Delivery::ALL.len()]);

impl Deliveries {
    fn count(&self, delivery: Delivery) {
        self.0[delivery as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Each outcome with its count, every one listed.
    pub fn counts(&self) -> impl Iterator<Item = (Delivery, u64)> + '_ {
        Delivery::ALL
            .into_iter()
            .map(|d| (d, self.0[d as usize].load(Ordering::Relaxed)))
    }
}

/// Middleware around the receiver, outside its time limit: counts each answer by the outcome
/// the handler gave it, or, for one given before or around the handler, by its status.
pub async fn count(
    State(deliveries): State<Arc<Deliveries>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let delivery = match response.extensions().get::<Delivery>() {
        Some(delivery) => *delivery,
        None => Delivery::of_status(response.status()),
    };
    deliveries.count(delivery);
    response
}

/// The answer to a delivery, by what became of it.
fn answer(
    outcome: Outcome,
    provider_is_slack: bool,
    slack_form: bool,
    charset: Option<&str>,
) -> Response {
    match outcome {
        Outcome::Accepted {
            event_id,
            duplicate,
            inline,
        } => {
            let status = if duplicate { "duplicate" } else { "accepted" };
            let receipt = json!({"event_id": event_id, "status": status});
            match inline {
                // Slack shows the response body to the user: it must be Slack's shape only.
                Some(body) if provider_is_slack => Json(body).into_response(),
                // Slack posts a slash command's non-empty answer to its channel and shows an
                // error in a modal answered with anything but its own shape: an empty 200 is
                // the plain acknowledgement. The receipt goes in headers instead.
                None if slack_form => (
                    [
                        (EVENT_ID_HEADER, event_id.to_string()),
                        (STATUS_HEADER, status.to_string()),
                    ],
                    StatusCode::OK,
                )
                    .into_response(),
                Some(Value::Object(mut body)) => {
                    body.insert("event_id".into(), receipt["event_id"].clone());
                    body.insert("status".into(), receipt["status"].clone());
                    Json(Value::Object(body)).into_response()
                }
                _ => Json(receipt).into_response(),
            }
        }
        // Slack always sends one; an empty answer would only tell the sender it verified.
        Outcome::Handshake(Handshake::SlackChallenge { challenge }) if challenge.is_empty() => {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                "a Slack url_verification carries the `challenge` to answer with; this one has \
                 none (or not as text)",
            )
            .into_response()
        }
        Outcome::Handshake(Handshake::SlackChallenge { challenge }) => {
            Json(json!({ "challenge": challenge })).into_response()
        }
        Outcome::Handshake(Handshake::SlackSslCheck) => StatusCode::OK.into_response(),
        Outcome::Rejected { reason, .. } => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            reason.to_string(),
        )
        .into_response(),
        Outcome::BadPayload {
            event_id,
            message,
            repeat,
        } => {
            let message = match charset {
                Some(charset) => format!(
                    "{message} (the body is said to be {charset}: only UTF-8 JSON or forms are \
                     read)"
                ),
                None => message,
            };
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                if repeat {
                    format!(
                        "{message} (this delivery id is already stored as event {event_id}; \
                         not stored again)"
                    )
                } else {
                    format!("{message} (logged as event {event_id})")
                },
            )
            .into_response()
        }
        Outcome::UnknownWebhook => ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_not_found",
            "no webhook at this URL; check the provider and id in the URL",
        )
        .into_response(),
        // Refused before it was kept, so the sender's retry is the delivery: the new webhook
        // at the id checks it then.
        Outcome::Replaced => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook_changed",
            "the webhook at this URL was deleted and made anew while this delivery was being \
             received; nothing was stored: send it again",
        )
        .with_retry_after(1)
        .into_response(),
        Outcome::Forbidden => ApiError::new(
            StatusCode::FORBIDDEN,
            "address_not_allowed",
            "this webhook does not accept requests from your address",
        )
        .into_response(),
        Outcome::RateLimited(wait) => rate_limited(wait),
        Outcome::Disabled => ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_disabled",
            "this webhook is disabled",
        )
        .into_response(),
    }
}

/// The receipt of a delivery answered with an empty body (a Slack form): the event's id, and
/// `accepted` or `duplicate`.
const EVENT_ID_HEADER: &str = "x-webhook-event-id";
const STATUS_HEADER: &str = "x-webhook-status";

/// The content codings that compress (RFC 9110 and IANA's registry). Any other value is no
/// compression: some senders write a charset there (`Content-Encoding: UTF-8`), over a body
/// that is plain JSON.
const COMPRESSIONS: [&str; 7] = [
    "gzip",
    "x-gzip",
    "deflate",
    "br",
    "zstd",
    "compress",
    "x-compress",
];

/// A refusal of a body sent compressed: a webhook is kept and verified as sent, and senders
/// sign what they send, so a compressed one would be stored unreadable and fail as "not JSON"
/// (none of the senders this receives from compresses); an `/api` or `/mcp` body would be
/// refused as "not JSON" too, naming nothing of why.
/// A transfer coding (`Transfer-Encoding: gzip, chunked`) compresses it as well: hyper takes
/// `chunked` off and passes the rest through.
pub(super) fn encoded(headers: &HeaderMap) -> Option<ApiError> {
    let codings = |name| {
        headers
            .get_all(name)
            .iter()
            .flat_map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(',')
                    .map(|e| e.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let (header, first) = [
        (axum::http::header::CONTENT_ENCODING, "Content-Encoding"),
        (axum::http::header::TRANSFER_ENCODING, "Transfer-Encoding"),
    ]
    .into_iter()
    .find_map(|(name, shown)| {
        codings(name)
            .into_iter()
            .find(|e| COMPRESSIONS.contains(&e.as_str()))
            .map(|e| (shown, e))
    })?;
    Some(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_encoding",
        format!(
            "the body is sent with `{header}: {}`; bodies are taken uncompressed: send the \
             body as is",
            crate::quote::quoted(&first)
        ),
    ))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

fn rate_limited(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests; retry in {secs} s"),
    )
    .with_retry_after(secs)
    .into_response()
}

fn too_busy() -> Response {
    busy().into_response()
}

fn busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the receiver is at capacity; retry shortly",
    )
    .with_retry_after(1)
}
