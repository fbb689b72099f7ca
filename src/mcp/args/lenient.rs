//! What models send instead of the schema's types, taken as meant: `null` for a flag, a number
//! for an id or a time, an object written out as a JSON string, a URL for a target. Anything
//! else still fails with the field named, as before.

use serde::Deserialize;
use serde::de::{Deserializer, Error};
use serde_json::Value;

use crate::providers::as_whole;

/// Optional fields a model sent as `""` (or only spaces), as if left out: models fill every
/// field of a schema, and an empty agent, owner or filter is never meant as one. A required
/// field stays, for its own check to say what is wrong with it, and so does a `meaningful`
/// one, where empty says something (remove it); nested values are left alone.
pub fn drop_blank_optionals(
    args: &mut serde_json::Map<String, Value>,
    schema: &serde_json::Map<String, Value>,
    meaningful: &[&str],
) {
    let kept = |field: &str| {
        meaningful.contains(&field)
            || schema
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|f| f.as_str() == Some(field)))
    };
    args.retain(|k, v| kept(k) || !matches!(v, Value::String(s) if s.trim().is_empty()));
}

/// Integer fields a model sent as whole floats (`10.0`, `1e2`): JSON Schema's `integer` takes
/// them, and so does this. A fraction (`10.5`) stays, for the field's own check to refuse.
pub fn whole_numbers(
    args: &mut serde_json::Map<String, Value>,
    schema: &serde_json::Map<String, Value>,
) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, value) in args.iter_mut() {
        let is_integer = properties
            .get(name)
            .and_then(|p| p.get("type"))
            .is_some_and(|t| {
                t == "integer"
                    || t.as_array()
                        .is_some_and(|ts| ts.iter().any(|t| t == "integer"))
            });
        if is_integer && let Some(whole) = as_whole(value) {
            *value = whole;
        }
    }
}

/// Integer and boolean fields a model wrote as text (`"10"`, `" true "`), as small local models
/// often do: taken as the number or flag they spell. Other text (`"ten"`, `"yes"`, `"10.5"`)
/// stays, for the field's own check to refuse by name.
pub fn scalars_in_text(
    args: &mut serde_json::Map<String, Value>,
    schema: &serde_json::Map<String, Value>,
) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let typed = |name: &str, wanted: &str| {
        properties
            .get(name)
            .and_then(|p| p.get("type"))
            .is_some_and(|t| {
                t == wanted
                    || t.as_array()
                        .is_some_and(|ts| ts.iter().any(|t| t == wanted))
            })
    };
    for (name, value) in args.iter_mut() {
        let Value::String(text) = value else {
            continue;
        };
        let text = text.trim();
        if typed(name, "integer")
            && let Some(n) = whole_in_text(text)
        {
            *value = Value::from(n);
        } else if typed(name, "boolean") {
            match text.to_ascii_lowercase().as_str() {
                "true" => *value = Value::Bool(true),
                "false" => *value = Value::Bool(false),
                _ => {}
            }
        }
    }
}

/// The whole number text spells: `"60"`, or `"60.0"` as a model writes a number it took for
/// a float; not `"60.5"`, nor one past what an `i64` holds.
fn whole_in_text(text: &str) -> Option<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    let n = text
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && n.fract() == 0.0)?;
    // Past 2^63 the cast would saturate to a number never given.
    (n.abs() < 9.2e18).then_some(n as i64)
}

/// `null` as the type's default (models send every optional field, often as null).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A page size, where one out of any range (`-1`, `10**12`) is told the range the list
/// takes, as `0` and `201` are, rather than what type Rust holds it in.
pub fn page_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)) => {
            Ok(n.as_u64().map(|n| n as u32))
        }
        // Inside the range but not whole: told so, not the range it is in.
        Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f.fract() != 0.0) => {
            Err(D::Error::custom(format!(
                "limit must be a whole number from 1 to 200 (got {n})"
            )))
        }
        Some(Value::Number(_)) => Err(D::Error::custom(crate::service::PAGE_LIMIT_RANGE)),
        Some(other) => Err(D::Error::custom(format!(
            "{} (got {other})",
            crate::service::PAGE_LIMIT_RANGE
        ))),
    }
}

/// A string, or a number written as one (Telegram chat ids and unix times are numbers).
pub fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(
            as_whole(&Value::Number(n.clone())).map_or_else(|| n.to_string(), |w| w.to_string()),
        )),
        Some(other) => Err(D::Error::custom(format!(
            "expected a string or a number, got {}",
            kind(&other)
        ))),
    }
}

/// Any JSON, or the same value written out as a JSON string (`"{\"labels\": [\"bug\"]}"`):
/// text that opens as JSON (`{`, `[`) but does not parse is refused with where it breaks, as
/// the model wrote it by hand and needs to mend it (taken as a plain string it would be
/// refused later for a reason that misleads, such as a target URL that is not a URL).
pub fn json_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if opens_as_json(&s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("is not valid JSON text: {e}"))),
        other => Ok(other),
    }
}

/// A target object, or its JSON as a string, or just the URL; `""` is no target (null).
pub fn target<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(json_text(d)?.map(|v| match v {
        Value::String(url) if url.trim().is_empty() => Value::Null,
        Value::String(url) => serde_json::json!({ "url": url }),
        other => other,
    }))
}

/// Whether text opens as a JSON object or array would: JSON written out as text.
fn opens_as_json(text: &str) -> bool {
    text.trim_start().starts_with(['{', '['])
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    #[derive(Debug, Deserialize)]
    struct Args {
        #[serde(default, deserialize_with = "super::null_as_default")]
        flag: bool,
        #[serde(default, deserialize_with = "super::text_or_number")]
        id: Option<String>,
        #[serde(default, deserialize_with = "super::json_text")]
        conditions: Option<Value>,
        #[serde(default, deserialize_with = "super::target")]
        target: Option<Value>,
    }

    fn parse(v: Value) -> Result<Args, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn what_models_send_is_taken_as_meant() {
        let cases = [
            (json!({}), false, None, None, None),
            (
                json!({"flag": null, "id": null, "conditions": null, "target": null}),
                false,
                None,
                None,
                None,
            ),
            (
                json!({"flag": true, "id": -1001234}),
                true,
                Some("-1001234"),
                None,
                None,
            ),
            (json!({"id": "abc"}), false, Some("abc"), None, None),
            (
                json!({"conditions": "{\"labels\": [\"bug\"]}"}),
                false,
                None,
                Some(json!({"labels": ["bug"]})),
                None,
            ),
            (
                json!({"conditions": "not json"}),
                false,
                None,
                Some(json!("not json")),
                None,
            ),
            (
                json!({"target": "https://hooks.example.com/x"}),
                false,
                None,
                None,
                Some(json!({"url": "https://hooks.example.com/x"})),
            ),
            (
                json!({"target": "{\"url\": \"https://a.example\", \"kind\": \"slack\"}"}),
                false,
                None,
                None,
                Some(json!({"url": "https://a.example", "kind": "slack"})),
            ),
        ];
        for (input, flag, id, conditions, target) in cases {
            let args = parse(input.clone()).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(args.flag, flag, "{input}");
            assert_eq!(args.id.as_deref(), id, "{input}");
            assert_eq!(args.conditions, conditions, "{input}");
            assert_eq!(args.target, target, "{input}");
        }
    }

    #[test]
    fn json_text_that_does_not_parse_is_told_where_it_breaks() {
        let cases = [
            (json!({"conditions": "{broken"}), "line 1 column 2"),
            (
                json!({"conditions": "{\"labels\": [\"bug\"],}"}),
                "trailing comma at line 1 column 20",
            ),
            (json!({"target": "{\"url\": \"https://a.example\""}), "EOF"),
            (json!({"target": " [1, 2"}), "EOF"),
        ];
        for (input, place) in cases {
            let said = parse(input.clone()).unwrap_err();
            assert!(
                said.contains("is not valid JSON text") && said.contains(place),
                "{input}: {said}"
            );
        }
    }

    #[test]
    fn blank_optional_strings_are_left_out() {
        let mut args = json!({"agent": "", "owner": "  ", "text": "", "target": {"url": ""}});
        let schema = json!({"required": ["text"]});
        super::drop_blank_optionals(
            args.as_object_mut().unwrap(),
            schema.as_object().unwrap(),
            &[],
        );
        assert_eq!(args, json!({"text": "", "target": {"url": ""}}));
        let mut kept = json!({"agent": "", "priority": "", "template": " "});
        super::drop_blank_optionals(
            kept.as_object_mut().unwrap(),
            schema.as_object().unwrap(),
            &["agent", "template"],
        );
        assert_eq!(kept, json!({"agent": "", "template": " "}));
    }

    #[test]
    fn numbers_and_flags_written_as_text_are_taken_by_the_schema() {
        let schema = json!({"properties": {
            "priority": {"type": "integer"}, "limit": {"type": ["integer", "null"]},
            "enabled": {"type": "boolean"}, "stop": {"type": "boolean"},
            "name": {"type": "string"}}});
        let mut args = json!({"priority": " 10 ", "limit": "-3", "enabled": "TRUE",
            "stop": "false", "name": "42"});
        super::scalars_in_text(args.as_object_mut().unwrap(), schema.as_object().unwrap());
        assert_eq!(
            args,
            json!({"priority": 10, "limit": -3, "enabled": true, "stop": false, "name": "42"})
        );
        // A whole number written as a float is that number.
        let mut floats = json!({"priority": "60.0", "limit": "1e2"});
        super::scalars_in_text(floats.as_object_mut().unwrap(), schema.as_object().unwrap());
        assert_eq!(floats, json!({"priority": 60, "limit": 100}));
        let mut left = json!({"priority": "ten", "limit": "10.5", "enabled": "yes"});
        let before = left.clone();
        super::scalars_in_text(left.as_object_mut().unwrap(), schema.as_object().unwrap());
        assert_eq!(left, before);
        let mut huge = json!({"priority": "1e30", "limit": "NaN"});
        let before = huge.clone();
        super::scalars_in_text(huge.as_object_mut().unwrap(), schema.as_object().unwrap());
        assert_eq!(huge, before, "left for the field's own check");
    }

    #[test]
    fn a_page_size_that_is_no_whole_number_is_told_so() {
        #[derive(Debug, serde::Deserialize)]
        struct Page {
            #[serde(default, deserialize_with = "super::page_size")]
            #[allow(dead_code)]
            limit: Option<u32>,
        }
        let said = |limit: Value| {
            serde_json::from_value::<Page>(json!({ "limit": limit }))
                .unwrap_err()
                .to_string()
        };
        assert!(
            said(json!(1.5)).contains("whole number"),
            "{}",
            said(json!(1.5))
        );
        assert!(
            said(json!(-1)).contains("between 1 and 200"),
            "{}",
            said(json!(-1))
        );
        let whole = serde_json::from_value::<Page>(json!({"limit": 20}));
        assert!(whole.is_ok(), "{whole:?}");
    }

    #[test]
    fn other_shapes_still_fail() {
        for input in [
            json!({"flag": "yes"}),
            json!({"id": [1]}),
            json!({"id": {"a": 1}}),
        ] {
            assert!(parse(input.clone()).is_err(), "{input}");
        }
    }
}
