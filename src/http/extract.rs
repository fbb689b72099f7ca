//! `AppJson`: a JSON body extractor whose errors use our error format and name the field
//! (`missing field`, `unknown field`, wrong type), so a client or model can fix its request.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::service::field_error::FieldError;

pub struct AppJson<T>(pub T);

/// The body of a route that takes none: nothing, whitespace or `{}`. Anything else is refused
/// as any body with an unknown field is, rather than ignored (`{"enabled": false}` sent to
/// `/enable` would otherwise be answered as if understood).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let declared = (req.headers().get(axum::http::header::CONTENT_TYPE))
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    super::body_limit::too_large(super::body_limit::API_MAX_BODY_BYTES)
                }
                status => ApiError::new(status, "unreadable_body", e.body_text()),
            })?;
        parse(&bytes)
            .map(AppJson)
            .map_err(|refused| naming_the_type(refused, &bytes, declared.as_deref()))
    }
}

/// A body that is no JSON at all, sent under a `Content-Type` that says it is something else
/// (a form, as `curl --data-urlencode`, `curl -F` and Python's `requests.post(data=...)`
/// send; text in UTF-16): the refusal says which, as the body is read as JSON whatever the
/// type says (`curl -d '{...}'` sends JSON labelled as a form) and the type is then the likely
/// mistake.
fn naming_the_type(refused: ApiError, bytes: &[u8], declared: Option<&str>) -> ApiError {
    let Some(declared) = declared.filter(|declared| !says_json(declared)) else {
        return refused;
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let looks_like_json = matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    );
    if refused.code != "invalid_json" || looks_like_json {
        return refused;
    }
    let message = format!(
        "{}; it came as `Content-Type: {}`, which is not JSON in UTF-8: send the fields \
         as one JSON object, with `Content-Type: application/json`",
        refused.message,
        crate::quote::quoted(declared)
    );
    ApiError { message, ..refused }
}

/// Whether a `Content-Type` names JSON (`application/json`, `application/*+json`) in UTF-8
/// (no charset, or `utf-8`).
fn says_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts
        .filter_map(|p| p.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .all(|(_, value)| {
            let value = value.trim().trim_matches('"');
            value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
        });
    json && utf8
}

/// Parses a query string into `T` through the same path as JSON bodies, so a bad parameter
/// is named in the error. `limit` is read as a number when it is one.
pub fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    let query = query.unwrap_or_default();
    // The parser below puts U+FFFD for bytes that are not UTF-8, which would then be looked
    // up as if meant (`?webhook_id=%ff` answered "no such webhook"). The separators are
    // ASCII, so the whole string decodes to UTF-8 exactly when every key and value does.
    if std::str::from_utf8(&percent_encoding::percent_decode_str(query).collect::<Vec<u8>>())
        .is_err()
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query string is not UTF-8 once percent-decoded; encode text as UTF-8",
        ));
    }
    let mut map = serde_json::Map::new();
    let mut limit_not_a_count = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        // Given without a value (`?limit=`) is left out, as if not given; yet a key no route
        // takes is refused even bare (`?dry_run`, a flag some APIs read as "change nothing").
        let value = match (key.as_ref(), value.parse::<u32>()) {
            _ if value.is_empty() => serde_json::Value::Null,
            ("limit", Ok(n)) => serde_json::Value::from(n),
            // Anything else (`-1`, `abc`, `1.5`, past u32) is refused naming the range and
            // what was given, once the route is known to take a limit (below): not "expected
            // u32", the type Rust holds it in.
            ("limit", Err(_)) => {
                limit_not_a_count = Some(value.to_string());
                serde_json::Value::from(0)
            }
            _ => serde_json::Value::from(value.into_owned()),
        };
        // Which of two values was meant is the caller's to say, not the last one's.
        if map.contains_key(key.as_ref()) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                format!("`{key}` is given twice; give it once"),
            )
            .with_field(key.into_owned()));
        }
        map.insert(key.into_owned(), value);
    }
    // From the value, not its text: an error then carries no line and column, which mean
    // nothing in a query string.
    let parsed = serde_path_to_error::deserialize(serde_json::Value::Object(map))
        .map_err(|e| refusal(e, None))?;
    if let Some(given) = limit_not_a_count {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!(
                "{} (got `{}`)",
                crate::service::PAGE_LIMIT_RANGE,
                crate::quote::quoted(&given)
            ),
        )
        .with_field("limit"));
    }
    Ok(parsed)
}

/// For a list that takes no parameters: one given (`limit`, `cursor`) is refused as an
/// unknown field rather than silently ignored, so a client does not believe it paged.
pub fn refuse_query(query: Option<&str>) -> Result<(), ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoParameters {}
    parse_query::<NoParameters>(query).map(|NoParameters {}| ())
}

/// Parses a JSON object; an empty body counts as `{}` so optional-only bodies may be left
/// out. An unpaired surrogate escape is read as U+FFFD ([`crate::lone_surrogates`]). Anything but one object (an array, which serde would read field by field; a second
/// value or other characters after it) is refused.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // A byte-order mark, as some Windows tools write before JSON, is no part of it.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // A `\uD83D` with no pair (a string cut inside an emoji, as JavaScript's `slice` does) is
    // read as U+FFFD, as the receiver reads it, not refused as JSON it is not.
    let mended = crate::lone_surrogates::mended(bytes);
    let bytes: &[u8] = &mended;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object: `{\"field\": value, ...}`",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // Parsed again as a whole only for a refusal that reads what was given.
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| refusal(e, serde_json::from_slice(bytes).ok().as_ref()))?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("body is not valid JSON: {e} (one object, nothing after it)"),
        )
    })?;
    Ok(value)
}

/// Reads `T` from a body already parsed into an object (and changed: see `api::read_back`),
/// its errors as [`parse`]'s.
pub fn from_object<T: DeserializeOwned>(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ApiError> {
    let body = serde_json::Value::Object(body);
    serde_path_to_error::deserialize(&body).map_err(|e| refusal(e, Some(&body)))
}

/// The error for a body or query that did not deserialize, naming the field when there is one;
/// `given`, what was given, when a JSON object.
fn refusal(
    e: serde_path_to_error::Error<serde_json::Error>,
    given: Option<&serde_json::Value>,
) -> ApiError {
    let bad =
        |code: &'static str, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
    match FieldError::of_in(&e, given) {
        FieldError::Syntax(message) => {
            bad("invalid_json", format!("body is not valid JSON: {message}"))
        }
        FieldError::Missing(field) => {
            bad("missing_field", format!("missing field `{field}`")).with_field(field)
        }
        FieldError::Unknown { field, message } => bad("unknown_field", message).with_field(field),
        // A message that begins by naming the field (`name` is given twice) is not prefixed
        // with it again.
        FieldError::Invalid {
            field: Some(field),
            message,
        } if message.starts_with(&format!("`{field}`")) => {
            bad("invalid_field", message).with_field(field)
        }
        FieldError::Invalid {
            field: Some(field),
            message,
        } => bad("invalid_field", format!("`{field}`: {message}")).with_field(field),
        FieldError::Invalid {
            field: None,
            message,
        } => bad("invalid_field", message),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct In {
        name: String,
        n: Option<u32>,
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (&b"{"[..], "invalid_json", None),
            (b"{}", "missing_field", Some("name")),
            (b"{\"name\":\"a\",\"x\":1}", "unknown_field", Some("x")),
            (b"{\"name\":\"a\",\"n\":\"z\"}", "invalid_field", Some("n")),
            (b"{\"name\":\"a\"} trailing", "invalid_json", None),
            (b"{\"name\":\"a\"}{\"n\":1}", "invalid_json", None),
            (b"[\"a\", 1]", "invalid_json", None),
            (b" 5", "invalid_json", None),
        ];
        for (body, code, field) in cases {
            let err = parse::<In>(body).expect_err("refused");
            assert_eq!(err.code, code, "{}", String::from_utf8_lossy(body));
            assert_eq!(err.field.as_deref(), field);
        }
    }

    #[test]
    fn one_object_with_whitespace_around_it_is_read() {
        let read = parse::<In>(b" \n{\"name\":\"a\",\"n\":2}\n ").expect("parsed");
        assert_eq!((read.name.as_str(), read.n), ("a", Some(2)));
        // After a byte-order mark too.
        let read = parse::<In>(b"\xEF\xBB\xBF{\"name\":\"b\"}").expect("parsed");
        assert_eq!(read.name, "b");
    }

    #[test]
    fn query_errors_carry_no_json_position() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Q {
            n: Option<u32>,
        }
        let err = super::parse_query::<Q>(Some("n=abc")).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("n"));
        assert!(!err.message.contains("line"), "{}", err.message);
    }
}
