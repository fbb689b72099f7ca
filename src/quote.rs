//! Input quoted back in refusals, from every layer (engine, service, HTTP, MCP): kept short;
//! a sender's words shown inside a line of a summary: kept to that line; and counts written
//! into a sentence: "1 attempt", not "1 attempts".

use std::borrow::Cow;
use std::fmt::Write as _;

/// Input quoted back in an error, cut short: a 3 MB "id" should not come back whole (into a
/// model's context, say); the start is enough to recognise it.
pub fn quoted(input: &str) -> Cow<'_, str> {
    const KEEP: usize = 100;
    if input.len() <= KEEP {
        return input.into();
    }
    let mut end = KEEP;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &input[..end], input.len()).into()
}

/// The full stop to put after `text` to end a sentence: none when it ends one already (an
/// upstream's message such as Open WebUI's "… Please sign in again."), so that none is
/// doubled.
pub fn full_stop(text: &str) -> &'static str {
    match text.trim_end().chars().last() {
        Some('.' | '!' | '?' | '…') => "",
        _ => ".",
    }
}

/// "an" before a word said with a vowel first (`openwebui.channel`, `issues.opened`), else
/// "a": for names quoted into a sentence. By the first letter alone, `u` not counted (a
/// `user`), which serves the names of providers, sources and event types.
pub fn a_or_an(word: &str) -> &'static str {
    let first = word
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .chars()
        .next();
    match first.map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o') => "an",
        _ => "a",
    }
}

/// `n` and `noun` (singular, made plural with an `s`) as a sentence says them: "1 task",
/// "0 tasks", "3 tasks". Any number type: only whether it reads `1` matters.
pub fn counted(n: impl std::fmt::Display, noun: &str) -> String {
    let n = n.to_string();
    let s = if n == "1" { "" } else { "s" };
    format!("{n} {noun}{s}")
}

/// A task's status as a sentence says it after its name: "is queued", "is done", but "has
/// failed" (a task "is failed" reads as a slip).
pub fn task_is(status: &str) -> String {
    match status {
        "failed" => "has failed".into(),
        other => format!("is {other}"),
    }
}

/// `text` as one line of a summary a model reads (an event's type or source in `list_events`):
/// a line break, any other control character and the marks that hide or reorder text
/// ([`crate::invisible::misleading`]) are shown escaped (`\n`, `\u{202E}`), so a value a
/// sender chose can neither start a line that reads as another entry nor make its own line
/// read otherwise.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(shown_escaped) {
        return text.into();
    }
    let mut line = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if shown_escaped(c) => {
                let _ = write!(line, "\\u{{{:04X}}}", u32::from(c));
            }
            c => line.push(c),
        }
    }
    line.into()
}

fn shown_escaped(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || crate::invisible::misleading(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_gets_one_full_stop_and_a_name_its_article() {
        for (text, stop) in [
            ("Invalid token", "."),
            ("Your session has expired. Please sign in again.", ""),
            ("Please sign in again. ", ""),
            ("Really?", ""),
            ("cut short…", ""),
            ("(see the log)", "."),
            ("", "."),
        ] {
            assert_eq!(full_stop(text), stop, "{text:?}");
        }
        for (word, article) in [
            ("openwebui.channel", "an"),
            ("`openwebui`", "an"),
            ("issues.opened", "an"),
            ("email", "an"),
            ("github.issue", "a"),
            ("slack.thread", "a"),
            ("user", "a"),
            ("", "a"),
        ] {
            assert_eq!(a_or_an(word), article, "{word:?}");
        }
    }

    #[test]
    fn a_count_of_one_is_singular_and_a_failed_task_has_failed() {
        for (n, noun, said) in [
            (1_i64, "attempt", "1 attempt"),
            (0, "attempt", "0 attempts"),
            (3, "task", "3 tasks"),
            (-1, "action", "-1 actions"),
            (11, "event", "11 events"),
        ] {
            assert_eq!(counted(n, noun), said);
        }
        assert_eq!(counted(1_usize, "command"), "1 command");
        for (status, said) in [
            ("failed", "has failed"),
            ("done", "is done"),
            ("cancelled", "is cancelled"),
            ("waiting_reply", "is waiting_reply"),
        ] {
            assert_eq!(task_is(status), said);
        }
    }

    #[test]
    fn long_input_is_cut_short_and_short_input_is_kept() {
        assert_eq!(quoted("gh"), "gh");
        let long = "x".repeat(3_000_000);
        let shown = quoted(&long);
        assert!(shown.len() < 150, "{}", shown.len());
        assert!(shown.ends_with("… (3000000 bytes)"), "{shown}");
        let wide = "é".repeat(80); // 160 bytes: the cut lands inside a character
        assert!(quoted(&wide).starts_with(&"é".repeat(50)));
    }

    #[test]
    fn a_value_shown_on_one_line_keeps_to_it_and_shows_what_hides() {
        let cases = [
            ("octo/app#7", "octo/app#7"),
            ("café 👩‍💻 ❤️", "café 👩‍💻 ❤️"),
            ("a\nb\r\tc", "a\\nb\\r\\tc"),
            ("o/a\u{202E}#1", "o/a\\u{202E}#1"),
            ("x\u{2028}y\u{85}z\u{0}", "x\\u{2028}y\\u{0085}z\\u{0000}"),
            ("zero\u{200B}width", "zero\\u{200B}width"),
        ];
        for (text, shown) in cases {
            assert_eq!(one_line(text), shown, "{text:?}");
        }
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
    }
}
