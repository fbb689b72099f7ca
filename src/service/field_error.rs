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
        // The path already ends with the unknown key.
        if message.starts_with("unknown field `") {
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

/// serde's message in the words of the JSON the caller wrote, not of the Rust type it fills:
/// `expected struct CommandIn` is an object, `u32` a whole number.
pub fn in_json_words(message: &str) -> String {
    static RUST_TYPE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"expected (?:struct [A-Za-z_][A-Za-z0-9_]*|a map|(?:u|i)(?:8|16|32|64|128|size)|f32|f64|a sequence)\b",
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
                "invalid type: map, expected a sequence",
                "invalid type: an object, expected a list",
            ),
            (
                "invalid type: sequence, expected u64",
                "invalid type: a list, expected a whole number from 0 to 18446744073709551615",
            ),
            (
                "invalid type: floating point `1.5`, expected i64",
                "invalid type: a number `1.5`, expected a whole number",
            ),
            (
                "invalid type: string \"a\", expected i64",
                "invalid type: string \"a\", expected a whole number",
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
