//! Input quoted back in refusals, from every layer (engine, service, HTTP, MCP): kept short;
//! and a sender's words shown inside a line of a summary: kept to that line.

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
