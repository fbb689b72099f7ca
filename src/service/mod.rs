//! The service layer: every operation on webhooks, commands and events, once. The REST API
//! and (later) the MCP tools are thin doors onto these functions, so a rule lives in one place.

pub mod auth;
pub mod commands;
pub mod events;
pub mod ingest;
pub mod setup;
pub mod testing;
pub mod webhooks;

use crate::store::StoreError;

/// A failure a caller can act on, or an internal one it cannot.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is wrong; `field` names the part to fix.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// Prefix + UUIDv7 in simple form: unique, URL-safe, and sorting by time of creation.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Something a watcher (an MCP client subscribed to a resource) may want to hear about.
#[derive(Debug, Clone)]
pub enum Change {
    /// An event was stored (or its state changed).
    Event {
        webhook_id: String,
        event_id: String,
    },
}

impl Change {
    /// The MCP resources this change updates.
    pub fn resource_uris(&self) -> Vec<String> {
        match self {
            Change::Event {
                webhook_id,
                event_id,
            } => vec![
                format!("webhook://{webhook_id}/events"),
                format!("event://{event_id}"),
            ],
        }
    }
}
