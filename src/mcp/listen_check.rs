//! `subscriptions/listen` refuses a resource that does not exist, as `resources/subscribe`
//! does. rmcp acknowledges a listen stream before it calls the handler's `listen`, and a
//! client takes that acknowledgment as "watched"; rmcp's HTTP service has no place for an
//! awaited check before it. So this runs after [`jsonrpc::check`], on the message it read, in
//! both front checks: the `/mcp` gate, and stdio's line reader.

use axum::http::StatusCode;
use rmcp::model::ErrorCode;
use serde_json::Value;

use super::resources;
use crate::app::AppState;
use crate::http::jsonrpc::{self, Refusal};

/// The protocol `subscriptions/listen` belongs to; only its requests carry their version.
const LISTEN_SINCE: &str = "2026-07-28";

/// `None` unless `message` (as [`jsonrpc::check`] read it) is a listen request naming a
/// resource that cannot be read.
pub async fn refusal(state: &AppState, message: &Value) -> Option<Refusal> {
    if message.get("method")?.as_str()? != "subscriptions/listen" {
        return None;
    }
    let params = message.get("params")?;
    // An older client's listen is rmcp's to answer ("method not found"). ISO dates compare
    // as text in date order.
    let version = params
        .pointer("/_meta/io.modelcontextprotocol~1protocolVersion")?
        .as_str()?;
    if version < LISTEN_SINCE {
        return None;
    }
    let uris = params
        .pointer("/notifications/resourceSubscriptions")?
        .as_array()?;
    for uri in uris.iter().filter_map(Value::as_str) {
        if let Err(e) = resources::read(state, uri).await {
            // From 2026-07-28 a missing resource is `-32602 Invalid params` (rmcp answers a
            // `resources/read` of one so too).
            let code = match e.code {
                ErrorCode::RESOURCE_NOT_FOUND => jsonrpc::INVALID_PARAMS,
                other => other.0.into(),
            };
            return Some(Refusal {
                status: StatusCode::OK,
                id: message.get("id")?.clone(),
                code,
                message: e.message.into_owned(),
            });
        }
    }
    None
}
