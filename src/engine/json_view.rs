//! A read-only view of a JSON payload for templates: a node is turned into a template value only
//! when a template reaches it, so rendering `{{issue.title}}` costs one lookup, not a copy of a
//! 30 KB payload per fired command.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde_json::Value as Json;

use crate::actions::slack_markup;
use crate::providers::slack;

/// The template value for `root`: plain values directly, objects and arrays as lazy views.
pub fn view(root: &Arc<Json>) -> Value {
    value_at(&Root::new(root), Vec::new(), Strings::AsSent)
}

/// [`view`] of a Jira payload: an issue keeps its attributes under `fields`
/// (`issue.fields.summary`), and one asked for on the issue itself (`issue.summary`, as
/// configurations are often written) is read from there when the issue has no such key.
pub fn view_lifting_fields(root: &Arc<Json>) -> Value {
    let root = Arc::new(Root {
        lift_fields: true,
        ..Root::plain(root)
    });
    value_at(&root, Vec::new(), Strings::AsSent)
}

/// The view of a Slack event's payload for text going back to Slack: the text Slack escaped
/// (see [`slack::is_escaped_text`]) as it came, and every other string (a name, a rich-text
/// element's words) escaped the same way, so the whole payload reads as Slack's message text
/// and a display name of `<!channel>` cannot become a mention when quoted into a reply.
pub fn view_for_slack(root: &Arc<Json>) -> Value {
    value_at(&Root::new(root), Vec::new(), Strings::SlackText)
}

/// The view of a Slack event's payload for text going anywhere but Slack: the text Slack
/// escaped read as the plain text people saw ([`slack_markup::to_plain`]), and every other
/// string (a name, a file's title, sent as typed) as it came, so a name such as
/// `Tom & Jerry <tj@x.io>` is not taken for Slack markup.
pub fn view_as_plain(root: &Arc<Json>) -> Value {
    value_at(&Root::new(root), Vec::new(), Strings::Plain)
}

/// A payload shared by the nodes of one view, with the long strings they have given: a
/// template that loops over a sender's list while printing a sender's long text would copy
/// (or read as plain text) that text again on every pass, work that the fuel, which counts
/// steps, not bytes, does not bound.
struct Root {
    json: Arc<Json>,
    strings: Mutex<HashMap<Vec<Step>, Value>>,
    /// A key an object lacks is looked for in its `fields` object (see
    /// [`view_lifting_fields`]).
    lift_fields: bool,
}

impl Root {
    fn new(json: &Arc<Json>) -> Arc<Root> {
        Arc::new(Root::plain(json))
    }

    fn plain(json: &Arc<Json>) -> Root {
        Root {
            json: Arc::clone(json),
            strings: Mutex::default(),
            lift_fields: false,
        }
    }
}

/// The object whose keys a view lifting fields reads on its parent.
const FIELDS: &str = "fields";

/// Strings at least this long are kept once given (shorter ones cost less to give again).
const KEPT_FROM: usize = 256;

/// How a view gives its strings.
#[derive(Debug, Clone, Copy)]
enum Strings {
    AsSent,
    SlackText,
    Plain,
}

/// A node of a shared payload, named by its path from the root.
struct Node {
    root: Arc<Root>,
    path: Vec<Step>,
    strings: Strings,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Step {
    Key(Arc<str>),
    Index(usize),
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.json().fmt(f)
    }
}

impl Node {
    fn json(&self) -> &Json {
        let mut node = &*self.root.json;
        for step in &self.path {
            node = match (step, node) {
                (Step::Key(k), Json::Object(map)) => &map[&**k],
                (Step::Index(i), Json::Array(items)) => &items[*i],
                _ => unreachable!("a path is only ever built from nodes that exist"),
            };
        }
        node
    }

    fn child(&self, step: Step) -> Value {
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.extend(self.path.iter().cloned());
        path.push(step);
        value_at(&self.root, path, self.strings)
    }

    /// Whether this string node is text Slack escaped already.
    fn escaped_by_slack(&self) -> bool {
        let keys: Vec<&str> = self
            .path
            .iter()
            .filter_map(|step| match step {
                Step::Key(k) => Some(&**k),
                Step::Index(_) => None,
            })
            .collect();
        let parent = Node {
            root: Arc::clone(&self.root),
            path: self.path[..self.path.len().saturating_sub(1)].to_vec(),
            strings: self.strings,
        };
        match (self.path.last(), parent.json()) {
            (Some(Step::Key(_)), Json::Object(map)) => slack::is_escaped_text(&keys, map),
            _ => false,
        }
    }
}

fn value_at(root: &Arc<Root>, path: Vec<Step>, strings: Strings) -> Value {
    let node = Node {
        root: Arc::clone(root),
        path,
        strings,
    };
    if let Json::String(s) = node.json()
        && s.len() >= KEPT_FROM
    {
        let kept = root
            .strings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&node.path)
            .cloned();
        if let Some(kept) = kept {
            return kept;
        }
        let given = string_value(&node, s, strings);
        root.strings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.path.clone(), given.clone());
        return given;
    }
    match node.json() {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or(f64::NAN))),
        Json::String(s) => string_value(&node, s, strings),
        Json::Array(_) | Json::Object(_) => Value::from_object(node),
    }
}

/// The string `s` at `node`, as the view gives its strings.
fn string_value(node: &Node, s: &str, strings: Strings) -> Value {
    match strings {
        Strings::SlackText if !node.escaped_by_slack() => {
            Value::from(slack_markup::escape(s).as_ref())
        }
        Strings::Plain if node.escaped_by_slack() => Value::from(slack_markup::to_plain(s)),
        Strings::AsSent | Strings::SlackText | Strings::Plain => Value::from(s),
    }
}

impl Object for Node {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.json() {
            Json::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.json() {
            Json::Object(map) => {
                let key = key.as_str()?;
                if map.contains_key(key) {
                    return Some(self.child(Step::Key(key.into())));
                }
                let lifted = self.root.lift_fields
                    && map
                        .get(FIELDS)
                        .and_then(Json::as_object)
                        .is_some_and(|fields| fields.contains_key(key));
                lifted.then(|| {
                    let mut path = self.path.clone();
                    path.extend([Step::Key(FIELDS.into()), Step::Key(key.into())]);
                    value_at(&self.root, path, self.strings)
                })
            }
            Json::Array(items) => {
                let index = usize::try_from(key.as_i64()?).ok()?;
                (index < items.len()).then(|| self.child(Step::Index(index)))
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.json() {
            Json::Object(map) => {
                Enumerator::Values(map.keys().map(|k| Value::from(k.as_str())).collect())
            }
            Json::Array(items) => Enumerator::Seq(items.len()),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.json() {
            Json::Object(map) => Some(map.len()),
            Json::Array(items) => Some(items.len()),
            _ => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use minijinja::Environment;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_long_string_read_on_every_pass_of_a_loop_is_given_the_same_each_time() {
        // A sender's long text printed inside a loop over a sender's list: given once, then
        // handed out again (each pass copied, or read as plain text, the whole of it).
        let long = "R&amp;D <https://x.example|docs> ".repeat(2_000);
        let payload = json!({"event": {"type": "message", "text": long,
                                       "blocks": vec![json!({}); 2_000]}});
        let template =
            "{% for b in event.blocks %}{{ event.text[:7] }}{% endfor %}|{{ event.text | length }}";
        let env = Environment::new();
        let root = Arc::new(payload);
        for view in [view(&root), view_as_plain(&root), view_for_slack(&root)] {
            let rendered = env
                .render_str(
                    template,
                    minijinja::context! { event => view.get_attr("event").unwrap() },
                )
                .unwrap();
            let (passes, length) = rendered.split_once('|').unwrap();
            assert_eq!(passes.len(), 7 * 2_000, "{}", &passes[..30]);
            assert!(length.parse::<usize>().unwrap() > 30_000, "{length}");
        }
    }

    /// The view must render exactly as minijinja's own conversion of the same JSON does.
    #[test]
    fn renders_like_a_full_conversion() {
        let payload = json!({
            "issue": {"title": "Crash", "number": 42, "labels": [{"name": "bug"}, {"name": "p1"}],
                      "draft": false, "assignee": null, "score": 1.5, "big": u64::MAX},
            "empty": {}, "none": [],
        });
        let cases = [
            "{{ issue.title }} #{{ issue.number }}",
            "{{ issue.labels | map(attribute='name') | join(', ') }}",
            "{% for l in issue.labels %}{{ loop.index }}={{ l.name }};{% endfor %}",
            "{{ issue.labels | length }} {{ issue | length }} {{ empty | length }}",
            "{% if empty %}full{% else %}empty{% endif %} {% if none %}x{% else %}y{% endif %}",
            "{% if issue.draft %}d{% endif %}{{ issue.assignee is none }}",
            "{{ issue.score }} {{ issue.big }} {{ issue.labels[1].name }} {{ issue['title'] }}",
            "{{ issue }} {{ issue.labels }}",
            "{% for k, v in issue | dictsort %}{{ k }};{% endfor %}",
            "{{ issue.labels | first }} {{ 'labels' in issue }} {{ 'x' in issue }}",
            "{{ issue.labels is sequence }} {{ issue is mapping }}",
        ];
        let env = Environment::new();
        let lazy = view(&Arc::new(payload.clone()));
        let full = Value::from(minijinja::value::Serde(&payload));
        for source in cases {
            let tmpl = env.template_from_str(source).unwrap();
            assert_eq!(
                tmpl.render(&lazy).unwrap(),
                tmpl.render(&full).unwrap(),
                "{source}"
            );
        }
    }

    #[test]
    fn missing_keys_and_indexes_are_undefined() {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let lazy = view(&Arc::new(json!({"a": [1], "o": {"k": 1}})));
        for source in ["{{ b }}", "{{ a[3] }}", "{{ o.missing }}", "{{ a.k }}"] {
            let tmpl = env.template_from_str(source).unwrap();
            assert!(tmpl.render(&lazy).is_err(), "{source}");
        }
    }
}
