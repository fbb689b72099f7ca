//! Tool arguments as handlers receive them: like rmcp's `Parameters`, but a wrongly typed
//! argument is named in the error (`invalid `priority`: invalid type: string "high", expected
//! i64`), so the model can fix the one argument instead of guessing.

use rmcp::ErrorData;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::service::field_error::FieldError;

/// rmcp turns an `invalid_params` error starting with this into a tool error (`isError`), which
/// clients hand to the model, rather than a JSON-RPC error, which they often do not.
pub(super) const DESERIALIZATION_PREFIX: &str = "failed to deserialize parameters:";

/// A tool's arguments, deserialized into `P`. Named `Parameters` because rmcp's `#[tool]`
/// macro finds the input schema by that name.
pub struct Parameters<P>(pub P);

impl<P: JsonSchema> JsonSchema for Parameters<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        P::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

impl<S, P: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<P> {
    fn from_context_part(context: &mut ToolCallContext<S>) -> Result<Self, ErrorData> {
        let arguments = serde_json::Value::Object(context.arguments.take().unwrap_or_default());
        parse(arguments).map(Parameters)
    }
}

fn parse<P: DeserializeOwned>(arguments: serde_json::Value) -> Result<P, ErrorData> {
    serde_path_to_error::deserialize(&arguments).map_err(|e| {
        let detail = match FieldError::of_in(&e, Some(&arguments)) {
            FieldError::Missing(field) => format!("missing field `{field}`"),
            FieldError::Invalid {
                field: Some(field),
                message,
            } => format!("invalid `{field}`: {message}"),
            // An unknown field names itself; at the top there is nothing to name.
            FieldError::Unknown { message, .. }
            | FieldError::Invalid {
                field: None,
                message,
            }
            | FieldError::Syntax(message) => message,
        };
        ErrorData::invalid_params(
            format!("{DESERIALIZATION_PREFIX} {}", shortened(&detail)),
            None,
        )
    })
}

/// The longest refusal kept whole, in bytes.
const MAX_DETAIL_BYTES: usize = 1024;

/// `detail` whole when short, else its start and end around how much was left out: serde
/// quotes a wrongly typed value whole (a megabyte string where a number goes), and says what
/// was expected after it.
fn shortened(detail: &str) -> String {
    if detail.len() <= MAX_DETAIL_BYTES {
        return detail.to_string();
    }
    let head = (0..=MAX_DETAIL_BYTES / 2)
        .rev()
        .find(|i| detail.is_char_boundary(*i))
        .unwrap_or(0);
    let tail = (detail.len() - MAX_DETAIL_BYTES / 4..detail.len())
        .find(|i| detail.is_char_boundary(*i))
        .unwrap_or(detail.len());
    format!(
        "{}… ({} bytes left out) …{}",
        &detail[..head],
        tail - head,
        &detail[tail..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        webhook_id: String,
        #[serde(default)]
        priority: Option<i64>,
        #[serde(default)]
        target: Option<Target>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Target {
        url: String,
    }

    #[test]
    fn the_wrong_argument_is_named() {
        let cases = [
            (
                json!({"webhook_id": "a", "priority": "high"}),
                "invalid `priority`: invalid type: string \"high\"",
            ),
            (
                json!({"webhook_id": 5}),
                "invalid `webhook_id`: invalid type: integer `5`",
            ),
            (
                json!({"webhook_id": "a", "target": {"url": 1}}),
                "invalid `target.url`",
            ),
            (json!({}), "missing field `webhook_id`"),
            (
                json!({"webhook_id": "a", "target": {}}),
                "missing field `target.url`",
            ),
            (json!({"webhook_id": "a", "zz": 1}), "unknown field `zz`"),
            // A huge value quoted back is cut in the middle: what was expected stays.
            (
                json!({"webhook_id": "a", "priority": "é".repeat(600_000)}),
                "ééé\", expected a whole number",
            ),
        ];
        for (arguments, expected) in cases {
            let message = parse::<Args>(arguments.clone()).unwrap_err().message;
            assert!(message.starts_with(DESERIALIZATION_PREFIX), "{message}");
            assert!(message.contains(expected), "{}", &message[..200]);
            assert!(message.len() < 1200, "{} bytes", message.len());
        }
    }
}
