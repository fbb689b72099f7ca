//! Which field a JSON document failed to deserialize at, read from serde_path_to_error, so REST
//! bodies and MCP tool arguments name the same field the same way.

/// What went wrong, with the dotted path of the field when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// Not JSON at all (only from text, never from an already parsed value).
    Syntax(String),
    /// A required field is absent; its full path.
    Missing(String),
    /// A field that is not known; its path, and serde's message listing the known ones.
    Unknown { field: String, message: String },
    /// A value of the wrong type or shape; where (none at the top) and serde's message.
    Invalid {
        field: Option<String>,
        message: String,
    },
}

impl FieldError {
    pub fn of(e: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
        FieldError::of_in(e, None)
    }

    /// [`FieldError::of`], `given` being the document that failed: read to say which of a
    /// field's names were given together.
    pub fn of_in(
        e: &serde_path_to_error::Error<serde_json::Error>,
        given: Option<&serde_json::Value>,
    ) -> FieldError {
        let path = e.path().to_string();
        let inner = e.inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return FieldError::Syntax(message);
        }
        // The path is the object the field is missing from.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            return FieldError::Missing(if path == "." {
                name.to_string()
            } else {
                format!("{path}.{name}")
            });
        }
        // As for a missing field, the path is the object; serde's words name no line a caller
        // can act on when the field was given under two of its names.
        if let Some(name) = message
            .strip_prefix("duplicate field `")
            .and_then(|rest| rest.split('`').next())
        {
            let object = given.and_then(|given| object_at(given, e.path()));
            return FieldError::Invalid {
                field: Some(if path == "." {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                }),
                message: given_twice(name, object),
            };
        }
        // The path already ends with the unknown key.
        if let Some(rest) = message.strip_prefix("unknown field `") {
            // A key of 20 kB (a probe, a query string gone wrong) is named cut short, as ids
            // are, not echoed whole in the refusal and its field.
            let name = rest.split('`').next().unwrap_or_default();
            let cut = crate::quote::quoted(name);
            if cut.len() < name.len() {
                return FieldError::Unknown {
                    field: crate::quote::quoted(&path).into_owned(),
                    message: message.replacen(name, &cut, 1),
                };
            }
            return FieldError::Unknown {
                field: path,
                message,
            };
        }
        FieldError::Invalid {
            field: (path != ".").then_some(path),
            message: in_json_words(&message),
        }
    }
}

/// The fields taken under other names too (serde's `alias`), by the name serde reports.
const OTHER_NAMES: &[(&str, &[&str])] = &[
    ("id", &["webhook_id"]),
    (
        "text",
        &["message", "response", "question", "body", "content"],
    ),
    ("question", &["text", "body"]),
    ("thread_id", &["message_thread_id"]),
];

/// The refusal of field `name` given more than once: under two of its names (`id` and
/// `webhook_id`), which ones, as `object`, the object it is in, has them; else the one name
/// twice.
fn given_twice(name: &str, object: Option<&serde_json::Map<String, serde_json::Value>>) -> String {
    let others = OTHER_NAMES
        .iter()
        .find(|(field, _)| *field == name)
        .map_or(&[][..], |(_, others)| *others);
    let given: Vec<String> = std::iter::once(name)
        .chain(others.iter().copied())
        .filter(|n| object.is_some_and(|o| o.contains_key(*n)))
        .map(|n| format!("`{n}`"))
        .collect();
    match given.as_slice() {
        [one, other] => format!("give {one} or {other}, not both: they name one field"),
        [_, _, ..] => format!(
            "give one of {}, not several: they name one field",
            given.join(", ")
        ),
        _ => format!("`{name}` is given twice; give it once"),
    }
}

/// The object at `path` in `given`, where serde says a field of it is missing or given twice.
fn object_at<'v>(
    given: &'v serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'v serde_json::Map<String, serde_json::Value>> {
    use serde_path_to_error::Segment;
    path.iter()
        .try_fold(given, |value, segment| match segment {
            Segment::Seq { index } => value.get(*index),
            Segment::Map { key } => value.get(key.as_str()),
            Segment::Enum { .. } | Segment::Unknown => None,
        })?
        .as_object()
}

/// The largest value of an unsigned Rust integer type, by its name.
fn unsigned_most(rust: &str) -> Option<u128> {
    Some(match rust {
        "u8" => u8::MAX.into(),
        "u16" => u16::MAX.into(),
        "u32" => u32::MAX.into(),
        "u64" | "usize" => u64::MAX.into(),
        "u128" => u128::MAX,
        _ => return None,
    })
}

/// The range of a signed Rust integer type serde names (`i64`).
fn signed_range(rust: &str) -> Option<(i128, i128)> {
    Some(match rust {
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        "i128" => (i128::MIN, i128::MAX),
        _ => return None,
    })
}

/// serde's message in the words of the JSON the caller wrote, not of the Rust type it fills:
/// `expected struct CommandIn` is an object, `u32` a whole number.
pub fn in_json_words(message: &str) -> String {
    static RUST_TYPE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"expected (?:struct [A-Za-z_][A-Za-z0-9_]*|a map|(?:a nonzero )?(?:u|i)(?:8|16|32|64|128|size)|f32|f64|a sequence)\b",
        )
        .expect("Rust type pattern")
    });
    static GIVEN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"invalid type: (sequence|map|unit value|floating point)")
            .expect("given type pattern")
    });
    let message = GIVEN.replace_all(message, |found: &regex::Captures<'_>| {
        let json = match &found[1] {
            "sequence" => "a list",
            "map" => "an object",
            "unit value" => "null",
            _ => "a number",
        };
        format!("invalid type: {json}")
    });
    RUST_TYPE
        .replace_all(&message, |found: &regex::Captures<'_>| {
            let said = &found[0];
            let json = if said.starts_with("expected struct") || said == "expected a map" {
                "an object"
            } else if said == "expected a sequence" {
                "a list"
            } else if said.starts_with("expected f") {
                "a number"
            } else if let Some(most) = unsigned_most(&said["expected ".len()..]) {
                return format!("expected a whole number from 0 to {most}");
            } else if let Some(most) = said
                .strip_prefix("expected a nonzero ")
                .and_then(unsigned_most)
            {
                return format!("expected a whole number from 1 to {most}");
            } else if let Some((least, most)) = signed_range(&said["expected ".len()..]) {
                // A number past the range reads as a float (`1e+20`): the range says why.
                return format!("expected a whole number from {least} to {most}");
            } else {
                "a whole number"
            };
            format!("expected {json}")
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        url: String,
    }

    fn error_of(value: serde_json::Value) -> FieldError {
        FieldError::of(&serde_path_to_error::deserialize::<_, Outer>(value).unwrap_err())
    }

    #[test]
    fn a_wrong_type_is_said_in_jsons_words_not_rusts() {
        let cases = [
            (
                "invalid type: string \"x\", expected struct CommandIn",
                "invalid type: string \"x\", expected an object",
            ),
            (
                "invalid type: integer `5`, expected struct RateLimit",
                "invalid type: integer `5`, expected an object",
            ),
            (
                "invalid type: string \"5\", expected u32",
                "invalid type: string \"5\", expected a whole number from 0 to 4294967295",
            ),
            (
                "invalid value: integer `5000000000`, expected u32",
                "invalid value: integer `5000000000`, expected a whole number from 0 to 4294967295",
            ),
            (
                "invalid value: integer `-5`, expected a nonzero u32",
                "invalid value: integer `-5`, expected a whole number from 1 to 4294967295",
            ),
            (
                "invalid value: integer `0`, expected a nonzero u32",
                "invalid value: integer `0`, expected a whole number from 1 to 4294967295",
            ),
            (
                "invalid type: map, expected a sequence",
                "invalid type: an object, expected a list",
            ),
            (
                "invalid type: sequence, expected u64",
                "invalid type: a list, expected a whole number from 0 to 18446744073709551615",
            ),
            (
                "invalid type: floating point `1.5`, expected i64",
                "invalid type: a number `1.5`, expected a whole number from \
                 -9223372036854775808 to 9223372036854775807",
            ),
            (
                "invalid type: string \"a\", expected i32",
                "invalid type: string \"a\", expected a whole number from -2147483648 to \
                 2147483647",
            ),
            (
                "invalid type: string \"a\", expected f64",
                "invalid type: string \"a\", expected a number",
            ),
            (
                "invalid type: integer `1`, expected a string",
                "invalid type: integer `1`, expected a string",
            ),
        ];
        for (serde, said) in cases {
            assert_eq!(in_json_words(serde), said);
        }
        assert!(matches!(
            error_of(json!({"name": "a", "inner": 7})),
            FieldError::Invalid { message, .. } if message.ends_with("expected an object")
        ));
    }

    #[test]
    fn a_field_given_under_two_of_its_names_is_refused_naming_them() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Named {
            #[serde(alias = "webhook_id")]
            id: Option<String>,
            #[serde(default, alias = "message", alias = "response", alias = "question")]
            text: Option<String>,
            #[serde(default)]
            inner: Vec<Named>,
        }
        let cases = [
            (
                json!({"webhook_id": "a1", "id": "a2"}),
                "id",
                "give `id` or `webhook_id`, not both: they name one field",
            ),
            (
                json!({"text": "a", "message": "b"}),
                "text",
                "give `text` or `message`, not both: they name one field",
            ),
            (
                json!({"message": "a", "response": "b", "question": "c"}),
                "text",
                "give one of `message`, `response`, `question`, not several: they name one field",
            ),
            (
                json!({"inner": [{}, {"id": "a", "webhook_id": "b"}]}),
                "inner[1].id",
                "give `id` or `webhook_id`, not both: they name one field",
            ),
        ];
        for (given, field, said) in cases {
            let e = serde_path_to_error::deserialize::<_, Named>(&given).unwrap_err();
            assert_eq!(
                FieldError::of_in(&e, Some(&given)),
                FieldError::Invalid {
                    field: Some(field.into()),
                    message: said.into()
                },
                "{given}"
            );
        }
        // One name twice, as only JSON text can give it.
        let text = r#"{"id": "a", "id": "b"}"#;
        let e = serde_path_to_error::deserialize::<_, Named>(
            &mut serde_json::Deserializer::from_str(text),
        )
        .unwrap_err();
        let given = serde_json::from_str(text).ok();
        assert_eq!(
            FieldError::of_in(&e, given.as_ref()),
            FieldError::Invalid {
                field: Some("id".into()),
                message: "`id` is given twice; give it once".into()
            }
        );
    }

    #[test]
    fn each_kind_names_its_field() {
        assert_eq!(error_of(json!({})), FieldError::Missing("name".into()));
        assert_eq!(
            error_of(json!({"name": "a", "inner": {}})),
            FieldError::Missing("inner.url".into())
        );
        assert!(matches!(
            error_of(json!({"name": "a", "zz": 1})),
            FieldError::Unknown { field, .. } if field == "zz"
        ));
        // A key of 20 kB is named cut short, in the message and the field.
        let long = "k".repeat(20_000);
        let FieldError::Unknown { field, message } = error_of(json!({"name": "a", &long: 1}))
        else {
            panic!("unknown field");
        };
        assert!(
            field.len() < 200 && field.ends_with("(20000 bytes)"),
            "{field}"
        );
        assert!(message.len() < 400, "{message}");
        assert!(message.starts_with("unknown field `kkkk"), "{message}");
        assert!(message.contains("… (20000 bytes)`, expected"), "{message}");
        assert!(matches!(
            error_of(json!({"name": 5})),
            FieldError::Invalid { field: Some(f), .. } if f == "name"
        ));
        assert!(matches!(
            error_of(json!([])),
            FieldError::Invalid { field: None, .. }
        ));
        let mut de = serde_json::Deserializer::from_str("{");
        let syntax = serde_path_to_error::deserialize::<_, Outer>(&mut de).unwrap_err();
        assert!(matches!(FieldError::of(&syntax), FieldError::Syntax(_)));
    }
}
