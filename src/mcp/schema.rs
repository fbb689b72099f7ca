//! Tool input schemas as every model API takes them. schemars writes an optional field as
//! `"type": ["string", "null"]` with `"default": null`, integers with Rust's `format`
//! (`int64`, `uint32`) and a `$schema` line; OpenAI takes all of that, but Gemini and older
//! Ollama refuse a type list and some APIs refuse the unknown keywords, failing the whole
//! chat that offers the tools. Open WebUI passes a tool's schema to the model unchanged, so
//! the schema is written plainly here: an optional field is one that is not `required`
//! (null is still accepted when it comes). `additionalProperties` goes too (Gemini's own API
//! refuses the keyword; unknown keys are still refused, with an error naming them), and every
//! `default` (OpenAI's strict tools refuse one; each field's description says its default).

use serde_json::{Map, Value};

/// Formats that name a Rust integer or float width, not a JSON Schema format.
const WIDTH_FORMATS: [&str; 10] = [
    "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "double",
];

/// The schema with type lists, defaults, `additionalProperties`, width formats and `$schema`
/// taken out.
pub fn plain(schema: &Map<String, Value>) -> Map<String, Value> {
    let mut schema = schema.clone();
    schema.remove("$schema");
    simplify(&mut schema);
    schema
}

/// `text` with the line breaks its doc comment was wrapped at taken out: a client shows a
/// description as it is given, and a model reads a break mid-sentence as one. A blank line
/// (a new paragraph) and a break before a list item (`- `, `* `) stay.
pub fn unwrapped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\n') {
        let (line, after) = (&rest[..at], &rest[at + 1..]);
        out.push_str(line);
        let keeps = line.is_empty()
            || after.starts_with('\n')
            || after.trim_start().starts_with("- ")
            || after.trim_start().starts_with("* ");
        if keeps {
            out.push('\n');
        } else if !line.ends_with(' ') {
            out.push(' ');
        }
        rest = after
            .strip_prefix(' ')
            .map_or(after, |a| a.trim_start_matches(' '));
    }
    out.push_str(rest);
    out
}

fn simplify(node: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = node.get("type") {
        let named: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if named.len() == 1 {
            node.insert("type".into(), named[0].clone());
        }
    }
    node.remove("default");
    if let Some(Value::String(text)) = node.get_mut("description") {
        *text = unwrapped(text);
    }
    if node
        .get("additionalProperties")
        .is_some_and(Value::is_boolean)
    {
        node.remove("additionalProperties");
    }
    if let Some(Value::String(format)) = node.get("format")
        && WIDTH_FORMATS.contains(&format.as_str())
    {
        node.remove("format");
    }
    for (key, child) in node.iter_mut() {
        match child {
            // A map of names to schemas: each is a schema, the map itself none (a property
            // named `default` is kept).
            Value::Object(map) if key == "properties" => map
                .values_mut()
                .filter_map(Value::as_object_mut)
                .for_each(simplify),
            Value::Object(map) => simplify(map),
            Value::Array(items) => items
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(simplify),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn descriptions_lose_the_breaks_their_doc_comments_were_wrapped_at() {
        let cases = [
            (
                "github, gitlab, slack, jira, sentry, linear, stripe,\nstandard-webhooks",
                "github, gitlab, slack, jira, sentry, linear, stripe, standard-webhooks",
            ),
            ("one line", "one line"),
            ("a paragraph\n\nanother", "a paragraph\n\nanother"),
            ("ends with a space \nhere", "ends with a space here"),
            ("a list:\n- one\n- two", "a list:\n- one\n- two"),
            ("", ""),
        ];
        for (given, shown) in cases {
            assert_eq!(unwrapped(given), shown, "{given:?}");
        }
        let schema = json!({"type": "object", "properties": {"provider": {"type": "string",
            "description": "github or\ngitlab"}}});
        let plain = plain(schema.as_object().expect("object"));
        assert_eq!(
            plain["properties"]["provider"]["description"],
            "github or gitlab"
        );
    }

    #[test]
    fn optional_fields_and_widths_are_written_plainly() {
        let cases = [
            (
                json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                       "properties": {"agent": {"type": ["string", "null"], "default": null}},
                       "required": []}),
                json!({"type": "object", "properties": {"agent": {"type": "string"}}, "required": []}),
            ),
            (
                json!({"type": "object", "properties": {"limit": {"type": ["integer", "null"],
                       "format": "uint32", "minimum": 1, "default": null}}}),
                json!({"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1}}}),
            ),
            (
                json!({"type": "object", "properties": {"when": {"type": "string", "format": "date-time"},
                       "tags": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
                       "default_on": {"type": "boolean", "default": true}},
                       "additionalProperties": false}),
                json!({"type": "object", "properties": {"when": {"type": "string", "format": "date-time"},
                       "tags": {"type": "array", "items": {"type": "string"}},
                       "default_on": {"type": "boolean"}}}),
            ),
            (
                // Properties so named are properties, not keywords.
                json!({"type": "object", "properties": {"default": {"type": "string", "default": "x"},
                       "additionalProperties": {"type": "boolean"}}}),
                json!({"type": "object", "properties": {"default": {"type": "string"},
                       "additionalProperties": {"type": "boolean"}}}),
            ),
            (
                // Two real types stay a list: there is no plainer way to say it.
                json!({"properties": {"id": {"type": ["string", "integer", "null"]}}}),
                json!({"properties": {"id": {"type": ["string", "integer", "null"]}}}),
            ),
        ];
        for (given, expected) in cases {
            let given = given.as_object().unwrap();
            assert_eq!(Value::Object(plain(given)), expected, "{given:?}");
        }
    }
}
