//! `POST /webhooks/{provider}/{webhook_id}`: the receiver. Takes the body (size-limited),
//! hands it to ingest, and answers only after the event is durable.

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::AppState;
use crate::providers::Handshake;
use crate::service::ingest::{self, Inbound, Outcome};

pub fn router(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/webhooks/{provider}/{webhook_id}", post(receive_webhook))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

async fn receive_webhook(
    State(state): State<AppState>,
    Path((provider, webhook_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                format!(
                    "body is larger than the {} bytes allowed",
                    state.config.max_body_bytes
                ),
            )
        } else {
            ApiError::new(status, "unreadable_body", e.body_text())
        }
    })?;
    let provider_is_slack = provider.eq_ignore_ascii_case("slack");
    let inbound = Inbound {
        provider,
        webhook_id,
        headers,
        body,
        query,
        remote_addr: Some(remote),
    };
    let outcome = ingest::ingest(&state, inbound).await?;
    Ok(match outcome {
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
                Some(Value::Object(mut body)) => {
                    body.insert("event_id".into(), receipt["event_id"].clone());
                    body.insert("status".into(), receipt["status"].clone());
                    Json(Value::Object(body)).into_response()
                }
                _ => Json(receipt).into_response(),
            }
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
        Outcome::BadPayload { event_id, message } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            format!("{message} (logged as event {event_id})"),
        )
        .into_response(),
        Outcome::UnknownWebhook => ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_not_found",
            "no webhook at this URL; check the provider and id in the URL",
        )
        .into_response(),
        Outcome::Disabled => ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_disabled",
            "this webhook is disabled",
        )
        .into_response(),
    })
}
