//! Conditions: the filters a command puts on an event's payload, beyond its trigger. Pure.
//!
//! A conditions object holds any of these keys, all of which must hold:
//! - the forms users write for common sources: `labels` (any of the item's labels), `label`
//!   (the label just added), `body_contains`, `channel`, `sender`, `author` — each a string
//!   or a list of strings (any of), a number standing for its text (a GitLab `author_id`);
//! - a general test on one field: `field` (a dotted path `issue.user.login` or a JSON pointer
//!   `/issue/user/login`) with one or more of `equals`, `not_equals`, `in`, `contains`,
//!   `regex`, `exists`, `gt`, `lt`;
//! - `from_bot`: `false` for events a person caused, `true` for a bot's or an app's (see
//!   [`super::actor`]), so two bots in one channel cannot answer each other without end;
//! - combinators: `all` and `any` (lists of conditions objects) and `not` (one object).
//!
//! Unknown keys are refused when the command is saved, with the key and its path named, and
//! so are forms that could never match what their writer meant ([`check_new`]).
//!
//! Text is compared in Unicode NFC, so `é` sent as `e` and a combining accent (as macOS file
//! names and some editors write it) is the `é` a condition has: a condition's own values are
//! put in NFC when it is compiled, an event's text when it is tested, and only when it is not
//! ASCII (which is NFC already).

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::Value;

use super::actor;
use super::payload::{self, lookup};
use crate::nfc::nfc;

/// Conditions as written (the stored JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    labels: Option<OneOrMany>,
    label: Option<OneOrMany>,
    body_contains: Option<OneOrMany>,
    channel: Option<OneOrMany>,
    sender: Option<OneOrMany>,
    author: Option<OneOrMany>,
    from_bot: Option<YesNo>,
    field: Option<String>,
    #[serde(default, deserialize_with = "present_null")]
    equals: Option<Value>,
    #[serde(default, deserialize_with = "present_null")]
    not_equals: Option<Value>,
    #[serde(rename = "in")]
    in_list: Option<Vec<Value>>,
    contains: Option<Value>,
    regex: Option<String>,
    exists: Option<bool>,
    gt: Option<f64>,
    lt: Option<f64>,
    all: Option<Vec<Spec>>,
    any: Option<Vec<Spec>>,
    not: Option<Box<Spec>>,
}

/// The value of `labels`, `author` and the other user forms: a name or a list of names (any
/// of). A number is taken as its text, as the payload's numbers are when compared: a GitLab
/// `author_id` or `user_id` is a number, and `{"author": 7}` is how people write it.
#[derive(Debug, Clone)]
struct OneOrMany(Vec<String>);

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Not an untagged enum: serde's message for one ("data did not match any variant")
        // names no shape the value may take.
        let value = Value::deserialize(d)?;
        let name = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let names = match &value {
            Value::Array(items) => items.iter().map(name).collect(),
            one => name(one).map(|n| vec![n]),
        };
        names.map(OneOrMany).ok_or_else(|| {
            let given = match &value {
                Value::Array(_) => "a list holding something else".to_string(),
                Value::Object(_) => "an object".to_string(),
                other => other.to_string(),
            };
            serde::de::Error::custom(format!(
                "expected a string, a number or a list of them (e.g. \"bug\" or [\"bug\", 7]), \
                 not {given}"
            ))
        })
    }
}

/// The value of `from_bot`: a JSON boolean only. The text `"false"` is refused, not read as
/// `true` for being there.
#[derive(Debug, Clone, Copy)]
struct YesNo(bool);

impl<'de> Deserialize<'de> for YesNo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(YesNo(b)),
            other => Err(serde::de::Error::custom(format!(
                "expected true or false (false: only events a person caused, not a bot's or \
                 an app's), not {other}"
            ))),
        }
    }
}

/// Conditions checked and ready to evaluate (regexes compiled).
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    tests: Vec<Test>,
}

#[derive(Debug, Clone)]
enum Test {
    Labels(Names),
    LabelAdded(Names),
    BodyContains(Names),
    Channel(Names),
    Sender(Names),
    Author(Names),
    FromBot(bool),
    Field { path: String, op: FieldOp },
    All(Vec<Conditions>),
    Any(Vec<Conditions>),
    Not(Box<Conditions>),
}

/// A user form's names (or texts) as written, for what a report shows, and as compared
/// ([`folded`]), worked out once when the conditions are compiled.
#[derive(Debug, Clone)]
struct Names {
    given: Vec<String>,
    folded: Vec<String>,
}

impl Names {
    fn new(given: Vec<String>, fold: fn(&str) -> String) -> Names {
        let folded = given.iter().map(|n| fold(n)).collect();
        Names { given, folded }
    }
}

#[derive(Debug, Clone)]
enum FieldOp {
    Equals(Value),
    NotEquals(Value),
    In(Vec<Value>),
    Contains(Value),
    Regex(Regex),
    Exists(bool),
    Gt(f64),
    Lt(f64),
}

/// A conditions object that cannot be used; `path` says where (`conditions.any[1].regex`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    pub path: String,
    pub message: String,
}

impl Conditions {
    /// Parses and checks a conditions object (`null` or `{}` means "always").
    pub fn compile(value: &Value) -> Result<Conditions, ConditionError> {
        if value.is_null() {
            return Ok(Conditions::default());
        }
        if !value.is_object() {
            return Err(ConditionError {
                path: "conditions".into(),
                message: "conditions must be a JSON object, e.g. {\"labels\": [\"bug\"]}".into(),
            });
        }
        if let Some(path) = list_for_object(value, "conditions") {
            return Err(ConditionError {
                message: format!(
                    "{path} must be a conditions object, e.g. {{\"labels\": [\"bug\"]}}, not a list"
                ),
                path,
            });
        }
        let spec: Spec = serde_path_to_error::deserialize(value).map_err(|e| {
            let inner = e.inner().to_string();
            let at = e.path().to_string();
            // The path already ends with an unknown key's name.
            let path = if at == "." {
                "conditions".to_string()
            } else {
                format!("conditions.{at}")
            };
            let message = match unknown_key(&inner) {
                Some(key) => format!(
                    "unknown condition key `{key}`; use labels, label, body_contains, channel, \
                     sender, author, from_bot, field (+ equals, not_equals, in, contains, regex, \
                     exists, gt, lt), all, any or not"
                ),
                None if at == "." => format!("invalid conditions: {inner}"),
                // The key in the message too, not only in `field`: often the message is all
                // a caller shows.
                None => format!("invalid `{at}` in conditions: {inner}"),
            };
            ConditionError { path, message }
        })?;
        compile_spec(spec, "conditions")
    }

    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// Whether the payload passes every test.
    pub fn matches(&self, payload: &Value) -> bool {
        self.tests.iter().all(|t| t.matches(payload))
    }

    /// The first test the payload fails, said with what the payload has there; `None` when
    /// it passes them all.
    pub fn unmet(&self, payload: &Value) -> Option<String> {
        self.tests
            .iter()
            .find(|t| !t.matches(payload))
            .map(|t| t.unmet(payload))
    }

    /// Whether only payloads with a value at `path` pass: an `exists: true` test on it, at the
    /// top or in an `all` (however deep). Under `any` or `not` it may be skipped, so those
    /// are not looked into: a `false` means "not for sure", never "not".
    pub fn require(&self, path: &str) -> bool {
        self.require_keys(&keys(path))
    }

    fn require_keys(&self, wanted: &[String]) -> bool {
        self.tests.iter().any(|t| match t {
            Test::Field {
                path,
                op: FieldOp::Exists(true),
            } => keys(path) == wanted,
            Test::All(items) => items.iter().any(|c| c.require_keys(wanted)),
            _ => false,
        })
    }
}

/// What newly saved conditions must also hold, beyond [`Conditions::compile`]: nothing that
/// can never be what its writer meant. Kept out of `compile` because stored commands are
/// compiled through it on every event, and one it refuses is skipped: a command an older
/// build accepted would stop firing, unseen. Runs on conditions that compile.
///
/// Refused: an empty list where one name or value must match (`{"labels": []}`, `in: []`,
/// `any: []`), which no event passes; names joined by commas into one string
/// (`{"labels": "bug,enhancement"}`), which is one name no label, channel or person has; an
/// empty name (`{"labels": ""}`, `[""]`), which none has either, and empty `body_contains`
/// text, found in every body. And the combinators that test nothing: an empty `all`, which
/// every event passes (whatever was meant to go in it went missing), and `not` of conditions
/// that test nothing (`{}`), which no event passes. A name that does hold a comma is still
/// taken in a list (`["Doe, Jane"]`).
pub fn check_new(value: &Value) -> Result<(), ConditionError> {
    let mut patterns = Vec::new();
    regexes_in(value, "conditions", &mut patterns);
    // Counted before any is compiled: each may take a while.
    let regexes = patterns.len();
    if regexes > MAX_REGEXES {
        return Err(ConditionError {
            path: "conditions".into(),
            message: too_many_regexes(regexes),
        });
    }
    for (path, pattern) in &patterns {
        RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| ConditionError {
                path: path.clone(),
                message: regex_error(&e),
            })?;
    }
    check_new_at(value, "conditions")
}

fn too_many_regexes(regexes: usize) -> String {
    format!(
        "these conditions hold {regexes} regex tests; a command may have at most \
         {MAX_REGEXES} (each is compiled and run on every event): join alternatives into one \
         (`a|b`), or use contains, in or equals"
    )
}

/// Regex tests one command's conditions may hold: with [`REGEX_SIZE_LIMIT`], what one
/// command can cost in memory and per event stays bounded.
const MAX_REGEXES: usize = 16;

/// The compiled size a newly saved regex may take (the `regex` crate's default, 10 MiB, still
/// holds for commands saved before). Counted repetition of a Unicode class is what grows:
/// `\w{40}` fits, `\w{100}` does not, while `[A-Za-z0-9_]{100}` or `(?-u:\w){100}` are small.
const REGEX_SIZE_LIMIT: usize = 2 << 20;

/// Every `regex` test's path and pattern, however deep in `all`, `any` and `not`.
fn regexes_in(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    let Some(map) = value.as_object() else {
        return;
    };
    if let Some(pattern) = map.get("regex").and_then(Value::as_str) {
        out.push((format!("{at}.regex"), pattern.to_owned()));
    }
    if let Some(not) = map.get("not") {
        regexes_in(not, &format!("{at}.not"), out);
    }
    for (path, item) in items_of(map, at) {
        regexes_in(item, &path, out);
    }
}

/// The conditions objects in a map's `all` and `any` lists, each with its path.
fn items_of<'a>(map: &'a serde_json::Map<String, Value>, at: &str) -> Vec<(String, &'a Value)> {
    let mut items = Vec::new();
    for key in ["all", "any"] {
        let list = map.get(key).and_then(Value::as_array).into_iter().flatten();
        for (i, item) in list.enumerate() {
            items.push((format!("{at}.{key}[{i}]"), item));
        }
    }
    items
}

/// The keys whose values are names, any of which must match, with the name's noun and what
/// it is matched against; `body_contains` aside, as text looked for in a body may well hold a
/// comma.
const NAME_KEYS: [(&str, &str, &str); 6] = [
    ("labels", "label", "label"),
    ("label", "label", "label"),
    ("channel", "channel", "channel"),
    ("sender", "name", "one"),
    ("author", "name", "one"),
    ("body_contains", "text", "body"),
];

/// Keys whose empty list is refused, with why and what to write instead.
const EMPTY_LISTS: [(&str, &str); 3] = [
    (
        "in",
        "an empty `in` list holds no value to match, so this command would never fire: \
         list the values (e.g. [\"open\", \"reopened\"]), or use `equals` for one",
    ),
    (
        "any",
        "an empty `any` holds no conditions, so none can pass and this command would never \
         fire: give at least one conditions object, or leave `any` out",
    ),
    // Harmless as written, but never what was meant: the conditions to go in it are missing.
    (
        "all",
        "an empty `all` holds no conditions, so it tests nothing and every event passes it: \
         put the conditions that must all hold in it (e.g. [{\"labels\": \"bug\"}, \
         {\"from_bot\": false}]), or leave `all` out",
    ),
];

fn check_new_at(value: &Value, at: &str) -> Result<(), ConditionError> {
    let Some(map) = value.as_object() else {
        return Ok(());
    };
    let refuse = |key: &str, message: String| {
        Err(ConditionError {
            path: format!("{at}.{key}"),
            message,
        })
    };
    for (key, noun, whose) in NAME_KEYS {
        let blank = |v: &Value| match v {
            // A channel is matched without its `#`, so `"#"` names none.
            Value::String(name) if key == "channel" => channel_name(name).is_empty(),
            // Spaces are text to find in a body; an empty name is no one's.
            Value::String(text) if key == "body_contains" => text.is_empty(),
            Value::String(name) => name.trim().is_empty(),
            _ => false,
        };
        let has_blank = match map.get(key) {
            Some(Value::Array(items)) => items.iter().any(blank),
            Some(one) => blank(one),
            None => false,
        };
        if has_blank && key == "body_contains" {
            return refuse(
                key,
                "empty text is found in every body, so this test would let any event with \
                 one through: give the text to look for (e.g. \"@agent\"), or leave \
                 `body_contains` out to not test it"
                    .into(),
            );
        }
        if has_blank {
            return refuse(
                key,
                format!(
                    "an empty {noun} matches no {whose}: write each {noun} in full (e.g. {}), \
                     or leave `{key}` out to not test it",
                    example_list(key)
                ),
            );
        }
        match map.get(key) {
            Some(Value::Array(items)) if items.is_empty() => {
                return refuse(
                    key,
                    format!(
                        "an empty `{key}` list matches no event, so this command would never \
                         fire: give at least one {noun} (e.g. {}), or leave `{key}` out to not \
                         test it",
                        example_list(key)
                    ),
                );
            }
            Some(Value::String(joined)) if key != "body_contains" && joined.contains(',') => {
                let names: Vec<String> = joined
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| Value::String(n.into()).to_string())
                    .collect();
                return refuse(
                    key,
                    format!(
                        "`{joined}` is taken as one {noun}, comma and all, so it matches none \
                         of those it names; to match any of them give a list: [{}] (a {noun} \
                         whose own name holds a comma goes in a list alone: [{}])",
                        names.join(", "),
                        Value::String(joined.clone())
                    ),
                );
            }
            _ => {}
        }
    }
    for (key, why) in EMPTY_LISTS {
        if map
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            return refuse(key, why.into());
        }
    }
    for (path, item) in items_of(map, at) {
        check_new_at(item, &path)?;
        // In `any` it passes every event, so the `any` always holds; in `all` it is a test
        // gone missing. Either way something meant was lost, often by a proxy that checks
        // arguments against the tool's schema (mcpo) and drops the keys it does not list.
        if Conditions::compile(item).is_ok_and(|c| c.is_empty()) {
            return Err(ConditionError {
                message: format!(
                    "`{path}` tests nothing ({item}): an `any` holding it always holds, and an \
                     `all` loses whatever was meant to be in it; give its tests (e.g. \
                     {{\"labels\": [\"bug\"]}}) or leave it out. Through a proxy that checks \
                     the tool's schema (such as mcpo), keys it does not list are dropped: \
                     nest `all`, `any` and `not` no more than one level deep there"
                ),
                path,
            });
        }
    }
    if let Some(inner) = map.get("not").filter(|v| !v.is_null()) {
        check_new_at(inner, &format!("{at}.not"))?;
        // `{}` (or keys all null) passes every event, so its `not` passes none.
        if Conditions::compile(inner).is_ok_and(|c| c.is_empty()) {
            return refuse(
                "not",
                "`not` holds conditions that test nothing, which every event passes, so no \
                 event passes the `not` and this command would never fire: put the conditions \
                 to exclude in it (e.g. {\"not\": {\"labels\": [\"wontfix\"]}}), or leave \
                 `not` out"
                    .into(),
            );
        }
    }
    Ok(())
}

fn example_list(key: &str) -> &'static str {
    match key {
        "labels" | "label" => "[\"bug\", \"enhancement\"]",
        "channel" => "[\"C0123ABCD\"]",
        "body_contains" => "[\"@agent\"]",
        _ => "[\"alice\", \"bob\"]",
    }
}

/// A dotted path or JSON pointer as its keys, so `merge_request.iid` and `/merge_request/iid`
/// name the same field.
fn keys(path: &str) -> Vec<String> {
    match path.strip_prefix('/') {
        Some(pointer) => pointer
            .split('/')
            .map(|k| k.replace("~1", "/").replace("~0", "~"))
            .collect(),
        // As `lookup` reads it written as a template writes it: `payload.` first, `[0]`.
        None => path
            .strip_prefix("payload.")
            .unwrap_or(path)
            .replace('[', ".")
            .replace(']', "")
            .split('.')
            .map(str::to_string)
            .collect(),
    }
}

/// Where a list stands for a nested conditions object (`not`, or an item of `all`/`any`):
/// serde would read it as the object's fields in order.
fn list_for_object(value: &Value, at: &str) -> Option<String> {
    let map = value.as_object()?;
    if let Some(not) = map.get("not") {
        let at = format!("{at}.not");
        if not.is_array() {
            return Some(at);
        }
        if let Some(found) = list_for_object(not, &at) {
            return Some(found);
        }
    }
    for key in ["all", "any"] {
        for (i, item) in map
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{at}.{key}[{i}]");
            if item.is_array() {
                return Some(at);
            }
            if let Some(found) = list_for_object(item, &at) {
                return Some(found);
            }
        }
    }
    None
}

fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => format!(
            "this regex compiles too big (over {} MiB): a Unicode class such as `\\w` or `\\d` \
             repeated many times (`\\w{{100}}`) is; repeat fewer, or use an ASCII class \
             (`[A-Za-z0-9_]{{100}}`, `(?-u:\\w){{100}}`)",
            limit >> 20
        ),
        other => format!("invalid regex: {other}"),
    }
}

fn unknown_key(serde_message: &str) -> Option<&str> {
    let rest = serde_message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn compile_spec(spec: Spec, at: &str) -> Result<Conditions, ConditionError> {
    let err = |key: &str, message: String| ConditionError {
        path: format!("{at}.{key}"),
        message,
    };
    let mut tests = Vec::new();
    let by_name = |name: &str| folded(name).into_owned();
    let by_channel = |name: &str| folded(&channel_name(name)).into_owned();
    let lists = [
        (
            spec.labels,
            Test::Labels as fn(Names) -> Test,
            by_name as fn(&str) -> String,
        ),
        (spec.label, Test::LabelAdded, by_name),
        (spec.body_contains, Test::BodyContains, by_name),
        (spec.channel, Test::Channel, by_channel),
        (spec.sender, Test::Sender, by_name),
        (spec.author, Test::Author, by_name),
    ];
    for (value, make, fold) in lists {
        if let Some(v) = value {
            tests.push(make(Names::new(v.into_vec(), fold)));
        }
    }
    if let Some(YesNo(want)) = spec.from_bot {
        tests.push(Test::FromBot(want));
    }

    let mut ops = Vec::new();
    // `equals: null` asks for a field that is not set: null or absent, as `exists: false`.
    match spec.equals {
        Some(Value::Null) => ops.push(FieldOp::Exists(false)),
        Some(v) => ops.push(FieldOp::Equals(nfc_value(v))),
        None => {}
    }
    match spec.not_equals {
        Some(Value::Null) => ops.push(FieldOp::Exists(true)),
        Some(v) => ops.push(FieldOp::NotEquals(nfc_value(v))),
        None => {}
    }
    if let Some(v) = spec.in_list {
        ops.push(FieldOp::In(v.into_iter().map(nfc_value).collect()));
    }
    if let Some(v) = spec.contains {
        ops.push(FieldOp::Contains(nfc_value(v)));
    }
    if let Some(v) = spec.regex {
        // The crate's own limit: a command saved before this build's smaller one still runs
        // (new ones are held to it by `check_new`).
        let re = Regex::new(&v).map_err(|e| err("regex", regex_error(&e)))?;
        ops.push(FieldOp::Regex(re));
    }
    if let Some(v) = spec.exists {
        ops.push(FieldOp::Exists(v));
    }
    if let Some(v) = spec.gt {
        ops.push(FieldOp::Gt(v));
    }
    if let Some(v) = spec.lt {
        ops.push(FieldOp::Lt(v));
    }
    match (spec.field, ops.is_empty()) {
        (Some(path), false) => {
            if path.trim().is_empty() {
                return Err(err("field", "field is empty".into()));
            }
            // A JSON pointer may name an empty key (`/a//b`); a dotted path cannot.
            if !path.starts_with('/') && path.split('.').any(str::is_empty) {
                return Err(err(
                    "field",
                    format!(
                        "field `{path}` has an empty segment between dots; for a key that is \
                         empty or holds dots, use a JSON pointer such as `/a/b.c`"
                    ),
                ));
            }
            tests.extend(ops.into_iter().map(|op| Test::Field {
                path: path.clone(),
                op,
            }));
        }
        (Some(_), true) => {
            return Err(err(
                "field",
                "`field` needs a test: equals, not_equals, in, contains, regex, exists, gt or lt"
                    .into(),
            ));
        }
        (None, false) => {
            return Err(err(
                "field",
                "a field test (equals, in, regex, ...) needs `field`: the dotted path or JSON \
                 pointer of the value to test"
                    .into(),
            ));
        }
        (None, true) => {}
    }

    for (key, list, make) in [
        ("all", spec.all, Test::All as fn(Vec<Conditions>) -> Test),
        ("any", spec.any, Test::Any),
    ] {
        if let Some(items) = list {
            let compiled = items
                .into_iter()
                .enumerate()
                .map(|(i, s)| compile_spec(s, &format!("{at}.{key}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            tests.push(make(compiled));
        }
    }
    if let Some(inner) = spec.not {
        tests.push(Test::Not(Box::new(compile_spec(
            *inner,
            &format!("{at}.not"),
        )?)));
    }
    Ok(Conditions { tests })
}

/// A short, quoted JSON rendering of what a payload has, for a test's report.
fn shown(value: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    crate::quote::quoted(&text).into_owned()
}

impl Test {
    /// Why `p` fails this test, in the words of the condition and what `p` has.
    fn unmet(&self, p: &Value) -> String {
        let listed = |key: &str, want: &Names, have: Vec<String>| {
            format!(
                "`{key}` wants one of {}, the event has {}",
                shown(&want.given),
                shown(&have)
            )
        };
        match self {
            Test::Labels(want) => listed("labels", want, payload::labels(p)),
            Test::LabelAdded(want) => format!(
                "`label` wants one of {} just added (an `issues.labeled` event or the like), \
                 the event added {}",
                shown(&want.given),
                shown(&payload::labels_added(p))
            ),
            Test::BodyContains(want) => format!(
                "`body_contains`: none of {} is in the event's text",
                shown(&want.given)
            ),
            Test::Channel(want) => listed("channel", want, payload::channels(p)),
            Test::Sender(want) => listed("sender", want, payload::senders(p)),
            Test::Author(want) => listed("author", want, payload::authors(p)),
            Test::FromBot(want) => format!(
                "`from_bot` wants {want}, and the event is {}",
                if *want {
                    "a person's"
                } else {
                    "a bot's or an app's"
                }
            ),
            Test::Field { path, op } => {
                let have = lookup(p, path).map_or("nothing there".to_string(), shown);
                format!("`field` `{path}` {}, the event has {have}", op.wanted())
            }
            Test::All(items) => items
                .iter()
                .find_map(|c| c.unmet(p))
                .map_or_else(|| "`all`".into(), |why| format!("in `all`: {why}")),
            Test::Any(_) => "none of `any`'s conditions holds".into(),
            Test::Not(_) => "`not`'s conditions hold".into(),
        }
    }

    fn matches(&self, p: &Value) -> bool {
        match self {
            Test::Labels(want) => any_equal(&payload::labels(p), want),
            Test::LabelAdded(want) => any_equal(&payload::labels_added(p), want),
            Test::BodyContains(want) => {
                let bodies = payload::bodies(p);
                let bodies: Vec<Cow<'_, str>> = bodies.iter().map(|b| folded(b)).collect();
                want.folded
                    .iter()
                    .any(|w| bodies.iter().any(|b| b.contains(w.as_str())))
            }
            Test::Channel(want) => {
                let have: Vec<String> = payload::channels(p)
                    .iter()
                    .map(|c| channel_name(c))
                    .collect();
                any_equal(&have, want)
            }
            Test::Sender(want) => any_equal(&payload::senders(p), want),
            Test::Author(want) => any_equal(&payload::authors(p), want),
            Test::FromBot(want) => actor::from_bot(p) == *want,
            Test::Field { path, op } => op.matches(lookup(p, path)),
            Test::All(items) => items.iter().all(|c| c.matches(p)),
            Test::Any(items) => items.iter().any(|c| c.matches(p)),
            Test::Not(inner) => !inner.matches(p),
        }
    }
}

impl FieldOp {
    /// What the test asks of the value, as its condition says it.
    fn wanted(&self) -> String {
        match self {
            FieldOp::Equals(v) => format!("`equals` {}", shown(v)),
            FieldOp::NotEquals(v) => format!("`not_equals` {}", shown(v)),
            FieldOp::In(list) => format!("`in` {}", shown(list)),
            FieldOp::Contains(v) => format!("`contains` {}", shown(v)),
            FieldOp::Regex(re) => format!("`regex` {}", shown(&re.as_str())),
            FieldOp::Exists(want) => format!("`exists` {want}"),
            FieldOp::Gt(n) => format!("`gt` {n}"),
            FieldOp::Lt(n) => format!("`lt` {n}"),
        }
    }

    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            FieldOp::Exists(want) => value.is_some_and(|v| !v.is_null()) == *want,
            FieldOp::NotEquals(expected) => !value.is_some_and(|v| loosely_equal(v, expected)),
            FieldOp::Equals(expected) => value.is_some_and(|v| loosely_equal(v, expected)),
            FieldOp::In(list) => value.is_some_and(|v| list.iter().any(|e| loosely_equal(v, e))),
            FieldOp::Contains(needle) => match value {
                Some(Value::Array(items)) => items.iter().any(|i| loosely_equal(i, needle)),
                // A number or flag is looked for as its text (`5` in "Fix bug 5").
                Some(Value::String(s)) => {
                    payload::as_text(needle).is_some_and(|n| nfc(s).contains(&*n))
                }
                _ => false,
            },
            FieldOp::Regex(re) => value
                .and_then(payload::as_text)
                .is_some_and(|s| re.is_match(&nfc(&s))),
            FieldOp::Gt(limit) => value.and_then(as_number).is_some_and(|n| n > *limit),
            FieldOp::Lt(limit) => value.and_then(as_number).is_some_and(|n| n < *limit),
        }
    }
}

/// JSON equality, except that a string and a number or boolean compare by their text, so
/// `{"equals": 42}` matches `"42"` as senders are inconsistent about it.
/// `b` is a condition's own value, already in NFC ([`nfc_value`]); `a`, the event's, is put
/// in NFC here when it is text that is not.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    if let Value::String(text) = a
        && let Cow::Owned(normal) = nfc(text)
    {
        return loosely_equal(&Value::String(normal), b);
    }
    // `1` and `1.0` are one number; two integers are compared whole above, as a float would
    // take two large ones for the same.
    if let (Value::Number(x), Value::Number(y)) = (a, b)
        && (x.is_f64() || y.is_f64())
    {
        return x.as_f64() == y.as_f64();
    }
    match (payload::as_text(a), payload::as_text(b)) {
        (Some(x), Some(y)) if !a.is_object() && !b.is_object() => x == y,
        _ => false,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Names compared in any case, beyond ASCII too (`Ärger` and `ärger` are one label), and in
/// NFC; `want` is folded already, when the conditions were compiled.
fn any_equal(have: &[String], want: &Names) -> bool {
    have.iter().any(|h| {
        let h = folded(h);
        want.folded.iter().any(|w| *w == *h)
    })
}

/// Text as names and `body_contains` compare it: in NFC and lower case (`Gro\u{308}ße` and
/// `größe` are one). Lowercasing is `char::to_lowercase`, not full case folding: `ß` and
/// `SS` stay two.
fn folded(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return match text.bytes().any(|b| b.is_ascii_uppercase()) {
            true => Cow::Owned(text.to_ascii_lowercase()),
            false => Cow::Borrowed(text),
        };
    }
    // Lowercase letters can compose where the capitals did not: NFC again after.
    let lowered = nfc(text).to_lowercase();
    match nfc(&lowered) {
        Cow::Borrowed(_) => Cow::Owned(lowered),
        Cow::Owned(normal) => Cow::Owned(normal),
    }
}

/// A field test's own value with its text in NFC (that of the strings in a list or object
/// too), once, when the conditions are compiled.
fn nfc_value(value: Value) -> Value {
    match value {
        Value::String(text) => match nfc(&text) {
            Cow::Owned(normal) => Value::String(normal),
            Cow::Borrowed(_) => Value::String(text),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(nfc_value).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (nfc(&k).into_owned(), nfc_value(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A field's test value as given, `null` too (serde would take `null` for left out).
fn present_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Slack and users write channels with or without `#`.
fn channel_name(c: &str) -> String {
    c.trim().trim_start_matches('#').to_ascii_lowercase()
}

#[cfg(test)]
#[path = "conditions_tests.rs"]
mod tests;
