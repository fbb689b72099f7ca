//! Templates: the text a command renders from an event (`{{issue.title}}`), with minijinja.
//! Checked for syntax when a command is saved; rendered with strict undefined, so a typo in a
//! variable name is an error rather than an empty string in a comment on someone's issue.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest template source accepted when saving.
pub const MAX_SOURCE_LEN: usize = 16 * 1024;
/// Longest rendered output; longer output is an error, not a truncated comment.
pub const MAX_OUTPUT_LEN: usize = 64 * 1024;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Webhook payloads are untrusted data and the output goes to markdown, not HTML.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// The variables a template sees: the payload's own top-level fields (`{{issue.title}}`), the
/// whole payload as `payload`, the event's metadata (id, type, provider, received_at, source)
/// as `event` and again as `delivery`, and the webhook (id, name, provider) as `webhook`.
/// When the payload has a top-level field of the same name (Slack's `event`), the payload's
/// wins and the metadata stays reachable as `delivery`.
pub fn context(payload: &Value, event: Value, webhook: Value) -> Value {
    let mut ctx = match payload {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    ctx.insert("payload".into(), payload.clone());
    ctx.insert("delivery".into(), event.clone());
    ctx.entry("event").or_insert(event);
    ctx.entry("webhook").or_insert(webhook);
    Value::Object(ctx)
}

/// Most operators, filters, tests and attribute steps one `{{ }}` or `{% %}` tag may hold.
/// minijinja parses and drops expressions recursively: a long enough chain (`- - - … 1`)
/// overflows a 2 MiB thread stack and aborts the process, so such tags are refused up front.
const MAX_TAG_COMPLEXITY: usize = 200;

/// Why a template's tags are too deeply chained to parse safely, if they are.
fn too_complex(source: &str) -> Option<String> {
    let mut rest = source;
    while let Some(start) = rest.find("{{").into_iter().chain(rest.find("{%")).min() {
        let body = &rest[start + 2..];
        let end = body
            .find("}}")
            .into_iter()
            .chain(body.find("%}"))
            .min()
            .unwrap_or(body.len());
        let tag = &body[..end];
        let symbols = tag.chars().filter(|c| "-+*/%~|.(".contains(*c)).count();
        let words = tag
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .filter(|w| matches!(*w, "not" | "is" | "and" | "or" | "in" | "if" | "else"))
            .count();
        if symbols + words > MAX_TAG_COMPLEXITY {
            return Some(format!(
                "a template tag chains more than {MAX_TAG_COMPLEXITY} operators, filters or \
                 attributes; split it up"
            ));
        }
        rest = &body[end..];
    }
    None
}

/// Checks that `source` parses; the message points at the problem.
pub fn validate(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE_LEN {
        return Err(format!("template is longer than {MAX_SOURCE_LEN} bytes"));
    }
    if let Some(why) = too_complex(source) {
        return Err(why);
    }
    let env = environment();
    env.template_from_str(source)
        .map(|_| ())
        .map_err(|e| format!("template does not parse: {e}"))
}

/// Renders `source` over `context`. Parsed templates are kept per thread, keyed by their
/// text, so the receive path parses a command's template once, not once per event.
pub fn render(source: &str, context: &impl Serialize) -> Result<String, String> {
    thread_local! {
        static CACHE: std::cell::RefCell<(Environment<'static>, std::collections::HashMap<String, String>)> =
            std::cell::RefCell::new((environment(), Default::default()));
    }
    CACHE.with(|cell| {
        let mut cache = cell.borrow_mut();
        let (env, names) = &mut *cache;
        let name = match names.get(source) {
            Some(name) => name.clone(),
            None => {
                // Bounded: commands change rarely, but templates tried by tests or
                // test_webhook must not grow the cache without end.
                if source.len() > MAX_SOURCE_LEN {
                    return Err(format!("template is longer than {MAX_SOURCE_LEN} bytes"));
                }
                if let Some(why) = too_complex(source) {
                    return Err(why);
                }
                if names.len() >= 512 {
                    *env = environment();
                    names.clear();
                }
                let name = "template".to_string();
                let name = format!("{name}{}", names.len() + 1);
                env.add_template_owned(name.clone(), source.to_string())
                    .map_err(|e| format!("template does not parse: {e}"))?;
                names.insert(source.to_string(), name.clone());
                name
            }
        };
        let template = env
            .get_template(&name)
            .map_err(|e| format!("template does not parse: {e}"))?;
        let out = template
            .render(minijinja::value::Serde(context))
            .map_err(|e| format!("template failed: {e}"))?;
        if out.len() > MAX_OUTPUT_LEN {
            return Err(format!(
                "template output is {} bytes, more than the {MAX_OUTPUT_LEN} allowed",
                out.len()
            ));
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_render_payload_fields() {
        let ctx = json!({"issue": {"title": "Crash", "body": "<b>x</b>"}});
        let cases = [
            (
                "Analyze issue: {{issue.title}}\n\n{{issue.body}}",
                "Analyze issue: Crash\n\n<b>x</b>",
            ),
            ("{{ issue.title | upper }}", "CRASH"),
            ("{% if issue.title %}yes{% endif %}", "yes"),
        ];
        for (source, expected) in cases {
            assert_eq!(render(source, &ctx).as_deref(), Ok(expected), "{source}");
        }
    }

    #[test]
    fn undefined_variables_and_bad_syntax_are_errors() {
        let ctx = json!({"issue": {"title": "Crash"}});
        assert!(render("{{ isue.title }}", &ctx).is_err());
        assert!(validate("{{ issue.title ").is_err());
        assert!(validate("{% if x %}unclosed").is_err());
        assert!(validate("Hello {{ issue.title }}").is_ok());
    }

    #[test]
    fn context_exposes_payload_metadata_and_webhook() {
        let meta = json!({"id": "evt_1", "type": "issues.opened"});
        let hook = json!({"id": "gh", "name": "GitHub"});
        let ctx = context(
            &json!({"issue": {"title": "T"}}),
            meta.clone(),
            hook.clone(),
        );
        let out = render(
            "{{issue.title}} {{event.type}} {{webhook.id}} {{payload.issue.title}}",
            &ctx,
        );
        assert_eq!(out.as_deref(), Ok("T issues.opened gh T"));
        let slack = context(&json!({"event": {"text": "hi"}}), meta, hook);
        let out = render("{{event.text}} {{delivery.type}}", &slack);
        assert_eq!(out.as_deref(), Ok("hi issues.opened"));
    }

    #[test]
    fn long_operator_chains_are_refused_before_parsing() {
        let deep = format!("{{{{ {}1 }}}}", "-".repeat(5000));
        assert!(validate(&deep).unwrap_err().contains("chains more than"));
        assert!(render(&deep, &json!({})).is_err());
        assert!(validate("{{ a.b.c | upper | lower }} {% if x and not y %}z{% endif %}").is_ok());
    }

    #[test]
    fn oversized_output_is_refused() {
        let ctx = json!({"s": "x".repeat(MAX_OUTPUT_LEN + 1)});
        assert!(render("{{ s }}", &ctx).unwrap_err().contains("more than"));
    }
}
