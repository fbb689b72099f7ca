//! How a failed response is logged: a 5xx the server did not mean is an error, while the
//! 503s it answers on purpose (`busy`, `storage_unavailable`, `shutting_down`, each with
//! `Retry-After`) are not logged per request; their causes are logged where they are found.

use std::time::Duration;

use axum::http::StatusCode;
use tower_http::classify::ServerErrorsFailureClass;
use tracing::Span;

/// `TraceLayer`'s `on_failure`.
pub fn on_failure(class: ServerErrorsFailureClass, latency: Duration, _span: &Span) {
    if is_unexpected(&class) {
        tracing::error!(classification = %class, latency = ?latency, "response failed");
    }
}

/// A 503 is always a refusal the server chose: it tells the client to come back later.
fn is_unexpected(class: &ServerErrorsFailureClass) -> bool {
    !matches!(
        class,
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_503_is_taken_as_meant() {
        let status = ServerErrorsFailureClass::StatusCode;
        for (class, unexpected) in [
            (status(StatusCode::SERVICE_UNAVAILABLE), false),
            (status(StatusCode::INTERNAL_SERVER_ERROR), true),
            (status(StatusCode::BAD_GATEWAY), true),
            (ServerErrorsFailureClass::Error("reset".into()), true),
        ] {
            assert_eq!(is_unexpected(&class), unexpected, "{class}");
        }
    }
}
