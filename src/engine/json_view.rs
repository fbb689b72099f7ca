//! A read-only view of a JSON payload for templates: a node is turned into a template value only
//! when a template reaches it, so rendering `{{issue.title}}` costs one lookup, not a copy of a
//! 30 KB payload per fired command.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde_json::Value as Json;

/// The template value for `root`: plain values directly, objects and arrays as lazy views.
pub fn view(root: &Arc<Json>) -> Value {
    value_at(root, Vec::new())
}

/// A node of a shared payload, named by its path from the root.
struct Node {
    root: Arc<Json>,
    path: Vec<Step>,
}

#[derive(Clone)]
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
        let mut node = &*self.root;
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
        value_at(&self.root, path)
    }
}

fn value_at(root: &Arc<Json>, path: Vec<Step>) -> Value {
    let node = Node {
        root: Arc::clone(root),
        path,
    };
    match node.json() {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or(f64::NAN))),
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(_) | Json::Object(_) => Value::from_object(node),
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
                map.contains_key(key)
                    .then(|| self.child(Step::Key(key.into())))
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
