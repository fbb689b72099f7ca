use serde_json::{Value, json};

use super::Conditions;

fn check(conditions: Value, payload: Value) -> bool {
    Conditions::compile(&conditions)
        .expect("conditions compile")
        .matches(&payload)
}

#[test]
fn user_forms_match_the_seed_examples() {
    let issue_with = |labels: &[&str]| {
        json!({"action": "opened", "issue": {"title": "t", "body": "b",
            "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>()}})
    };
    let cases: Vec<(&str, Value, Value, bool)> = vec![
        (
            "labels any-of: bug",
            json!({"labels": ["bug", "enhancement"]}),
            issue_with(&["bug"]),
            true,
        ),
        (
            "labels any-of: enhancement",
            json!({"labels": ["bug", "enhancement"]}),
            issue_with(&["x", "Enhancement"]),
            true,
        ),
        (
            "labels any-of: none",
            json!({"labels": ["bug", "enhancement"]}),
            issue_with(&["question"]),
            false,
        ),
        (
            "labels any-of: no labels",
            json!({"labels": ["bug"]}),
            json!({"issue": {}}),
            false,
        ),
        (
            "label added",
            json!({"label": "urgent"}),
            json!({"label": {"name": "urgent"}}),
            true,
        ),
        (
            "label added other",
            json!({"label": "urgent"}),
            json!({"label": {"name": "later"}}),
            false,
        ),
        (
            "body_contains @agent",
            json!({"body_contains": "@agent"}),
            json!({"comment": {"body": "hey @Agent please"}}),
            true,
        ),
        (
            "body_contains missing",
            json!({"body_contains": "@agent"}),
            json!({"comment": {"body": "hello"}}),
            false,
        ),
        (
            "slack channel by name",
            json!({"channel": "#engineering"}),
            json!({"channel_name": "engineering"}),
            true,
        ),
        (
            "slack channel by id",
            json!({"channel": "C024BE91L"}),
            json!({"event": {"channel": "C024BE91L"}}),
            true,
        ),
        (
            "slack channel other",
            json!({"channel": "#engineering"}),
            json!({"event": {"channel": "C999"}}),
            false,
        ),
        (
            "sender",
            json!({"sender": "octocat"}),
            json!({"sender": {"login": "octocat"}}),
            true,
        ),
        (
            "author any of",
            json!({"author": ["a", "b"]}),
            json!({"comment": {"user": {"login": "b"}}}),
            true,
        ),
        (
            "author falls back to sender",
            json!({"author": "c"}),
            json!({"sender": {"login": "c"}}),
            true,
        ),
        (
            "author by a GitLab id given as a number",
            json!({"author": 7}),
            json!({"object_kind": "issue", "object_attributes": {"author_id": 7}}),
            true,
        ),
        (
            "author by a GitLab id among names",
            json!({"author": ["ann", 7]}),
            json!({"object_kind": "issue", "object_attributes": {"author_id": 7}}),
            true,
        ),
        (
            "author by another GitLab id",
            json!({"author": 8}),
            json!({"object_kind": "issue", "object_attributes": {"author_id": 7}}),
            false,
        ),
        (
            "sender by a GitLab user id given as a number",
            json!({"sender": 7}),
            json!({"object_kind": "push", "user_id": 7}),
            true,
        ),
        ("empty conditions", json!({}), json!({}), true),
        ("null conditions", Value::Null, json!({}), true),
    ];
    for (name, conditions, payload, expected) in cases {
        assert_eq!(check(conditions, payload), expected, "{name}");
    }
}

#[test]
fn field_tests_and_combinators_match() {
    let p = json!({"issue": {"number": 12, "state": "open", "title": "Crash on login",
        "assignees": ["ann", "bob"]}, "count": "7"});
    let cases: Vec<(&str, Value, bool)> = vec![
        (
            "equals",
            json!({"field": "issue.state", "equals": "open"}),
            true,
        ),
        (
            "equals pointer",
            json!({"field": "/issue/state", "equals": "open"}),
            true,
        ),
        (
            "equals number as text",
            json!({"field": "count", "equals": 7}),
            true,
        ),
        (
            "not_equals",
            json!({"field": "issue.state", "not_equals": "closed"}),
            true,
        ),
        (
            "not_equals missing field",
            json!({"field": "nope", "not_equals": "x"}),
            true,
        ),
        (
            "in",
            json!({"field": "issue.state", "in": ["open", "reopened"]}),
            true,
        ),
        (
            "in miss",
            json!({"field": "issue.state", "in": ["closed"]}),
            false,
        ),
        (
            "contains string",
            json!({"field": "issue.title", "contains": "login"}),
            true,
        ),
        (
            "contains array",
            json!({"field": "issue.assignees", "contains": "bob"}),
            true,
        ),
        (
            "regex",
            json!({"field": "issue.title", "regex": "(?i)^crash"}),
            true,
        ),
        (
            "regex miss",
            json!({"field": "issue.title", "regex": "^boom"}),
            false,
        ),
        (
            "exists",
            json!({"field": "issue.number", "exists": true}),
            true,
        ),
        (
            "exists false",
            json!({"field": "issue.milestone", "exists": false}),
            true,
        ),
        ("gt", json!({"field": "issue.number", "gt": 10}), true),
        (
            "lt on numeric text",
            json!({"field": "count", "lt": 5}),
            false,
        ),
        (
            "two ops both hold",
            json!({"field": "issue.number", "gt": 10, "lt": 20}),
            true,
        ),
        (
            "all",
            json!({"all": [{"field": "issue.state", "equals": "open"}, {"field": "issue.number", "gt": 100}]}),
            false,
        ),
        (
            "any",
            json!({"any": [{"field": "issue.state", "equals": "closed"}, {"field": "issue.number", "gt": 1}]}),
            true,
        ),
        (
            "not",
            json!({"not": {"field": "issue.state", "equals": "open"}}),
            false,
        ),
        (
            "nested",
            json!({"any": [{"not": {"field": "x", "exists": true}}]}),
            true,
        ),
    ];
    for (name, conditions, expected) in cases {
        assert_eq!(check(conditions, p.clone()), expected, "{name}");
    }
}

#[test]
fn bad_conditions_are_refused_with_the_key_named() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"lables": ["bug"]}), "conditions.lables", "lables"),
        (
            json!({"any": [{"field": "a", "equals": 1}, {"colour": "red"}]}),
            "conditions.any[1].colour",
            "colour",
        ),
        (json!({"equals": 3}), "conditions.field", "needs `field`"),
        (json!({"field": "a"}), "conditions.field", "needs a test"),
        (
            json!({"field": "a..b", "exists": true}),
            "conditions.field",
            "empty segment",
        ),
        (
            json!({"field": "a.", "exists": true}),
            "conditions.field",
            "empty segment",
        ),
        (
            json!({"field": "a", "regex": "("}),
            "conditions.regex",
            "invalid regex",
        ),
        (json!(["bug"]), "conditions", "JSON object"),
        // A list read by position would be a different test than the one meant.
        (json!({"not": [["bug"]]}), "conditions.not", "not a list"),
        (
            json!({"all": [{"labels": ["a"]}, ["b"]]}),
            "conditions.all[1]",
            "not a list",
        ),
        (
            json!({"any": [{"not": ["x"]}]}),
            "conditions.any[0].not",
            "not a list",
        ),
        (
            json!({"labels": {"name": "bug"}}),
            "conditions.labels",
            "`labels` in conditions: expected a string, a number or a list of them",
        ),
        (
            json!({"author": true}),
            "conditions.author",
            "`author` in conditions: expected a string, a number or a list of them (e.g. \"bug\" \
             or [\"bug\", 7]), not true",
        ),
        (
            json!({"any": [{"sender": ["ann", null]}]}),
            "conditions.any[0].sender",
            "`any[0].sender` in conditions: expected a string, a number or a list of them",
        ),
        (
            json!({"gt": "x"}),
            "conditions.gt",
            "invalid `gt` in conditions",
        ),
        (
            json!({"from_bot": "false"}),
            "conditions.from_bot",
            "`from_bot` in conditions: expected true or false",
        ),
        (
            json!({"not": {"from_bot": 0}}),
            "conditions.not.from_bot",
            "`not.from_bot` in conditions: expected true or false",
        ),
    ];
    for (conditions, path, message) in cases {
        let err = Conditions::compile(&conditions).expect_err("should be refused");
        assert_eq!(err.path, path, "{conditions}");
        assert!(
            err.message.contains(message),
            "{conditions}: {}",
            err.message
        );
    }
}

#[test]
fn from_bot_keeps_peoples_or_bots_events_and_combines_like_the_other_keys() {
    let person = json!({"type": "event_callback", "event": {"type": "message", "user": "U1",
                        "channel": "C0ENG", "text": "@agent summarise"}});
    let bot = json!({"type": "event_callback", "event": {"type": "message", "user": "U9",
                     "bot_id": "B9", "channel": "C0ENG", "text": "@agent summarise"}});
    let cases: Vec<(&str, Value, bool, bool)> = vec![
        ("people only", json!({"from_bot": false}), true, false),
        ("bots only", json!({"from_bot": true}), false, true),
        (
            "beside another key",
            json!({"from_bot": false, "body_contains": "@agent"}),
            true,
            false,
        ),
        (
            "in an all",
            json!({"all": [{"channel": "C0ENG"}, {"from_bot": false}]}),
            true,
            false,
        ),
        (
            "in an any",
            json!({"any": [{"from_bot": false}, {"channel": "C0OPS"}]}),
            true,
            false,
        ),
        ("under not", json!({"not": {"from_bot": true}}), true, false),
        ("null: no test", json!({"from_bot": null}), true, true),
    ];
    for (name, conditions, for_person, for_bot) in cases {
        assert_eq!(
            check(conditions.clone(), person.clone()),
            for_person,
            "{name}: a person"
        );
        assert_eq!(check(conditions, bot.clone()), for_bot, "{name}: a bot");
    }
}

#[test]
fn a_field_is_required_only_where_no_event_without_it_can_pass() {
    let field = "merge_request.iid";
    let exists = json!({"field": "merge_request.iid", "exists": true});
    let cases: Vec<(&str, Value, bool)> = vec![
        ("at the top", exists.clone(), true),
        (
            "as a JSON pointer",
            json!({"field": "/merge_request/iid", "exists": true}),
            true,
        ),
        (
            "beside other tests",
            json!({"labels": "bug", "field": "merge_request.iid", "exists": true}),
            true,
        ),
        (
            "in an all",
            json!({"all": [{"labels": "bug"}, exists.clone()]}),
            true,
        ),
        (
            "in an all in an all",
            json!({"all": [{"all": [exists.clone()]}]}),
            true,
        ),
        (
            "in an any",
            json!({"any": [exists.clone(), {"labels": "bug"}]}),
            false,
        ),
        ("under not", json!({"not": exists.clone()}), false),
        (
            "exists false",
            json!({"field": "merge_request.iid", "exists": false}),
            false,
        ),
        (
            "another field",
            json!({"field": "merge_request.id", "exists": true}),
            false,
        ),
        (
            "a field inside it",
            json!({"field": "merge_request.iid.x", "exists": true}),
            false,
        ),
        ("no conditions", json!({}), false),
        (
            "written as a template writes it",
            json!({"field": "payload.merge_request.iid", "exists": true}),
            true,
        ),
    ];
    for (name, conditions, expected) in cases {
        let compiled = Conditions::compile(&conditions).expect("conditions compile");
        assert_eq!(compiled.require(field), expected, "{name}");
    }
    let indexed = json!({"field": "workflow_run.pull_requests[0]", "exists": true});
    let compiled = Conditions::compile(&indexed).expect("conditions compile");
    assert!(compiled.require("workflow_run.pull_requests.0"));
}

#[test]
fn conditions_that_could_never_match_what_was_meant_are_refused_when_saved() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"labels": []}),
            "conditions.labels",
            "matches no event",
        ),
        (json!({"label": []}), "conditions.label", "matches no event"),
        (
            json!({"sender": []}),
            "conditions.sender",
            "matches no event",
        ),
        (
            json!({"author": []}),
            "conditions.author",
            "matches no event",
        ),
        (
            json!({"channel": []}),
            "conditions.channel",
            "matches no event",
        ),
        (
            json!({"body_contains": []}),
            "conditions.body_contains",
            "matches no event",
        ),
        (
            json!({"field": "action", "in": []}),
            "conditions.in",
            "no value to match",
        ),
        (json!({"any": []}), "conditions.any", "none can pass"),
        // Always true, so it tests nothing: most likely the conditions meant went missing.
        (json!({"all": []}), "conditions.all", "leave `all` out"),
        (
            json!({"any": [{"all": []}]}),
            "conditions.any[0].all",
            "leave `all` out",
        ),
        // An item that tests nothing: the `any` always holds; in `all`, a test went missing
        // (such as a proxy's dropping keys the tool's schema does not list).
        (
            json!({"any": [{}, {"author": ["bob"]}]}),
            "conditions.any[0]",
            "tests nothing",
        ),
        (
            json!({"labels": ["x"], "all": [{"labels": ["a"]}, {"from_bot": null}]}),
            "conditions.all[1]",
            "mcpo",
        ),
        (
            json!({"not": {"any": [{"all": [{}]}]}}),
            "conditions.not.any[0].all[0]",
            "tests nothing",
        ),
        // `{}` passes every event, so its `not` passes none.
        (json!({"not": {}}), "conditions.not", "no event passes"),
        (
            json!({"not": {"from_bot": null}}),
            "conditions.not",
            "no event passes",
        ),
        // An empty name is no label's, channel's or person's.
        (
            json!({"labels": ""}),
            "conditions.labels",
            "an empty label matches no label",
        ),
        (
            json!({"labels": [""]}),
            "conditions.labels",
            "an empty label matches no label",
        ),
        (
            json!({"labels": ["bug", " "]}),
            "conditions.labels",
            "an empty label",
        ),
        (json!({"label": ""}), "conditions.label", "an empty label"),
        (
            json!({"channel": ["#"]}),
            "conditions.channel",
            "an empty channel",
        ),
        (json!({"sender": ""}), "conditions.sender", "an empty name"),
        (
            json!({"author": [""]}),
            "conditions.author",
            "an empty name",
        ),
        // Empty text is in every body: the test would pass any event with one.
        (
            json!({"body_contains": ""}),
            "conditions.body_contains",
            "empty text is found in every body",
        ),
        (
            json!({"not": {"any": [{"labels": [""]}]}}),
            "conditions.not.any[0].labels",
            "an empty label",
        ),
        (
            json!({"labels": "bug,enhancement"}),
            "conditions.labels",
            "give a list: [\"bug\", \"enhancement\"]",
        ),
        (
            json!({"sender": "alice, bob"}),
            "conditions.sender",
            "give a list: [\"alice\", \"bob\"]",
        ),
        (
            json!({"label": "a,b"}),
            "conditions.label",
            "[\"a\", \"b\"]",
        ),
        (
            json!({"author": "a,b"}),
            "conditions.author",
            "[\"a\", \"b\"]",
        ),
        (
            json!({"channel": "a,b"}),
            "conditions.channel",
            "[\"a\", \"b\"]",
        ),
        // Megabytes each, and seconds per event: an older build saved it, and it still runs.
        (
            json!({"any": [{"field": "a", "regex": "\\w{100}0"}]}),
            "conditions.any[0].regex",
            "compiles too big",
        ),
        // However deep.
        (
            json!({"all": [{"from_bot": false}, {"any": [{"labels": []}]}]}),
            "conditions.all[1].any[0].labels",
            "matches no event",
        ),
        (
            json!({"not": {"sender": "a,b"}}),
            "conditions.not.sender",
            "[\"a\", \"b\"]",
        ),
    ];
    for (conditions, path, message) in cases {
        // Compiled as ever: a stored command written so keeps running as it did.
        Conditions::compile(&conditions).expect("compiles");
        let err = super::check_new(&conditions).expect_err("should be refused");
        assert_eq!(err.path, path, "{conditions}");
        assert!(
            err.message.contains(message),
            "{conditions}: {}",
            err.message
        );
    }
}

#[test]
fn a_regex_that_fits_compiles_and_too_many_are_refused_when_saved() {
    for fits in [
        r"\w{40}0",
        r"\w{3,20}",
        r"[A-Za-z0-9_]{500}",
        r"(?-u:\w){300}",
        r"\p{L}{2,30}",
    ] {
        let conditions = json!({"field": "a", "regex": fits});
        assert_eq!(super::check_new(&conditions), Ok(()), "{fits}");
    }
    let sixteen: Vec<Value> = (0..16)
        .map(|i| json!({"field": "a", "regex": format!("x{i}")}))
        .collect();
    let mut seventeen = sixteen.clone();
    seventeen.push(json!({"not": {"field": "b", "regex": "y"}}));
    assert_eq!(super::check_new(&json!({"any": sixteen})), Ok(()));
    let err = super::check_new(&json!({"any": seventeen})).expect_err("17 regexes");
    assert_eq!(err.path, "conditions");
    assert!(err.message.contains("17 regex tests"), "{}", err.message);
}

#[test]
fn conditions_that_can_match_are_taken_when_saved() {
    for conditions in [
        Value::Null,
        json!({}),
        json!({"labels": ["bug", "enhancement"]}),
        json!({"labels": "bug"}),
        // A name with a comma in it, given in a list: taken as meant.
        json!({"author": ["Doe, Jane"]}),
        json!({"labels": ["bug,enhancement"]}),
        // Text looked for in a body may hold a comma.
        json!({"body_contains": "hello, world"}),
        json!({"all": [{"labels": "bug"}]}),
        json!({"not": {"labels": "wontfix"}}),
        json!({"not": null}),
        // A field's value may well be empty text.
        json!({"field": "issue.body", "equals": ""}),
        json!({"field": "issue.milestone", "in": ["", "v1"]}),
        // Spaces are text to find in a body.
        json!({"body_contains": " "}),
        json!({"field": "action", "in": ["opened"]}),
        json!({"any": [{"labels": "bug"}], "not": {"sender": ["a", "b"]}}),
        json!({"author": 7}),
    ] {
        assert_eq!(super::check_new(&conditions), Ok(()), "{conditions}");
    }
}

#[test]
fn field_tests_read_numbers_nulls_and_names_as_people_write_them() {
    let payload = json!({"f": 1.0, "n": 1, "big": 9007199254740993_u64, "title": "Fix bug 5",
        "nul": null, "issue": {"labels": [{"name": "Ärger"}]}});
    let cases = [
        // One number, however written; two large integers stay apart.
        (json!({"field": "f", "equals": 1}), true),
        (json!({"field": "n", "equals": 1.0}), true),
        (json!({"field": "n", "in": [2, 1.0]}), true),
        (
            json!({"field": "big", "equals": 9007199254740992_u64}),
            false,
        ),
        // A number looked for in a string, as its text.
        (json!({"field": "title", "contains": 5}), true),
        (json!({"field": "title", "contains": 6}), false),
        // `equals: null` is a field not set: null or absent.
        (json!({"field": "nul", "equals": null}), true),
        (json!({"field": "absent", "equals": null}), true),
        (json!({"field": "title", "equals": null}), false),
        (json!({"field": "title", "not_equals": null}), true),
        (json!({"field": "nul", "not_equals": null}), false),
        // Names in any case beyond ASCII.
        (json!({"labels": "ärger"}), true),
        (json!({"labels": "ÄRGER"}), true),
    ];
    for (conditions, want) in cases {
        assert_eq!(
            check(conditions.clone(), payload.clone()),
            want,
            "{conditions}"
        );
    }
}

#[test]
fn text_is_compared_in_nfc_whichever_form_either_side_writes() {
    // `é` and `ö` precomposed (NFC), or as a letter and a combining mark (NFD).
    let (cafe_nfc, cafe_nfd) = ("caf\u{e9}", "cafe\u{301}");
    let (grosse_nfc, grosse_nfd) = ("Gr\u{f6}\u{df}e", "Gro\u{308}\u{df}e");
    let payload = |text: &str, label: &str| {
        json!({"comment": {"body": format!("a {text} here")}, "sender": {"login": text},
               "issue": {"title": text, "labels": [{"name": label}]},
               "channel_name": text, "tags": [text]})
    };
    let cases = [
        (
            json!({"body_contains": cafe_nfc}),
            payload(cafe_nfd, "x"),
            true,
        ),
        (
            json!({"body_contains": cafe_nfd}),
            payload(cafe_nfc, "x"),
            true,
        ),
        (
            json!({"body_contains": "CAF\u{c9}"}),
            payload(cafe_nfd, "x"),
            true,
        ),
        // An accent is not nothing: `cafe` is not in `café`, however it is written.
        (
            json!({"body_contains": "cafe "}),
            payload(cafe_nfd, "x"),
            false,
        ),
        (
            json!({"labels": [grosse_nfc]}),
            payload("x", grosse_nfd),
            true,
        ),
        (
            json!({"labels": grosse_nfd}),
            payload("x", grosse_nfc),
            true,
        ),
        (
            json!({"labels": "gr\u{f6}\u{df}e"}),
            payload("x", grosse_nfd),
            true,
        ),
        // Lowercasing, not full case folding: `ß` and `SS` stay apart.
        (
            json!({"labels": "GR\u{d6}SSE"}),
            payload("x", grosse_nfd),
            false,
        ),
        (json!({"sender": cafe_nfc}), payload(cafe_nfd, "x"), true),
        (json!({"channel": cafe_nfc}), payload(cafe_nfd, "x"), true),
        (
            json!({"field": "issue.title", "equals": cafe_nfc}),
            payload(cafe_nfd, "x"),
            true,
        ),
        (
            json!({"field": "issue.title", "not_equals": cafe_nfd}),
            payload(cafe_nfc, "x"),
            false,
        ),
        (
            json!({"field": "issue.title", "in": ["tea", cafe_nfd]}),
            payload(cafe_nfc, "x"),
            true,
        ),
        (
            json!({"field": "issue.title", "contains": "f\u{e9}"}),
            payload(cafe_nfd, "x"),
            true,
        ),
        (
            json!({"field": "tags", "contains": cafe_nfc}),
            payload(cafe_nfd, "x"),
            true,
        ),
        (
            json!({"field": "issue.title", "regex": "^caf\u{e9}$"}),
            payload(cafe_nfd, "x"),
            true,
        ),
    ];
    for (conditions, payload, want) in cases {
        assert_eq!(
            check(conditions.clone(), payload.clone()),
            want,
            "{conditions} on {payload}"
        );
    }
}
