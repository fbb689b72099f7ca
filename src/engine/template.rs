//! Templates: the text a command renders from an event (`{{issue.title}}`), with minijinja.
//! Checked for syntax when a command is saved; rendered with strict undefined, so a typo in a
//! variable name is an error rather than an empty string in a comment on someone's issue.
//! Text bound for Slack renders its printed values escaped, and Slack's own text bound
//! elsewhere renders as plain text (see [`Escape`]).

use std::fmt::Write as _;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Serde};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

use super::json_view;
use crate::actions::slack_markup;

/// Longest template source accepted when saving.
pub const MAX_SOURCE_LEN: usize = 16 * 1024;
/// Longest rendered output kept, in bytes. Longer output is an error from [`render`] and
/// [`render_as`]; [`render_cut`] keeps its start and counts what followed. Four bytes for each
/// of the 65,536 characters a GitHub comment takes, so that text in a script of two, three or
/// four bytes a character is not cut shorter than its place would cut it.
pub const MAX_OUTPUT_LEN: usize = 256 * 1024;
/// Bytes kept of the output just past the bound: enough to tell whether the last character
/// kept is the start of one the reader sees as one with what follows (a flag's half, a letter
/// before its accent, an emoji before a joiner).
const LOOKAHEAD: usize = 32;
/// Instructions one render may run. Templates render on the receive path, and anyone who may
/// save a command (an agent too) could otherwise write nested loops that hold a worker thread
/// for hours; a comment over a payload with thousands of labels still needs far fewer.
pub const MAX_FUEL: u64 = 200_000;

/// Most values one printed or serialised value may hold, nested ones counted, and how deep
/// they may nest. Fuel counts a template's instructions, not the work of printing what they
/// built: a list that holds itself twice, doubled forty times, costs forty instructions and
/// would print for days, and a list nested thousands deep overflows the stack when printed.
const MAX_SHOWN_VALUES: usize = 200_000;
const MAX_SHOWN_DEPTH: usize = 160;
/// Most text (strings and map keys, each counted where it is held) one printed, serialised,
/// joined, sorted or compared value may hold. A list costs a slot per item however long the
/// string in it, so `[issue.body] * 1000` is cheap to make and a gigabyte to print, hash or
/// sort; eight times the default body limit leaves a payload of that size printable whole.
const MAX_SHOWN_BYTES: usize = 8 * 1024 * 1024;

/// Most nested macro calls, includes and recursive loops.
const MAX_RECURSION: usize = 16;

/// How the values a template prints are escaped, chosen by where its text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Escape {
    /// Printed as they are: the text goes to markdown or plain text (GitHub, GitLab, Jira,
    /// Linear, other chats, an agent's prompt), where Slack's `<…>` markup means nothing.
    Plain,
    /// `&`, `<` and `>` written as `&amp;`, `&lt;` and `&gt;`, as Slack asks of message text:
    /// unescaped, an issue titled `<!channel>` pings a whole channel and `<https://x|click>`
    /// is a disguised link. The template's own text, and values piped through `|safe`, are
    /// printed as written, so its author may still write `<!here>` or `<{{ url }}|link>`.
    Slack,
    /// The other way: the values are a Slack event's and the text goes where Slack's markup
    /// means nothing: rendered over the payload read as plain text (see
    /// [`json_view::view_as_plain`]), so Slack's own text reads as the people saw it
    /// (`R&amp;D <https://x|docs>` as `R&D docs (https://x)`; see [`slack_markup::to_plain`])
    /// and a name sent as typed stays as typed, whatever it holds; printed whole, through
    /// `tojson` or `|safe` the same. A context made by [`slack_event_context`] has that view;
    /// any other renders as [`Escape::Plain`].
    FromSlack,
    /// A Slack event's values printed as they are into text going back to Slack: rendered
    /// over the payload as Slack's escaped text throughout (see
    /// [`json_view::view_for_slack`]), so a message's text keeps its mentions and links while
    /// a name or a rich-text element's words, sent as typed, are escaped. A context made by
    /// [`slack_event_context`] has that view; any other renders as [`Escape::Plain`].
    BackToSlack,
    /// Each value percent-encoded, as a path segment or query value takes it: a forward's
    /// templated URL, where a sender's `../admin` or `x?y#z` must stay one value and never
    /// reach another path of the same host (with the same `Authorization`). Only the
    /// template's own text is written as it is: a value marked safe is encoded too.
    Url,
}

/// The auto-escape modes of the templates rendered with [`Escape::Slack`] and
/// [`Escape::FromSlack`], and the prefixes of their names in the per-thread environment (the
/// auto-escape callback sees only the name).
const SLACK: &str = "slack";
const FROM_SLACK: &str = "fromslack";
/// The same for [`Escape::Url`].
const URL: &str = "url";

/// minijinja's functions templates here do not have (see [`environment`]).
const REMOVED_GLOBALS: [&str; 2] = ["namespace", "debug"];

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(MAX_FUEL));
    env.set_recursion_limit(MAX_RECURSION);
    // `namespace` is the one way a loop carries a value from one pass to the next, which is
    // how a template builds values nested thousands deep (their printing, comparing and even
    // freeing recurse, and overflow the stack). A comment has no need of it.
    // `debug()` prints the environment: the names of the other templates kept with this one.
    for removed in REMOVED_GLOBALS {
        env.remove_global(removed);
    }
    // The filters that print a whole value, checked first like `{{ value }}` is.
    // minijinja's own `tojson` and `pprint` also charge 15/64 of a fuel per byte they write
    // (the public ones called here do not): that would stop `{{ payload | tojson }}` of a
    // payload near 1 MiB, which prints whole otherwise. Their text is still charged as any
    // filter's result is, and bounded by `check_shown`.
    env.add_filter(
        "tojson",
        |state: &minijinja::State,
         value: &minijinja::Value,
         indent: Option<minijinja::Value>,
         args: minijinja::value::Kwargs| {
            check_shown(state, value, "to print")?;
            minijinja::filters::tojson(value, indent, args)
        },
    );
    env.add_filter(
        "pprint",
        |state: &minijinja::State, value: &minijinja::Value| {
            check_shown(state, value, "to print")?;
            Ok::<_, minijinja::Error>(minijinja::filters::pprint(value))
        },
    );
    env.add_filter(
        "string",
        |state: &minijinja::State, value: &minijinja::Value| {
            // A null is nothing, as printed alone (see the formatter below).
            if value.is_none() {
                return Ok(minijinja::Value::from(""));
            }
            check_shown(state, value, "to print")?;
            minijinja::filters::string(state, value)
        },
    );
    env.add_filter("safe", |value: &minijinja::Value| {
        if value.is_undefined() {
            // A misspelt name stays an error, as printed alone.
            Err(minijinja::Error::from(minijinja::ErrorKind::UndefinedError))
        } else if value.is_none() {
            Ok(minijinja::Value::from_safe_string(String::new()))
        } else {
            Ok(minijinja::filters::safe(value.to_string()))
        }
    });
    checked_work_filters(&mut env);
    // Webhook payloads are untrusted data and the output goes to markdown, not HTML; only
    // Slack, whose message text has markup of its own, needs values escaped.
    env.set_auto_escape_callback(|name| {
        if name.starts_with(SLACK) {
            minijinja::AutoEscape::Custom(SLACK.into())
        } else if name.starts_with(FROM_SLACK) {
            minijinja::AutoEscape::Custom(FROM_SLACK.into())
        } else if name.starts_with(URL) {
            minijinja::AutoEscape::Custom(URL.into())
        } else {
            minijinja::AutoEscape::None
        }
    });
    // A field the sender gives as null (GitHub's `issue.body` for an issue with no
    // description) prints as nothing, not as the word `none` in someone's comment.
    env.set_formatter(|out, state, value| {
        let escape = printed_as(state, value);
        if value.is_none() {
            Ok(())
        } else if let Some(text) = document_text(value) {
            // A Jira body in Atlassian Document Format prints as its words, not as JSON.
            write_text(out, escape, &text)
        } else {
            check_shown(state, value, "to print")?;
            if let Some(json) = compact_json(value) {
                // People reading a comment or a forward's body expect JSON, not the
                // Python-style repr (`{'kind': 'x'}`) minijinja prints maps and lists as.
                // JSON is data: only Slack's own escaping is applied to it.
                match escape {
                    Escape::Slack => SlackEscaped(out).write_str(&json),
                    Escape::Url => out.write_str(&url_encoded(&json)),
                    Escape::Plain | Escape::FromSlack | Escape::BackToSlack => out.write_str(&json),
                }
                .map_err(minijinja::Error::from)
            } else {
                match escape {
                    Escape::Slack => {
                        write!(SlackEscaped(out), "{value}").map_err(minijinja::Error::from)
                    }
                    Escape::FromSlack => write!(out, "{value}").map_err(minijinja::Error::from),
                    // As JSON writes it (`true`), which APIs' query values take, not Python's.
                    Escape::Url => out
                        .write_str(&url_encoded(&if value.kind()
                            == minijinja::value::ValueKind::Bool
                        {
                            value.is_true().to_string()
                        } else {
                            value.to_string()
                        }))
                        .map_err(minijinja::Error::from),
                    Escape::Plain | Escape::BackToSlack => {
                        minijinja::escape_formatter(out, state, value)
                    }
                }
            }
        }
    });
    env
}

/// How a printed value is escaped: as its template's mode says, unless marked safe.
fn printed_as(state: &minijinja::State, value: &minijinja::Value) -> Escape {
    // In a URL every value is encoded, safe or not, and whatever `{% autoescape %}` says:
    // `tojson` and `escape` mark what they make safe for HTML, which says nothing of a path
    // (`"/../admin"` would climb it). Told by the template's name, which no tag changes.
    if state.name().starts_with(URL) {
        return Escape::Url;
    }
    match state.auto_escape() {
        _ if value.is_safe() => Escape::Plain,
        minijinja::AutoEscape::Custom(m) if m == SLACK => Escape::Slack,
        minijinja::AutoEscape::Custom(m) if m == FROM_SLACK => Escape::FromSlack,
        _ => Escape::Plain,
    }
}

/// Text printed as `escape` says.
fn write_text(
    out: &mut minijinja::Output<'_>,
    escape: Escape,
    text: &str,
) -> Result<(), minijinja::Error> {
    match escape {
        Escape::Plain | Escape::BackToSlack | Escape::FromSlack => out.write_str(text),
        Escape::Slack => SlackEscaped(out).write_str(text),
        Escape::Url => out.write_str(&url_encoded(text)),
    }
    .map_err(minijinja::Error::from)
}

/// `text` as one path segment or query value, whatever it holds: RFC 3986's unreserved
/// characters kept, all else percent-encoded; `.` and `..` alone, a segment's own names for
/// here and up, written out too.
fn url_encoded(text: &str) -> String {
    match text {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => crate::actions::encode_segment(text),
    }
}

/// Writes through to `out` with `&`, `<` and `>` escaped as Slack asks.
struct SlackEscaped<'a, 'b>(&'a mut minijinja::Output<'b>);

impl std::fmt::Write for SlackEscaped<'_, '_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write_str(&slack_markup::escape(s))
    }
}

/// Output kept up to `MAX_OUTPUT_LEN` bytes. Past that it is refused, or, when `counting`,
/// its characters are counted and dropped: memory stays bounded, and the render's fuel (which
/// output consumes too) bounds how long it may go on.
struct Bounded {
    kept: Vec<u8>,
    /// The first bytes past the bound.
    next: Vec<u8>,
    counting: bool,
    /// Whether anything was written past the bound.
    past: bool,
    /// The characters written past it: its bytes that start one (not UTF-8 continuations).
    chars_past: usize,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = MAX_OUTPUT_LEN.saturating_sub(self.kept.len());
        let (keep, rest) = buf.split_at(buf.len().min(room));
        self.kept.extend_from_slice(keep);
        if !rest.is_empty() {
            let room = LOOKAHEAD.saturating_sub(self.next.len());
            self.next.extend_from_slice(&rest[..rest.len().min(room)]);
            self.past = true;
            if !self.counting {
                return Err(std::io::Error::other("template output too long"));
            }
            self.chars_past += rest.iter().filter(|b| (**b & 0xC0) != 0x80).count();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The built-in filters whose work grows with the text of the value they are given, not only
/// its number of items (minijinja's fuel counts items here): `join` builds it into one string,
/// `unique` hashes it, `sort`, `min`, `max` and the tests `select` and its kin may run compare
/// it. Each is checked as a printed value is, then run as built in.
fn checked_work_filters(env: &mut Environment<'static>) {
    use minijinja::value::{Kwargs, Rest};
    use minijinja::{Error, State, Value};
    use std::borrow::Cow;
    env.add_filter(
        "join",
        |state: &mut State,
         value: &Value,
         joiner: Option<minijinja::value::StringInput<'_>>,
         attribute: Option<&str>,
         kwargs: Kwargs| {
            check_shown(state, value, "for `join`")?;
            minijinja::filters::join(state, value, joiner, attribute, kwargs)
        },
    );
    env.add_filter(
        "unique",
        |state: &State, value: Value, kwargs: Kwargs| -> Result<Value, Error> {
            check_shown(state, &value, "for `unique`")?;
            minijinja::filters::unique(state, value, kwargs)
        },
    );
    env.add_filter(
        "sort",
        |state: &State, value: Value, kwargs: Kwargs| -> Result<Value, Error> {
            check_shown(state, &value, "for `sort`")?;
            minijinja::filters::sort(state, value, kwargs)
        },
    );
    env.add_filter(
        "min",
        |state: &State, value: Value, kwargs: Kwargs| -> Result<Value, Error> {
            check_shown(state, &value, "for `min`")?;
            minijinja::filters::min(state, value, kwargs)
        },
    );
    env.add_filter(
        "max",
        |state: &State, value: Value, kwargs: Kwargs| -> Result<Value, Error> {
            check_shown(state, &value, "for `max`")?;
            minijinja::filters::max(state, value, kwargs)
        },
    );
    type Args = Rest<minijinja::value::ValueOrKwargs>;
    env.add_filter(
        "select",
        |state: &mut State, value: Value, test: Option<Cow<'_, str>>, args: Args| {
            check_shown(state, &value, "for `select`")?;
            minijinja::filters::select(state, value, test, args)
        },
    );
    env.add_filter(
        "reject",
        |state: &mut State, value: Value, test: Option<Cow<'_, str>>, args: Args| {
            check_shown(state, &value, "for `reject`")?;
            minijinja::filters::reject(state, value, test, args)
        },
    );
    env.add_filter(
        "selectattr",
        |state: &mut State,
         value: Value,
         attr: Cow<'_, str>,
         test: Option<Cow<'_, str>>,
         args: Args| {
            check_shown(state, &value, "for `selectattr`")?;
            minijinja::filters::selectattr(state, value, attr, test, args)
        },
    );
    env.add_filter(
        "rejectattr",
        |state: &mut State,
         value: Value,
         attr: Cow<'_, str>,
         test: Option<Cow<'_, str>>,
         args: Args| {
            check_shown(state, &value, "for `rejectattr`")?;
            minijinja::filters::rejectattr(state, value, attr, test, args)
        },
    );
    env.add_filter(
        "urlencode",
        |state: &State, value: &Value| -> Result<String, Error> {
            check_shown(state, value, "for `urlencode`")?;
            minijinja::filters::urlencode(value)
        },
    );
}

/// Refuses a value too large or too deeply nested to print (or to give a filter that works
/// through all of it; `purpose` says which, as `to print` or ``for `join` ``): counted without
/// recursion, and at most `MAX_SHOWN_VALUES` looked at, however large the value claims to be;
/// its text counted where it is held, so a string a list holds a thousand times counts a
/// thousand times. The walk is charged to the render's fuel as minijinja charges the items and
/// bytes it visits, so a loop cannot repeat it over a large payload without end.
fn check_shown(
    state: &minijinja::State,
    value: &minijinja::Value,
    purpose: &str,
) -> Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    let too_much = |what: &str| {
        Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!(
                "the value is {what} {purpose} (at most {MAX_SHOWN_VALUES} values and {} MiB \
                 of text, nested {MAX_SHOWN_DEPTH} deep)",
                MAX_SHOWN_BYTES / (1024 * 1024)
            ),
        ))
    };
    let mut pending = vec![(value.clone(), 0usize)];
    let (mut seen, mut bytes) = (0usize, 0usize);
    while let Some((value, depth)) = pending.pop() {
        seen += 1;
        if seen > MAX_SHOWN_VALUES {
            return too_much("too large");
        }
        if depth > MAX_SHOWN_DEPTH {
            return too_much("nested too deep");
        }
        match value.kind() {
            ValueKind::String => bytes += value.as_str().map_or(0, str::len),
            ValueKind::Bytes => bytes += value.as_bytes().map_or(0, <[u8]>::len),
            // Items are taken one at a time and the count checked as they come: a list
            // repeated lazily (`[1] * 100000000`) costs nothing to make, and taking it whole
            // would build all of it.
            ValueKind::Seq | ValueKind::Iterable => {
                if let Ok(items) = value.try_iter() {
                    for item in items {
                        if seen + pending.len() >= MAX_SHOWN_VALUES {
                            return too_much("too large");
                        }
                        pending.push((item, depth + 1));
                    }
                }
            }
            ValueKind::Map => {
                if let Ok(keys) = value.try_iter() {
                    for key in keys {
                        if seen + pending.len() >= MAX_SHOWN_VALUES {
                            return too_much("too large");
                        }
                        bytes += key.as_str().map_or(0, str::len);
                        if let Ok(item) = value.get_item(&key) {
                            pending.push((item, depth + 1));
                        }
                    }
                }
            }
            _ => {}
        }
        if bytes > MAX_SHOWN_BYTES {
            return too_much("too large");
        }
        if pending.len() > MAX_SHOWN_VALUES {
            return too_much("too large");
        }
    }
    // Half a fuel per value (minijinja's cost of visiting an item) and one per 64 bytes.
    state.consume_fuel(seen as u64 / 2 + bytes as u64 / 64)
}

/// A map or list as compact JSON (`{"kind":"issue"}`), or `None` for any other value and
/// for one JSON cannot hold (a map keyed by lists, built in the template), which prints as
/// it did before. Unlike `tojson`, meant for HTML, it leaves `<`, `>`, `&` and `'` as they are.
fn compact_json(value: &minijinja::Value) -> Option<String> {
    use minijinja::value::ValueKind;
    if !matches!(
        value.kind(),
        ValueKind::Map | ValueKind::Seq | ValueKind::Iterable
    ) {
        return None;
    }
    serde_json::to_string(value).ok()
}

/// The text of an Atlassian Document Format value (`{"type": "doc", ...}`).
fn document_text(value: &minijinja::Value) -> Option<String> {
    let is_doc = value
        .get_attr("type")
        .ok()
        .is_some_and(|t| t.as_str() == Some("doc"));
    if !is_doc {
        return None;
    }
    let json = serde_json::to_value(value).ok()?;
    super::payload::document_text(&json)
}

/// The context a template renders with: the payload's top-level fields (so `{{issue.title}}`
/// works), the payload itself as `payload`, our event metadata as `delivery` (and as `event`
/// unless the payload has its own `event`, as Slack's does), and the webhook as `webhook`
/// (always ours: a sender's own `webhook` field is `payload.webhook`, so it cannot pass
/// itself off as another webhook). The payload is viewed in place, not copied.
pub fn context(payload: &Arc<Value>, event: Value, webhook: Value) -> minijinja::Value {
    minijinja::Value::from_object(EventContext::as_sent(payload, &event, &webhook))
}

/// The context of a Jira event's payload: as [`context`], an issue's attributes also read on
/// the issue itself (`issue.summary` for `issue.fields.summary`) where it has no such key.
pub fn jira_context(payload: &Arc<Value>, event: Value, webhook: Value) -> minijinja::Value {
    minijinja::Value::from_object(EventContext {
        root: json_view::view_lifting_fields(payload),
        ..EventContext::as_sent(payload, &event, &webhook)
    })
}

/// The context of a Slack event's payload (one Slack escaped, not an interaction's typed
/// fields): as [`context`], and beside it the same read as Slack's text for
/// [`Escape::BackToSlack`], and read as plain text for [`Escape::FromSlack`].
pub fn slack_event_context(payload: &Arc<Value>, event: Value, webhook: Value) -> minijinja::Value {
    let for_slack = EventContext {
        root: json_view::view_for_slack(payload),
        payload: Arc::clone(payload),
        delivery: json_view::view_for_slack(&Arc::new(event.clone())),
        webhook: json_view::view_for_slack(&Arc::new(webhook.clone())),
        for_slack: None,
        as_plain: None,
        lift_event: true,
    };
    // Our own metadata (the webhook's name) is no Slack text: it reads as it is.
    let as_plain = EventContext {
        root: json_view::view_as_plain(payload),
        lift_event: true,
        ..EventContext::as_sent(payload, &event, &webhook)
    };
    minijinja::Value::from_object(EventContext {
        for_slack: Some(minijinja::Value::from_object(for_slack)),
        as_plain: Some(minijinja::Value::from_object(as_plain)),
        lift_event: true,
        ..EventContext::as_sent(payload, &event, &webhook)
    })
}

/// The context a template in `escape`'s mode renders over.
fn context_for(context: &minijinja::Value, escape: Escape) -> minijinja::Value {
    let views = context.downcast_object_ref::<EventContext>();
    let view = match escape {
        Escape::BackToSlack => views.and_then(|c| c.for_slack.clone()),
        // A URL takes a Slack event's values as typed, not as Slack escapes them.
        Escape::FromSlack | Escape::Url => views.and_then(|c| c.as_plain.clone()),
        Escape::Plain | Escape::Slack => None,
    };
    view.unwrap_or_else(|| context.clone())
}

/// A template context made of plain JSON, for previews and tests.
pub fn json_context(json: &Value) -> minijinja::Value {
    json_view::view(&Arc::new(json.clone()))
}

#[derive(Debug)]
struct EventContext {
    payload: Arc<Value>,
    root: minijinja::Value,
    delivery: minijinja::Value,
    webhook: minijinja::Value,
    /// A Slack event's context read as Slack's text (see [`slack_event_context`]).
    for_slack: Option<minijinja::Value>,
    /// A Slack event's context read as plain text (see [`slack_event_context`]).
    as_plain: Option<minijinja::Value>,
    /// A Slack event callback's top-level key that is not there is read from its `event`
    /// (`{{text}}` for `{{event.text}}`), as configurations are often written: a slash
    /// command's fields are top-level, and the event's are one level down.
    lift_event: bool,
}

impl EventContext {
    /// The payload and our metadata as sent, with no Slack view beside them.
    fn as_sent(payload: &Arc<Value>, event: &Value, webhook: &Value) -> Self {
        EventContext {
            root: json_view::view(payload),
            payload: Arc::clone(payload),
            delivery: minijinja::Value::from(Serde(event)),
            webhook: minijinja::Value::from(Serde(webhook)),
            for_slack: None,
            as_plain: None,
            lift_event: false,
        }
    }

    /// `key` of the payload's `event`, for a top-level key the payload lacks (see
    /// `lift_event`).
    fn of_event(&self, key: &str) -> Option<minijinja::Value> {
        if !self.lift_event {
            return None;
        }
        self.payload.get("event")?.as_object()?.get(key)?;
        self.root.get_attr("event").ok()?.get_attr(key).ok()
    }
}

impl Object for EventContext {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let key = key.as_str()?;
        let field = || {
            self.payload
                .get(key)
                .and_then(|_| self.root.get_attr(key).ok())
        };
        match key {
            "payload" => Some(self.root.clone()),
            "delivery" => Some(self.delivery.clone()),
            "event" => field().or_else(|| Some(self.delivery.clone())),
            "webhook" => Some(self.webhook.clone()),
            _ => field().or_else(|| self.of_event(key)),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<&str> = match &*self.payload {
            Value::Object(map) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        for ours in ["payload", "delivery", "event", "webhook"] {
            if !keys.contains(&ours) {
                keys.push(ours);
            }
        }
        Enumerator::Values(keys.into_iter().map(minijinja::Value::from).collect())
    }
}

/// Most operators, filters, tests and attribute steps one `{{ }}` or `{% %}` tag may hold.
/// minijinja parses and drops expressions recursively: a long enough chain (`- - - … 1`)
/// overflows a 2 MiB thread stack and aborts the process, so such tags are refused up front.
const MAX_TAG_COMPLEXITY: usize = 200;
/// Deepest nesting of brackets and calls in a tag: the parser recurses for each (a dozen
/// stack frames a level), and a value written nested deep is one printed nested deep.
const MAX_NESTING: usize = 16;
/// Most brackets and calls in a whole template, which bounds how deep values built from them
/// can nest across `set`s.
const MAX_BRACKETS: usize = 1024;

/// Why a template's tags are too deeply chained to parse safely, if they are. The template
/// is read by minijinja's own tokenizer (which does not recurse), so a tag is what the parser
/// will see: not a `{{` inside a comment or a raw block, nor a `}}` inside a string.
fn too_complex(source: &str) -> Option<String> {
    use minijinja::machinery::{Token, tokenize};
    let (mut in_tag, mut nesting, mut opened) = (0, 0usize, 0usize);
    let mut after_block_start = false;
    for token in tokenize(source, false, minijinja::syntax::SyntaxConfig::default()) {
        // The parser stops at the same error, so nothing after it is parsed.
        let Ok((token, _)) = token else {
            break;
        };
        match token {
            Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => {
                nesting += 1;
                opened += 1;
            }
            Token::ParenClose | Token::BracketClose | Token::BraceClose => {
                nesting = nesting.saturating_sub(1)
            }
            _ => {}
        }
        if nesting > MAX_NESTING {
            return Some(format!(
                "a template nests brackets or calls more than {MAX_NESTING} deep; split it up"
            ));
        }
        if opened > MAX_BRACKETS {
            return Some(format!(
                "a template opens more than {MAX_BRACKETS} brackets or calls; split it up"
            ));
        }
        if after_block_start
            && let Token::Ident(word) = token
            && matches!(word, "include" | "import" | "from" | "extends")
        {
            // Every template rendered on a thread is kept in its environment under a made-up
            // name: one that named another could print another webhook's template.
            return Some(format!(
                "a template cannot `{word}` another: write what it needs in this one"
            ));
        }
        after_block_start = matches!(token, Token::BlockStart);
        let chains = match token {
            Token::VariableStart | Token::BlockStart => {
                in_tag = 0;
                nesting = 0;
                false
            }
            Token::Ident(word) => {
                matches!(word, "not" | "is" | "and" | "or" | "in" | "if" | "else")
            }
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::FloorDiv
            | Token::Pow
            | Token::Mod
            | Token::Tilde
            | Token::Pipe
            | Token::Dot
            | Token::Eq
            | Token::Ne
            | Token::Gt
            | Token::Gte
            | Token::Lt
            | Token::Lte
            | Token::ParenOpen
            | Token::BracketOpen
            | Token::BraceOpen => true,
            _ => false,
        };
        if chains {
            in_tag += 1;
            if in_tag > MAX_TAG_COMPLEXITY {
                return Some(format!(
                    "a template tag chains more than {MAX_TAG_COMPLEXITY} operators, filters or \
                     attributes; split it up"
                ));
            }
        }
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
        .map_err(|e| format!("template does not parse: {}", described(&e, source)))
}

/// Checks that every filter, test and function `source` (which [`validate`] took) names
/// exists: minijinja looks them up only when it reaches them, so a misspelt one
/// (`{{ title | uper }}`) fails every delivery whatever its payload, however well the samples
/// render the rest. For a template given anew: one saved before this check still runs, and
/// fails where it always did.
pub fn check_names(source: &str) -> Result<(), String> {
    use minijinja::machinery::{Instruction, get_compiled_template};
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|e| format!("template does not parse: {}", described(&e, source)))?;
    let compiled = get_compiled_template(&template);
    let parts = std::iter::once(&compiled.instructions).chain(compiled.blocks.values());
    let instructions: Vec<_> = parts
        .flat_map(|part| (0..).map_while(move |i| part.get(i).map(|ins| (part, i, ins))))
        .collect();
    // Names the template gives values to (`{% set %}`, a loop's variable, a macro): calling
    // one of them is no call of an unknown function.
    let own: Vec<&str> = instructions
        .iter()
        .filter_map(|(_, _, ins)| match ins {
            Instruction::StoreLocal(name) => Some(*name),
            _ => None,
        })
        .collect();
    let mut state = env.empty_state();
    for (part, at, ins) in instructions {
        let missing = match ins {
            Instruction::ApplyFilter(name, ..) => {
                let known = !matches!(
                    state.apply_filter(name, &[]),
                    Err(e) if e.kind() == minijinja::ErrorKind::UnknownFilter
                );
                (!known).then_some(("filter", *name))
            }
            Instruction::PerformTest(name, ..) => {
                let known = !matches!(
                    state.perform_test(name, &[]),
                    Err(e) if e.kind() == minijinja::ErrorKind::UnknownTest
                );
                (!known).then_some(("test", *name))
            }
            Instruction::CallFunction(name, _) => {
                let known = env.globals().any(|(global, _)| global == *name)
                    || own.contains(name)
                    || matches!(*name, "super" | "loop" | "caller");
                (!known).then_some(("function", *name))
            }
            _ => None,
        };
        if let Some((kind, name)) = missing {
            let line = part
                .get_line(at)
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            if REMOVED_GLOBALS.contains(&name) {
                return Err(format!(
                    "template uses the function `{name}`, which templates here do not have{line}: \
                     a delivery would fail on it"
                ));
            }
            return Err(format!(
                "template uses the {kind} `{}`, which does not exist{line}: a delivery would \
                 fail on it; see minijinja's built-in {kind}s (e.g. {})",
                crate::quote::quoted(name),
                match kind {
                    "filter" => "upper, lower, title, default, join, length, trim, replace, tojson",
                    "test" => "defined, none, string, number, startingwith, in",
                    _ => "range, dict",
                }
            ));
        }
    }
    Ok(())
}

/// Renders `source` over `context`, its values printed as they are.
pub fn render(source: &str, context: &minijinja::Value) -> Result<String, String> {
    render_as(source, context, Escape::Plain)
}

/// Renders `source` over `context`, its printed values escaped as `escape` says; output
/// longer than `MAX_OUTPUT_LEN` is an error.
pub fn render_as(
    source: &str,
    context: &minijinja::Value,
    escape: Escape,
) -> Result<String, String> {
    let rendered = render_bounded(source, context, escape, false)?;
    match rendered.left_out {
        None => Ok(rendered.text),
        Some(_) => Err(format!(
            "template output is more than the {MAX_OUTPUT_LEN} bytes allowed"
        )),
    }
}

/// A render whose output may have been cut where it reached `MAX_OUTPUT_LEN`.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The output, or its start (ending on a character boundary) when cut.
    pub text: String,
    pub left_out: Option<LeftOut>,
}

/// What followed the kept start of a cut render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeftOut {
    pub chars: usize,
    /// The render ran out of fuel past the cut, so more might have followed.
    pub at_least: bool,
}

/// Renders like [`render_as`], but output past `MAX_OUTPUT_LEN` is left out rather than an
/// error: for text a reader still takes when cut (a comment quoting a long issue), not for a
/// body that would no longer parse. The render still runs to its end, counting what it left
/// out, so a template error after the cut is still an error.
pub fn render_cut(
    source: &str,
    context: &minijinja::Value,
    escape: Escape,
) -> Result<Rendered, String> {
    render_bounded(source, context, escape, true)
}

/// Renders, keeping `MAX_OUTPUT_LEN` bytes of output and refusing or (`counting`) counting the
/// rest. Parsed templates are kept per thread, keyed by their text and escaping (which
/// minijinja fixes when it parses), so the receive path parses a command's template once, not
/// once per event.
fn render_bounded(
    source: &str,
    context: &minijinja::Value,
    escape: Escape,
    counting: bool,
) -> Result<Rendered, String> {
    type Names = std::collections::HashMap<(Escape, String), String>;
    thread_local! {
        static CACHE: std::cell::RefCell<(Environment<'static>, Names)> =
            std::cell::RefCell::new((environment(), Default::default()));
    }
    CACHE.with(|cell| {
        let mut cache = cell.borrow_mut();
        let (env, names) = &mut *cache;
        let key = (escape, source.to_string());
        let name = match names.get(&key) {
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
                let prefix = match escape {
                    Escape::Plain | Escape::BackToSlack => "template",
                    Escape::Slack => SLACK,
                    Escape::FromSlack => FROM_SLACK,
                    Escape::Url => URL,
                };
                let name = format!("{prefix}{}", names.len() + 1);
                env.add_template_owned(name.clone(), source.to_string())
                    .map_err(|e| format!("template does not parse: {}", described(&e, source)))?;
                names.insert(key, name.clone());
                name
            }
        };
        let template = env
            .get_template(&name)
            .map_err(|e| format!("template does not parse: {}", described(&e, source)))?;
        // Written into a buffer that does not grow past the limit, so that a render making
        // far more output cannot fill memory first.
        let mut out = Bounded {
            kept: Vec::new(),
            next: Vec::new(),
            counting,
            past: false,
            chars_past: 0,
        };
        let mut at_least = false;
        match template.render_captured_to(context_for(context, escape), &mut out) {
            Ok(_) => {}
            // Refused past the bound, or out of fuel making what would have been left out.
            Err(e) if out.past && (!counting || e.kind() == minijinja::ErrorKind::OutOfFuel) => {
                at_least = true;
            }
            Err(e) => return Err(format!("template failed: {}", described(&e, source))),
        }
        // The bound may fall inside a character: it is left out whole.
        let whole = match std::str::from_utf8(&out.kept) {
            Ok(_) => out.kept.len(),
            Err(e) if out.past && e.error_len().is_none() => e.valid_up_to(),
            Err(_) => return Err("template output is not UTF-8".to_string()),
        };
        let split = usize::from(whole < out.kept.len());
        let mut after: Vec<u8> = out.kept.split_off(whole);
        after.extend_from_slice(&out.next);
        let mut text =
            String::from_utf8(out.kept).map_err(|_| "template output is not UTF-8".to_string())?;
        let mut unfinished = 0;
        if out.past {
            // A cut between code points may still split what a reader sees as one character:
            // the last one kept then goes too.
            let after = String::from_utf8_lossy(&after);
            if let Some((at, last)) = text.grapheme_indices(true).next_back() {
                let joined = format!("{last}{after}");
                if joined
                    .graphemes(true)
                    .next()
                    .is_some_and(|g| g.len() > last.len())
                {
                    unfinished = last.chars().count();
                    text.truncate(at);
                }
            }
        }
        Ok(Rendered {
            text,
            left_out: out.past.then_some(LeftOut {
                chars: out.chars_past + split + unfinished,
                at_least,
            }),
        })
    })
}

/// Longest piece of the template an error quotes as where it is.
const MAX_QUOTED: usize = 60;

/// An error as its template's writer can place it: what went wrong, the piece of their
/// template it is at, and its line. minijinja's own text names the template by the name it
/// was stored under (`template9`, `<string>`), which means nothing to them.
fn described(e: &minijinja::Error, source: &str) -> String {
    let mut out = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    let piece = e
        .range()
        .and_then(|r| source.get(r))
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.len() <= MAX_QUOTED && !p.contains('\n'));
    if let Some(piece) = piece {
        out.push_str(&format!(" near `{piece}`"));
    }
    if let Some(line) = e.line().filter(|l| *l > 0) {
        out.push_str(&format!(" (line {line})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_url_templates_values_are_each_one_segment_whatever_they_hold() {
        let ctx = json_context(&json!({
            "owner": "octo-org", "number": 42, "title": "../../admin?x=1#frag",
            "dot": "..", "spaced": "a b/c", "accented": "Zoë", "none": null,
            "labels": ["bug", "p1"], "flag": true,
        }));
        let cases = [
            (
                "/repos/{{ owner }}/issues/{{ number }}",
                "/repos/octo-org/issues/42",
            ),
            ("/x/{{ title }}", "/x/..%2F..%2Fadmin%3Fx%3D1%23frag"),
            ("/x/{{ dot }}/y", "/x/%2E%2E/y"),
            ("/x/{{ spaced }}", "/x/a%20b%2Fc"),
            ("/x/{{ accented }}", "/x/Zo%C3%AB"),
            ("/x?open={{ flag }}", "/x?open=true"),
            ("/x/{{ none }}/y", "/x//y"),
            ("/x?l={{ labels }}", "/x?l=%5B%22bug%22%2C%22p1%22%5D"),
            // The author's own text as written; every value encoded, whatever marks it safe.
            ("/x/{{ spaced | safe }}?a=1&b=2", "/x/a%20b%2Fc?a=1&b=2"),
            (
                "/x/{{ title | tojson }}",
                "/x/%22..%2F..%2Fadmin%3Fx%3D1%23frag%22",
            ),
            ("/x/{{ '/' ~ dot }}", "/x/%2F.."),
        ];
        for (source, want) in cases {
            assert_eq!(
                render_as(source, &ctx, Escape::Url).as_deref(),
                Ok(want),
                "{source}"
            );
        }
    }

    #[test]
    fn a_filter_test_or_function_that_does_not_exist_is_named_and_others_pass() {
        let cases = [
            ("{{ issue.title | upper }}", None),
            ("{{ issue.title | uper }}", Some("the filter `uper`")),
            ("{% if x is defined %}{{ x }}{% endif %}", None),
            (
                "{% if x is definedd %}{{ x }}{% endif %}",
                Some("the test `definedd`"),
            ),
            ("{% for i in range(3) %}{{ i }}{% endfor %}", None),
            ("{{ rnage(3) }}", Some("the function `rnage`")),
            // Functions the template makes itself, and the loop's own recursion.
            ("{% macro m(x) %}[{{ x }}]{% endmacro %}{{ m(1) }}", None),
            ("{% set f = 1 %}{{ f }}", None),
            (
                "{% for i in [[1]] recursive %}{{ loop(i) if i is iterable }}{% endfor %}",
                None,
            ),
            // Removed from the environment, as they must not run.
            (
                "{{ debug() }}",
                Some("`debug`, which templates here do not have"),
            ),
            (
                "{% set ns = namespace(n=0) %}{{ ns.n }}",
                Some("`namespace`, which templates here do not have"),
            ),
            (
                "{% if a %}\n{{ b | nosuchfilter }}{% endif %}",
                Some("(line 2)"),
            ),
            ("{{ x | tojson | safe | string }}", None),
        ];
        for (source, refused) in cases {
            validate(source).expect(source);
            match (check_names(source), refused) {
                (Ok(()), None) => {}
                (Err(e), Some(said)) => assert!(e.contains(said), "{source}: {e}"),
                (got, _) => panic!("{source}: {got:?}"),
            }
        }
    }

    #[test]
    fn an_error_names_the_writers_line_and_words_not_an_internal_template_name() {
        let ctx = json_context(&json!({"issue": {"title": "Crash"}}));
        let cases = [
            render("Hi\n{{ isue.title }}", &ctx).map(|_| ()),
            render_as("{{ isue.title }}", &ctx, Escape::Slack).map(|_| ()),
            validate("{{ issue.title "),
            validate("Hi\n{% if x %}unclosed"),
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let error = case.expect_err("an error");
            assert!(!error.contains("(in "), "{i}: {error}");
            assert!(!error.contains("template1"), "{i}: {error}");
            assert!(!error.contains("<string>"), "{i}: {error}");
            assert!(error.contains("(line "), "{i}: {error}");
        }
        let error = render("Hi\n{{ isue.title }}", &ctx).expect_err("undefined");
        assert!(error.contains("(line 2)"), "{error}");
        assert!(error.contains("`isue.title`"), "{error}");
    }

    #[test]
    fn templates_render_payload_fields() {
        let ctx = json_context(&json!({"issue": {"title": "Crash", "body": "<b>x</b>"}}));
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
    fn nulls_print_as_nothing_and_fields_can_be_written_as_json() {
        let ctx = json_context(&json!({"issue": {
            "title": "Crash when name has \"quotes\"", "body": null,
            "labels": [{"name": "bug"}], "url": "https://x.example/a b",
            "doc": {"type": "doc", "version": 1, "content": [{"type": "paragraph",
                "content": [{"type": "text", "text": "firefox too"}]}]}}}));
        let cases = [
            ("[{{ issue.body }}]", "[]"),
            ("{{ issue.body or 'no description' }}", "no description"),
            (
                r#"{"title": {{ issue.title | tojson }}}"#,
                r#"{"title": "Crash when name has \"quotes\""}"#,
            ),
            ("{{ issue.labels | tojson }}", r#"[{"name": "bug"}]"#),
            ("{{ issue.body | tojson }}", "null"),
            ("{{ issue.url | urlencode }}", "https%3A//x.example/a%20b"),
            // A Jira body in Atlassian Document Format prints as its words.
            ("{{ issue.doc }}", "firefox too"),
        ];
        for (source, expected) in cases {
            assert_eq!(render(source, &ctx).as_deref(), Ok(expected), "{source}");
        }
    }

    #[test]
    fn a_null_printed_through_safe_or_string_is_nothing_too() {
        let ctx = json_context(&json!({"body": null, "title": "<b>"}));
        // A misspelt name is still an error.
        for source in ["{{ tittle | safe }}", "{{ tittle | string }}"] {
            assert!(render(source, &ctx).is_err(), "{source}");
        }
        for (source, want) in [
            ("[{{ body | safe }}]", "[]"),
            ("[{{ body | string }}]", "[]"),
            ("[{{ title | safe }}]", "[<b>]"),
            ("[{{ title | string }}]", "[<b>]"),
        ] {
            assert_eq!(render(source, &ctx).as_deref(), Ok(want), "{source}");
            assert_eq!(
                render_as(source, &ctx, Escape::Slack).as_deref(),
                Ok(if source.contains("title | string") {
                    "[&lt;b&gt;]"
                } else {
                    want
                }),
                "{source}"
            );
        }
    }

    #[test]
    fn maps_and_lists_printed_directly_are_compact_json() {
        let ctx = context(
            &Arc::new(json!({"issue": {
                "labels": ["bug", "urgent"], "none": [], "meta": {},
                "nested": {"a": [1, 2.5, true, null], "b": {"c": "say \"hi\"\n"}},
                "title": "T", "n": 3, "f": 1.5, "yes": true, "body": null,
                "html": {"t": "<b>&'"}}})),
            json!({"id": "evt_1", "source": {"kind": "issue", "number": 7}}),
            json!({"id": "gh"}),
        );
        let cases = [
            ("{{ issue.labels }}", r#"["bug","urgent"]"#),
            ("{{ issue.none }} {{ issue.meta }}", "[] {}"),
            (
                "{{ issue.nested }}",
                r#"{"a":[1,2.5,true,null],"b":{"c":"say \"hi\"\n"}}"#,
            ),
            ("{{ delivery.source }}", r#"{"kind":"issue","number":7}"#),
            // Characters HTML would escape stay as they are: the text is not HTML.
            ("{{ issue.html }}", r#"{"t":"<b>&'"}"#),
            // Built in the template too.
            ("{{ [1, 'a'] }} {{ {'k': none} }}", r#"[1,"a"] {"k":null}"#),
            ("{{ range(3) }}", "[0,1,2]"),
            // Number keys are written as JSON's string keys.
            ("{{ {1: 'a'} }}", r#"{"1":"a"}"#),
            // Scalars print as before: strings bare, booleans as minijinja writes them,
            // null as nothing.
            (
                "{{ issue.title }} {{ issue.n }} {{ issue.f }} {{ issue.yes }} [{{ issue.body }}]",
                "T 3 1.5 True []",
            ),
            // The filters that print whole values are unchanged.
            ("{{ issue.labels | tojson }}", r#"["bug", "urgent"]"#),
            (
                "{{ issue.labels | pprint }}",
                "[\n    'bug',\n    'urgent',\n]",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(render(source, &ctx).as_deref(), Ok(expected), "{source}");
        }
    }

    #[test]
    fn undefined_variables_and_bad_syntax_are_errors() {
        let ctx = json_context(&json!({"issue": {"title": "Crash"}}));
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
            &Arc::new(json!({"issue": {"title": "T"}})),
            meta.clone(),
            hook.clone(),
        );
        let out = render(
            "{{issue.title}} {{event.type}} {{webhook.id}} {{payload.issue.title}}",
            &ctx,
        );
        assert_eq!(out.as_deref(), Ok("T issues.opened gh T"));
        let slack = context(&Arc::new(json!({"event": {"text": "hi"}})), meta, hook);
        let out = render("{{event.text}} {{delivery.type}}", &slack);
        assert_eq!(out.as_deref(), Ok("hi issues.opened"));
    }

    #[test]
    fn a_payload_cannot_pass_itself_off_as_another_webhook() {
        let ctx = context(
            &Arc::new(json!({"webhook": {"id": "spoofed", "name": "Other"}, "event": "e"})),
            json!({"type": "custom"}),
            json!({"id": "gh", "name": "GitHub", "provider": "github"}),
        );
        let cases = [
            ("{{ webhook.id }}", "gh"),
            ("{{ webhook.name }} {{ webhook.provider }}", "GitHub github"),
            (
                "{{ payload.webhook.id }} {{ payload.webhook.name }}",
                "spoofed Other",
            ),
            // `event`, unlike `webhook`, is still the payload's own when it has one.
            ("{{ event }} {{ delivery.type }}", "e custom"),
        ];
        for (source, expected) in cases {
            assert_eq!(render(source, &ctx).as_deref(), Ok(expected), "{source}");
        }
    }

    #[test]
    fn values_bound_for_slack_are_escaped_but_the_template_text_is_not() {
        let title = "hi <!channel> & <https://evil.example|click>";
        let ctx = json_context(&json!({
            "title": title, "body": null, "url": "https://x.example/?a=1&b=2",
            "labels": ["<a>"], "n": 3,
            "doc": {"type": "doc", "version": 1, "content": [{"type": "paragraph",
                "content": [{"type": "text", "text": "<!here> & co"}]}]}}));
        let escaped = "hi &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;";
        let cases = [
            ("{{ title }}", escaped.to_string()),
            // The author's own markup stays; a value inside it is escaped.
            (
                "<!here> <{{ url }}|link>",
                "<!here> <https://x.example/?a=1&amp;b=2|link>".into(),
            ),
            ("{{ title | safe }}", title.into()),
            ("{{ title | upper | safe }}", title.to_uppercase()),
            ("{{ title | e }}", escaped.into()),
            (
                "{% set t %}<b>{{ title }}</b>{% endset %}{{ t }}",
                format!("<b>{escaped}</b>"),
            ),
            ("{{ '<' ~ title }}", format!("&lt;{escaped}")),
            (
                "{{ labels }} {{ n }} [{{ body }}]",
                r#"["&lt;a&gt;"] 3 []"#.into(),
            ),
            ("{{ doc }}", "&lt;!here&gt; &amp; co".into()),
            (
                "{{ title | replace('click', 'go') }}",
                escaped.replace("click", "go"),
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(
                render_as(source, &ctx, Escape::Slack).as_deref(),
                Ok(expected.as_str()),
                "{source}"
            );
        }
        // The parsed template is kept per escaping: the same text renders raw elsewhere, and
        // escaped again for Slack after that.
        assert_eq!(render("{{ title }}", &ctx).as_deref(), Ok(title));
        assert_eq!(
            render_as("{{ title }}", &ctx, Escape::Slack).as_deref(),
            Ok(escaped)
        );
    }

    #[test]
    fn slacks_own_text_printed_elsewhere_reads_as_plain_text_throughout_and_names_as_typed() {
        let text = "R&amp;D <https://x.example|docs> <@U1>";
        let plain = "R&D docs (https://x.example) @U1";
        let ctx = slack_event_context(
            &Arc::new(json!({
                "text": text, "user": {"name": "Tom & Jerry <tj@x.io>", "n": 3, "ok": true,
                                       "none": null},
                "blocks": [{"type": "mrkdwn", "text": "a &lt;b&gt;"}]})),
            json!({}),
            json!({"name": "Ops <team> & R&amp;D"}),
        );
        let cases = [
            ("{{ text }}", plain.to_string()),
            // The template's own words are the author's, kept as written.
            ("<!here> &amp; {{ text }}", format!("<!here> &amp; {plain}")),
            ("{{ text ~ '!' }}", format!("{plain}!")),
            (
                "{% set t %}[{{ text }}]{% endset %}{{ t }}",
                format!("[{plain}]"),
            ),
            (
                "{{ user.n }} {{ user.ok }} [{{ user.none }}]",
                "3 True []".into(),
            ),
            ("{{ text | safe }}", plain.into()),
            // Printed whole or through `tojson`, the same text.
            (
                "{{ blocks }}",
                r#"[{"text":"a <b>","type":"mrkdwn"}]"#.into(),
            ),
            (
                "{{ text | tojson }}",
                r#""R\u0026D docs (https://x.example) @U1""#.into(),
            ),
            (
                "{% for b in blocks %}{{ b.text }}{% endfor %}",
                "a <b>".into(),
            ),
            // A name is sent as typed: nothing in it is Slack markup; nor in our own.
            (
                "{{ user.name }} / {{ 'by ' ~ user.name }} / {{ webhook.name }}",
                "Tom & Jerry <tj@x.io> / by Tom & Jerry <tj@x.io> / Ops <team> & R&amp;D".into(),
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(
                render_as(source, &ctx, Escape::FromSlack).as_deref(),
                Ok(expected.as_str()),
                "{source}"
            );
        }
        // Kept apart from the other modes' parsed templates.
        assert_eq!(render("{{ text }}", &ctx).as_deref(), Ok(text));
        assert_eq!(
            render_as("{{ text }}", &ctx, Escape::Slack).as_deref(),
            Ok("R&amp;amp;D &lt;https://x.example|docs&gt; &lt;@U1&gt;")
        );
    }

    #[test]
    fn a_slack_events_own_text_goes_back_to_slack_as_written_and_its_other_strings_escaped() {
        let payload = Arc::new(json!({"event": {
            "type": "message",
            "text": "R&amp;D <@U1> &lt;!here&gt;",
            "user_profile": {"display_name": "<!channel> & co", "age": 3},
            "blocks": [
                {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
                    {"type": "text", "text": "<!here> R&D"}]}]},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*b* &amp; <@U2>"}},
            ],
            "attachments": [{"fallback": "f &amp; <https://x|x>", "title": "<!everyone>"}],
            "view": {"title": {"type": "plain_text", "text": "<!here>"}},
        }}));
        let ctx = slack_event_context(
            &payload,
            json!({"type": "message"}),
            json!({"name": "ops <!channel>"}),
        );
        let cases = [
            ("{{ event.text }}", "R&amp;D <@U1> &lt;!here&gt;"),
            (
                "{{ event.user_profile.display_name }} {{ event.user_profile.age }}",
                "&lt;!channel&gt; &amp; co 3",
            ),
            (
                "{{ event.blocks[0].elements[0].elements[0].text }}",
                "&lt;!here&gt; R&amp;D",
            ),
            ("{{ event.blocks[1].text.text }}", "*b* &amp; <@U2>"),
            (
                "{{ event.attachments[0].fallback }} {{ event.attachments[0].title }}",
                "f &amp; <https://x|x> &lt;!everyone&gt;",
            ),
            (
                "{{ event.user_profile }}",
                r#"{"age":3,"display_name":"&lt;!channel&gt; &amp; co"}"#,
            ),
            ("{{ webhook.name }}", "ops &lt;!channel&gt;"),
            ("{{ event.view.title.text }}", "&lt;!here&gt;"),
            // The template's own words are its author's.
            (
                "<!here> {{ event.text }}",
                "<!here> R&amp;D <@U1> &lt;!here&gt;",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(
                render_as(source, &ctx, Escape::BackToSlack).as_deref(),
                Ok(expected),
                "{source}"
            );
        }
        // The other modes read the payload as sent.
        assert_eq!(
            render("{{ event.user_profile.display_name }}", &ctx).as_deref(),
            Ok("<!channel> & co")
        );
        // A context with no Slack view renders as written.
        let plain = context(&payload, json!({}), json!({}));
        assert_eq!(
            render_as(
                "{{ event.user_profile.display_name }}",
                &plain,
                Escape::BackToSlack
            )
            .as_deref(),
            Ok("<!channel> & co")
        );
    }

    #[test]
    fn a_template_cannot_reach_the_other_templates_kept_beside_it() {
        let ctx = json_context(&json!({"x": 1}));
        let secret = "{{ x }} sk-other-webhooks-template";
        render(secret, &ctx).unwrap();
        for source in [
            "{% include 'template1' %}",
            "{%- include \"template1\" -%}",
            "{% import 'template1' as t %}",
            "{% from 'template1' import m %}",
            "{% extends 'template1' %}",
        ] {
            let err = render(source, &ctx).unwrap_err();
            assert!(err.contains("cannot"), "{source}: {err}");
            assert!(validate(source).is_err(), "{source}");
        }
        assert!(render("{{ debug() }}", &ctx).is_err());
        // The words themselves are not refused.
        assert_eq!(
            render("{{ 'include' }} {% set from = 1 %}{{ from }}", &ctx).as_deref(),
            Ok("include 1")
        );
    }

    #[test]
    fn a_render_that_would_run_for_hours_stops_quickly_with_an_error() {
        let ctx = json_context(
            &json!({"labels": (0..2000).map(|n| json!({"name": format!("l{n}")})).collect::<Vec<_>>()}),
        );
        let started = std::time::Instant::now();
        let nested = "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) \
                      %}{% endfor %}{% endfor %}{% endfor %}x";
        let refused = render(nested, &ctx).unwrap_err();
        assert!(refused.contains("fuel"), "{refused}");
        assert!(started.elapsed() < WALL_LIMIT);
        // Data counts too: a 100 MB string is refused before it is built.
        assert!(
            render("{{ 'x' * 100000000 }}", &ctx)
                .unwrap_err()
                .contains("fuel")
        );
        // A loop over every label of a large payload is well within the budget.
        let labels = render("{% for l in labels %}{{ l.name }},{% endfor %}", &ctx).unwrap();
        assert!(labels.starts_with("l0,l1,") && labels.ends_with("l1999,"));
    }

    #[test]
    fn long_operator_chains_are_refused_before_parsing() {
        let deep = format!("{{{{ {}1 }}}}", "-".repeat(5000));
        assert!(validate(&deep).unwrap_err().contains("chains more than"));
        assert!(render(&deep, &json_context(&json!({}))).is_err());
        assert!(validate("{{ a.b.c | upper | lower }} {% if x and not y %}z{% endif %}").is_ok());
        // A tag's end written inside a string literal does not end the tag.
        for hidden in ["\"}}\"", "'}}'", "\"%}\"", "\"a\\\"}}\"", "{'a': {'b': 1}}"] {
            let deep = format!("{{{{ {hidden} ~ {}1 }}}}", "-".repeat(5000));
            assert!(
                validate(&deep).unwrap_err().contains("chains more than"),
                "{hidden}"
            );
            assert!(
                render(&deep, &json_context(&json!({}))).is_err(),
                "{hidden}"
            );
        }
        assert_eq!(
            render("{{ '}}' }}{{ \"%}\" }}", &json_context(&json!({}))).unwrap(),
            "}}%}"
        );
        // Nor a tag's start inside a comment or a raw block, which the lexer skips.
        for hiding in [
            "{# {{ ' #}",
            "{% raw %}{{ '{% endraw %}",
            "{%- raw -%}{{ '{%- endraw -%}",
        ] {
            let deep = format!("{hiding}{{{{ ' }}}} ' ~ {}1 }}}}", "-".repeat(5000));
            assert!(
                validate(&deep).unwrap_err().contains("chains more than"),
                "{hiding}"
            );
        }
        // Nor does a dict's closing inside a block tag.
        let deep = format!(
            "{{% set d = {{'a': {{'b': 1}}}} ~ {}1 %}}",
            "-".repeat(5000)
        );
        assert!(validate(&deep).unwrap_err().contains("chains more than"));
        assert_eq!(
            render(
                "{% set d = {'a': {'b': 1}} %}{{ d.a.b }}",
                &json_context(&json!({}))
            )
            .unwrap(),
            "1"
        );
    }

    /// Templates found to crash (stack overflow) or hang the server before these checks:
    /// values nested thousands deep or doubled forty times, built in a loop through
    /// `namespace`; calls nested a hundred deep. Each is now refused at once.
    #[test]
    fn templates_that_crashed_or_hung_the_server_are_refused() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hostile-templates"
        );
        let ctx = json_context(&json!({"issue": {"title": "boom"}}));
        for n in 1..=15 {
            let source = std::fs::read_to_string(format!("{dir}/crash-{n}.txt")).unwrap();
            let started = std::time::Instant::now();
            let result = validate(&source).and_then(|()| render(&source, &ctx));
            assert!(result.is_err(), "crash-{n}: {result:?}");
            assert!(started.elapsed() < WALL_LIMIT, "crash-{n}");
        }
        // Without a loop: doubled by `set`s one after another, printed whole.
        let doubled = format!(
            "{{% set a = [1] %}}{}{{{{ a }}}}",
            "{% set a = [a, a] %}".repeat(40)
        );
        let started = std::time::Instant::now();
        let refused = render(&doubled, &ctx).unwrap_err();
        assert!(refused.contains("too large"), "{refused}");
        assert!(started.elapsed() < WALL_LIMIT);
    }

    /// Far below what each guarded template took before its fix (18 s and more), far above
    /// what it takes now on a loaded 2-core machine (under a second): a wall-clock bound
    /// that fails only on the bug.
    const WALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

    /// A list repeated a hundred million times costs nothing to make (minijinja repeats it
    /// lazily), and printing it took 25–30 s and 3 GB: the look through it took all its items
    /// before counting them. Now it stops at the limit.
    #[test]
    fn a_list_repeated_lazily_is_refused_before_it_is_built() {
        let ctx = json_context(&json!({"labels": ["b", "a"]}));
        let sources = [
            "{{ [1] * 100000000 }}",
            "{{ {'a': 1} | dictsort * 100000000 }}",
            "{{ ([1] * 100000000) | join }}",
            "{{ ([1] * 100000000) | tojson }}",
            "{{ ([1] * 100000000) | sort | length }}",
            "{{ ([labels] * 100000000) | unique | length }}",
        ];
        for source in sources {
            let started = std::time::Instant::now();
            let error = render(source, &ctx).unwrap_err();
            assert!(error.contains("too large"), "{source}: {error}");
            assert!(
                started.elapsed() < WALL_LIMIT,
                "{source}: {:?}",
                started.elapsed()
            );
        }
    }

    /// A payload's long string held many times by a cheap list (`[body] * 1000`): printing,
    /// serialising or joining it took up to 18 s and 2 GB, and hashing, sorting or comparing
    /// its items up to 19 s, on the thread that answers the sender, within the fuel. Each is
    /// now refused at once for the text it holds, and the same work on a whole payload stays.
    #[test]
    fn a_long_string_held_many_times_is_refused_before_any_work_on_it() {
        let body = "y".repeat(1 << 20);
        let ctx = json_context(&json!({"body": body, "labels": ["b", "a", "b"]}));
        let refused = [
            ("{{ ([body] * 1000) | string | length }}", "to print"),
            ("{{ ([body] * 1000) | tojson | length }}", "to print"),
            ("{{ ([body] * 1000) | pprint | length }}", "to print"),
            ("{{ [body] * 1000 }}", "to print"),
            ("{{ ([body] * 1000) | join | length }}", "for `join`"),
            ("{{ ([body] * 100000) | unique | length }}", "for `unique`"),
            ("{{ ([body] * 1000) | sort | length }}", "for `sort`"),
            ("{{ ([body] * 1000) | max | length }}", "for `max`"),
            ("{{ ([body] * 1000) | min | length }}", "for `min`"),
            (
                "{{ ([body] * 1000) | select('eq', 'x') | list | length }}",
                "for `select`",
            ),
            (
                "{{ ([body] * 1000) | reject('eq', 'x') | list | length }}",
                "for `reject`",
            ),
            (
                "{{ ([{'a': body}] * 1000) | selectattr('a', 'eq', 'x') | list | length }}",
                "for `selectattr`",
            ),
            (
                "{{ ([{'a': body}] * 1000) | rejectattr('a', 'eq', 'x') | list | length }}",
                "for `rejectattr`",
            ),
            (
                "{{ ({'a': [body] * 1000}) | urlencode | length }}",
                "for `urlencode`",
            ),
            (
                "{{ ({body: 1, 'b': [body] * 8}) | tojson | length }}",
                "to print",
            ),
        ];
        for (source, to) in refused {
            let started = std::time::Instant::now();
            let error = render(source, &ctx).unwrap_err();
            assert!(
                error.contains(to) && error.contains("8 MiB"),
                "{source}: {error}"
            );
            assert!(
                started.elapsed() < WALL_LIMIT,
                "{source}: {:?}",
                started.elapsed()
            );
        }
        // The walk is charged as minijinja charges what it visits: a loop over a large payload
        // runs out of fuel, as one over the built-ins did, instead of walking it for minutes.
        let wide = json_context(&json!({"a": [vec![0; 190_000], 1]}));
        let loops = [
            "{% for i in range(2000) %}{% if a | select('none') | list %}{% endif %}{% endfor %}",
            "{% for i in range(2000) %}{{ (a | min) is none }}{% endfor %}",
        ];
        for source in loops {
            let started = std::time::Instant::now();
            let error = render(source, &wide).unwrap_err();
            assert!(error.contains("fuel"), "{source}: {error}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{source}: {:?}",
                started.elapsed()
            );
        }
        let kept = [
            ("{{ body | length }}", "1048576"),
            ("{{ ([body] * 4) | join | length }}", "4194304"),
            (
                "{{ ({'b': body, 'l': labels} | tojson | length) > 1048576 }}",
                "True",
            ),
            ("{{ ([body] * 7) | unique | length }}", "1"),
            ("{{ labels | unique | join(',') }}", "b,a"),
            ("{{ labels | sort | join(',') }}", "a,b,b"),
            ("{{ labels | max }}{{ labels | min }}", "ba"),
            ("{{ labels | select('eq', 'b') | list | length }}", "2"),
            ("{{ labels | reject('eq', 'b') | join }}", "a"),
            (
                "{{ [{'n': 'x'}, {'n': 'y'}] | selectattr('n', 'eq', 'y') | map(attribute='n') | join }}",
                "y",
            ),
            (
                "{{ [{'n': 'x'}, {'n': 'y'}] | rejectattr('n', 'eq', 'y') | map(attribute='n') | join }}",
                "x",
            ),
            ("{{ {'q': 'a b'} | urlencode }}", "q=a%20b"),
            (
                "{{ [{'n': 'x'}, {'n': 'y'}] | join('-', attribute='n') }}",
                "x-y",
            ),
        ];
        for (source, expected) in kept {
            assert_eq!(render(source, &ctx).as_deref(), Ok(expected), "{source}");
        }
    }

    #[test]
    fn oversized_output_is_refused() {
        let ctx = json_context(&json!({"s": "x".repeat(MAX_OUTPUT_LEN + 1)}));
        assert!(render("{{ s }}", &ctx).unwrap_err().contains("more than"));
    }

    #[test]
    fn oversized_output_rendered_to_be_cut_keeps_its_start_and_counts_the_rest() {
        let at = |n: usize| "x".repeat(MAX_OUTPUT_LEN - n);
        let cases = [
            // (what comes before, the long value, chars kept of it, chars left out)
            (at(0), "日".repeat(2), 0, Some(2)),
            (at(1), "日".repeat(3), 0, Some(3)),
            (at(3), "日".repeat(3), 1, Some(2)),
            (at(3), "日".to_string(), 1, None),
            // Never half a flag, a letter without its accent, or an emoji without what its
            // joiner joins it to.
            (at(4), "🇫🇷".repeat(2), 0, Some(4)),
            (at(8), "🇫🇷".repeat(2), 2, Some(2)),
            (at(12), "🇫🇷".repeat(2), 2, Some(2)),
            (at(1), "e\u{301}".to_string(), 0, Some(2)),
            (at(4), "👩\u{200D}💻".to_string(), 0, Some(3)),
            (
                String::new(),
                "a".repeat(MAX_OUTPUT_LEN + 5_000),
                MAX_OUTPUT_LEN,
                Some(5_000),
            ),
        ];
        for (before, value, kept, left) in cases {
            let ctx = json_context(&json!({"before": before, "value": value}));
            let got = render_cut("{{ before }}{{ value }}", &ctx, Escape::Plain).unwrap();
            assert_eq!(
                got.text.len() - before.len(),
                value.chars().take(kept).map(char::len_utf8).sum::<usize>(),
                "{value:.6}"
            );
            assert_eq!(
                got.left_out.map(|l| (l.chars, l.at_least)),
                left.map(|n| (n, false)),
                "{value:.6}"
            );
        }
        // A template error after the cut is still one.
        let ctx = json_context(&json!({"s": "x".repeat(MAX_OUTPUT_LEN + 1)}));
        assert!(render_cut("{{ s }}{{ nope }}", &ctx, Escape::Plain).is_err());
        // Fuel running out past the cut leaves out at least what was counted.
        let endless = "{{ s }}{% for i in range(100000) %}{{ s }}{% endfor %}";
        let got = render_cut(endless, &ctx, Escape::Plain).unwrap();
        assert_eq!(got.text.len(), MAX_OUTPUT_LEN);
        assert!(
            got.left_out.is_some_and(|l| l.at_least && l.chars > 0),
            "{:?}",
            got.left_out
        );
    }
}
