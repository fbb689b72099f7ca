//! Schemas of the tool arguments that hold an object of their own (a command's `conditions`
//! and `target`, a webhook's `options`) or any JSON (`test_webhook`'s `payload`), written out
//! key by key. An object schema without `properties` fails every chat that offers the tool on
//! Gemini ("should be non-empty for OBJECT type"), constrained decoders (llama.cpp, vLLM)
//! close an object to the keys it lists, and mcpo drops the keys it does not list: so each
//! lists every key the service takes, with the type a model should write.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

/// Where `forward` and `post_message` send to (`engine::command::Target`). The keys are
/// explained in the field's own description, not one by one: `add_command`'s schema has to
/// stay small (see [`conditions`]).
pub fn target(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = target_change(generator);
    schema.insert("required".into(), json!(["url"]));
    schema
}

/// A target as update_command takes it: `{}` removes the one stored, so `url` is not required.
pub fn target_change(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "url": {"type": "string"},
            "secret": {"type": "string"},
            "kind": {"type": "string", "enum": ["openwebui", "slack", "discord", "teams", "telegram"]},
            "chat_id": {"type": "string"},
            "thread_id": {"type": "string"},
            "headers": headers()
        }
    })
}

/// A forward's own headers (`engine::target_headers`): any name is taken, but an object schema
/// must list some (see the module's words), so the one an API call needs most is listed;
/// `add_command`'s schema has no room for more (see [`conditions`]).
fn headers() -> Value {
    json!({"type": "object", "properties": {"Authorization": {"type": "string"}}})
}

/// A webhook's options (`providers::ProviderOptions`).
pub fn options(_: &mut SchemaGenerator) -> Schema {
    let text = |description: &str| json!({"type": "string", "description": description});
    let credentials: Map<String, Value> = [
        ("github_token", None),
        (
            "github_api_url",
            Some("GitHub Enterprise, e.g. https://github.example.com/api/v3."),
        ),
        ("gitlab_token", None),
        (
            "gitlab_url",
            Some("Self-hosted GitLab, e.g. https://gitlab.example.com."),
        ),
        ("jira_base_url", Some("e.g. https://example.atlassian.net.")),
        ("jira_email", None),
        ("jira_api_token", None),
        ("slack_bot_token", None),
        ("linear_api_key", None),
        ("telegram_bot_token", None),
    ]
    .into_iter()
    .map(|(name, description)| {
        let schema = description.map_or_else(|| json!({"type": "string"}), text);
        (name.to_string(), schema)
    })
    .collect();
    json_schema!({
        "type": "object",
        "properties": {
            "tolerance_secs": {"type": "integer", "minimum": 1, "maximum": 604800,
                "description": "Replay window in seconds for senders that sign a timestamp \
                (slack, stripe, linear, standard-webhooks, signed gitlab)."},
            "custom": {
                "type": "object",
                "description": "custom webhooks: how requests are signed and where the event \
                    type lives.",
                "properties": {
                    "mode": {"type": "string", "enum": ["hmac", "token"], "description":
                        "hmac: HMAC-SHA256 of the body (default); token: the secret itself in a \
                        header or ?token=."},
                    "header": text("Signature header (default X-Signature) or token header \
                        (default X-Webhook-Token)."),
                    "prefix": text("Text before the signature or token, e.g. sha256= or Bearer."),
                    "encoding": {"type": "string", "enum": ["hex", "base64"], "description":
                        "The signature's encoding (default hex)."},
                    "event_type_pointer": text("JSON pointer (/type) or dotted path (event.type) \
                        of the event type."),
                    "event_type_header": text("Header holding the event type."),
                    "delivery_id_pointer": text("Pointer or path of the delivery id."),
                    "delivery_id_header": text("Header holding the delivery id."),
                    "source_pointer": text("Pointer or path of the value that identifies the \
                        thread replies go to.")
                }
            },
            "credentials": {
                "type": "object",
                "description": "Tokens and base URLs for replies on this webhook's source, \
                    instead of the server's own; shown masked. Merged token by token on update.",
                "properties": credentials
            },
            "rate_limit": {
                "type": "object",
                "description": "Requests per second this webhook takes; 429 beyond.",
                "properties": {
                    "per_second": {"type": "integer", "minimum": 1},
                    "burst": {"type": "integer", "minimum": 1, "description": "Default per_second."}
                },
                "required": ["per_second"]
            },
            "ip_allowlist": {"type": "array", "items": {"type": "string"}, "description":
                "Addresses or CIDR ranges allowed to send; everyone when absent."}
        }
    })
}

/// A command's conditions (`engine::conditions`): the tests every event must pass. `all`,
/// `any` and `not` hold conditions of their own, written out one level deep (a schema that
/// refers to itself is refused by Gemini and Open WebUI does not resolve one); the service
/// takes them nested deeper too.
///
/// Codex CLI strips every description from a tool whose input schema, as compact JSON, is
/// over 5,000 bytes, and `add_command`'s holds this schema four times over (the top level
/// and `all`, `any` and `not`'s copies). So the keys are explained once, in the field's own
/// description, and in the items of `all` and `any` a list key (`labels` and the like) takes
/// one name: several are several `any` items, or the top level's list next to `all`, so
/// nothing is lost. `not` keeps lists: "labelled neither a nor b" needs one.
pub fn conditions(_: &mut SchemaGenerator) -> Schema {
    let tests = condition_tests();
    let mut one_name = tests.clone();
    for key in LIST_TESTS {
        one_name.insert(key.into(), json!({"type": "string"}));
    }
    let item = json!({"type": "object", "properties": one_name});
    let mut properties = tests.clone();
    properties.insert(
        "all".into(),
        json!({"type": "array", "items": item, "description": "Conditions that must all hold."}),
    );
    properties.insert(
        "any".into(),
        json!({"type": "array", "items": item,
               "description": "Conditions of which at least one must hold."}),
    );
    properties.insert(
        "not".into(),
        json!({"type": "object", "properties": tests,
               "description": "Conditions that must not all hold."}),
    );
    json_schema!({"type": "object", "properties": properties})
}

/// The tests that match any of a list of names (a string or a number stands for one).
const LIST_TESTS: [&str; 6] = [
    "labels",
    "label",
    "body_contains",
    "channel",
    "sender",
    "author",
];

/// The tests a condition holds, but the ones that nest, each with its type.
fn condition_tests() -> Map<String, Value> {
    let names = json!({"type": "array", "items": {"type": "string"}});
    let of = |kind: &str| json!({ "type": kind });
    let mut tests: Map<String, Value> = LIST_TESTS
        .into_iter()
        .map(|key| (key.to_string(), names.clone()))
        .collect();
    for (key, schema) in [
        ("from_bot", of("boolean")),
        ("field", of("string")),
        ("equals", of("string")),
        ("not_equals", of("string")),
        ("in", names.clone()),
        ("contains", of("string")),
        ("regex", of("string")),
        ("exists", of("boolean")),
        ("gt", of("number")),
        ("lt", of("number")),
    ] {
        tests.insert(key.into(), schema);
    }
    tests
}

/// [`conditions`] with no description but the field's own: for `update_command`, whose
/// field says they are as `add_command` takes them (each model call carries every tool).
pub fn conditions_undescribed(generator: &mut SchemaGenerator) -> Schema {
    schema_of(undescribed(conditions(generator).to_value()))
}

/// [`options`] with no description but the field's own, for `update_webhook`.
pub fn options_undescribed(generator: &mut SchemaGenerator) -> Schema {
    schema_of(undescribed(options(generator).to_value()))
}

fn schema_of(value: Value) -> Schema {
    Schema::try_from(value).expect("an object schema")
}

/// `schema` with the descriptions of every node in it taken out (a property named
/// `description` stays).
fn undescribed(mut schema: Value) -> Value {
    fn strip(node: &mut Value) {
        let Some(map) = node.as_object_mut() else {
            return;
        };
        map.remove("description");
        for (key, child) in map.iter_mut() {
            match child {
                Value::Object(properties) if key == "properties" => {
                    properties.values_mut().for_each(strip);
                }
                Value::Array(items) => items.iter_mut().for_each(strip),
                child => strip(child),
            }
        }
    }
    strip(&mut schema);
    schema
}

/// A payload to test with: any JSON object, which no schema every model API takes can say
/// (Gemini refuses an object without `properties`, and `additionalProperties`), so it is
/// asked for as JSON text; an object given as one is taken too.
pub fn json_text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string"})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every object in `schema` lists its properties, however deep.
    fn objects_have_properties(schema: &Value, at: &str) -> Result<(), String> {
        let Some(node) = schema.as_object() else {
            return Ok(());
        };
        if node.get("type") == Some(&json!("object")) {
            let listed = node
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            if !listed {
                return Err(format!("{at} is an object without properties"));
            }
        }
        for (key, child) in node {
            match child {
                Value::Array(items) => {
                    for item in items {
                        objects_have_properties(item, &format!("{at}.{key}"))?;
                    }
                }
                child => objects_have_properties(child, &format!("{at}.{key}"))?,
            }
        }
        Ok(())
    }

    #[test]
    fn every_object_lists_its_properties() {
        let mut generator = SchemaGenerator::default();
        for (name, schema) in [
            ("target", target(&mut generator)),
            ("options", options(&mut generator)),
            ("conditions", conditions(&mut generator)),
        ] {
            let schema = schema.to_value();
            assert_eq!(objects_have_properties(&schema, name), Ok(()), "{schema}");
        }
    }

    #[test]
    fn the_listed_keys_are_the_ones_the_service_takes() {
        use crate::engine::command::Target;
        use crate::providers::ProviderOptions;

        let mut generator = SchemaGenerator::default();
        let keys = |schema: &Value, at: &str| -> Vec<String> {
            schema
                .pointer(at)
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        };
        // A value for every listed key: the service's own types take them all.
        let target = target(&mut generator).to_value();
        let mut all: Map<String, Value> = keys(&target, "/properties")
            .into_iter()
            .map(|k| (k, json!("x")))
            .collect();
        let headers: Map<String, Value> = keys(&target, "/properties/headers/properties")
            .into_iter()
            .map(|k| (k, json!("x")))
            .collect();
        all.insert("headers".into(), Value::Object(headers));
        let taken =
            serde_json::from_value::<Target>(Value::Object(all)).expect("every target key taken");
        assert_eq!(taken.headers.len(), 1, "{taken:?}");

        let options = options(&mut generator).to_value();
        let mut all = Map::new();
        all.insert("tolerance_secs".into(), json!(60));
        all.insert("ip_allowlist".into(), json!(["10.0.0.0/8"]));
        all.insert("rate_limit".into(), json!({"per_second": 5, "burst": 10}));
        let texts = |at: &str| -> Value {
            keys(&options, at)
                .into_iter()
                .map(|k| (k, json!("x")))
                .collect::<Map<_, _>>()
                .into()
        };
        all.insert(
            "credentials".into(),
            texts("/properties/credentials/properties"),
        );
        let mut custom = texts("/properties/custom/properties");
        custom["mode"] = json!("hmac");
        custom["encoding"] = json!("hex");
        all.insert("custom".into(), custom);
        assert_eq!(
            keys(&options, "/properties").len(),
            all.len(),
            "a value for each"
        );
        serde_json::from_value::<ProviderOptions>(Value::Object(all))
            .expect("every option key taken");

        let conditions = conditions(&mut generator).to_value();
        for key in keys(&conditions, "/properties") {
            let value = match conditions.pointer(&format!("/properties/{key}/type")) {
                Some(t) if t == "array" && key != "all" && key != "any" => json!(["x"]),
                Some(t) if t == "array" => json!([{"labels": ["x"]}]),
                Some(t) if t == "object" => json!({"labels": ["x"]}),
                Some(t) if t == "boolean" => json!(true),
                Some(t) if t == "number" => json!(1),
                _ => json!("x"),
            };
            let mut one = json!({ key.clone(): value });
            // `field` and its tests go together.
            let standalone = [
                "labels",
                "label",
                "body_contains",
                "channel",
                "sender",
                "author",
                "from_bot",
                "all",
                "any",
                "not",
            ];
            if key == "field" {
                one["exists"] = json!(true);
            } else if !standalone.contains(&key.as_str()) {
                one["field"] = json!("issue.title");
            }
            crate::engine::conditions::Conditions::compile(&one)
                .unwrap_or_else(|e| panic!("{key}: {e:?} for {one}"));
        }
    }
}
