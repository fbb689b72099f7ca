//! Slack's message markup, read one way for both directions: what goes to Slack (a model's
//! link labels made to show their URL, in `broadcasts`) and what comes from it (the text of
//! Slack's own events, shown as plain text where Slack's markup means nothing).

/// A stretch of Slack message text: plain text (entities still escaped), or one `<…>` of
/// markup, without its brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Piece<'a> {
    Text(&'a str),
    Markup(&'a str),
}

/// `text` cut into its plain stretches and its `<…>` markup, in order.
pub(super) fn pieces(text: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(open) = rest.find('<') else {
            return Some(Piece::Text(std::mem::take(&mut rest)));
        };
        if open > 0 {
            let (before, after) = rest.split_at(open);
            rest = after;
            return Some(Piece::Text(before));
        }
        let after = &rest[1..];
        // Slack reads `<…>` up to the first `>`; a `<` before it starts no markup. (Looked
        // for together: a run of `<` is read once, not to its end from each of them.)
        match after.find(['<', '>']) {
            Some(close) if after[close..].starts_with('>') => {
                rest = &after[close + 1..];
                Some(Piece::Markup(&after[..close]))
            }
            _ => {
                let lone = &rest[..1];
                rest = after;
                Some(Piece::Text(lone))
            }
        }
    })
}

/// What one `<…>` of markup is, its label (after a `|`) apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Span<'a> {
    /// `<@U123|name>`: a person.
    User { id: &'a str, label: Option<&'a str> },
    /// `<#C123|general>`: a channel.
    Channel { id: &'a str, label: Option<&'a str> },
    /// `<!here>`, `<!subteam^S1|@team>`, `<!date^…|fallback>`: a special mention or value.
    Special {
        name: &'a str,
        label: Option<&'a str>,
    },
    /// `<https://x.example|label>`, `<mailto:a@b.example>`: a link.
    Link {
        url: &'a str,
        label: Option<&'a str>,
    },
}

impl<'a> Span<'a> {
    /// The markup inside a `<…>`; an empty or blank label is none.
    pub(super) fn parse(inner: &'a str) -> Self {
        let (target, label) = match inner.split_once('|') {
            Some((target, label)) => (target, Some(label).filter(|l| !l.trim().is_empty())),
            None => (inner, None),
        };
        if let Some(id) = target.strip_prefix('@') {
            Span::User { id, label }
        } else if let Some(id) = target.strip_prefix('#') {
            Span::Channel { id, label }
        } else if let Some(name) = target.strip_prefix('!') {
            Span::Special { name, label }
        } else {
            Span::Link { url: target, label }
        }
    }
}

/// Slack message text as plain text, for places where its markup means nothing (another
/// chat, an agent's prompt): `&amp;`, `&lt;`, `&gt;` decoded once, mentions as `@name`,
/// channels as `#name`, links as `label (url)`.
pub fn to_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Text(text) => decode_into(text, &mut out),
            Piece::Markup(inner) => plain_span(Span::parse(inner), &mut out),
        }
    }
    out
}

fn plain_span(span: Span<'_>, out: &mut String) {
    match span {
        Span::User { id, label } => {
            // A label is a name (`ann`), though older payloads may already write `@ann`.
            out.push('@');
            decode_into(label.map_or(id, |l| l.strip_prefix('@').unwrap_or(l)), out);
        }
        Span::Channel { id, label } => {
            out.push('#');
            decode_into(label.map_or(id, |l| l.strip_prefix('#').unwrap_or(l)), out);
        }
        Span::Special { name, label } => {
            let (kind, id) = name.split_once('^').unwrap_or((name, ""));
            match (kind, label) {
                ("here" | "channel" | "everyone", _) => {
                    out.push('@');
                    out.push_str(kind);
                }
                // A user group's label is its handle (`@team`); a date's, its fallback text.
                (_, Some(label)) => decode_into(label, out),
                ("subteam", None) => {
                    out.push('@');
                    decode_into(id, out);
                }
                (_, None) => decode_into(name, out),
            }
        }
        Span::Link { url, label } => {
            let address = url.strip_prefix("mailto:");
            let bare = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            match (label, address) {
                // The label is the address or the URL itself: shown once.
                (None, Some(address)) => decode_into(address, out),
                (Some(l), Some(address)) if l == address => decode_into(l, out),
                (None, None) => decode_into(url, out),
                (Some(l), _) if l == url || bare == Some(l) => decode_into(url, out),
                (Some(l), _) => {
                    decode_into(l, out);
                    out.push_str(" (");
                    decode_into(url, out);
                    out.push(')');
                }
            }
        }
    }
}

/// Text with `&`, `<` and `>` written as Slack's entities, so that Slack shows it as typed
/// rather than reading `<!channel>` or `<https://x|click>` in it as markup.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['&', '<', '>']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Slack's three entities decoded, once: `&amp;lt;` is the text `&lt;`.
fn decode_into(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let (decoded, len) = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')]
            .into_iter()
            .find(|(entity, _)| after.starts_with(entity))
            .map_or(('&', 1), |(entity, c)| (c, entity.len()));
        out.push(decoded);
        rest = &after[len..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_read_up_to_the_first_close_and_a_run_of_opens_is_read_once() {
        assert_eq!(
            pieces("a <@U1> <<#C1> <x").collect::<Vec<_>>(),
            [
                Piece::Text("a "),
                Piece::Markup("@U1"),
                Piece::Text(" "),
                Piece::Text("<"),
                Piece::Markup("#C1"),
                Piece::Text(" "),
                Piece::Text("<"),
                Piece::Text("x"),
            ]
        );
        // A sender's million `<` (it took 34 s when each read on to the text's end).
        let opens = "<".repeat(1_000_000);
        let read = pieces(&opens).count();
        assert_eq!(read, 1_000_000);
    }

    #[test]
    fn slack_text_reads_as_plain_text() {
        for (slack, plain) in [
            ("R&amp;D", "R&D"),
            ("a &lt;b&gt; c", "a <b> c"),
            // Decoded once: the person typed `&lt;`.
            ("&amp;lt; &amp;amp;", "&lt; &amp;"),
            ("AT&T &quot;x&quot; &", "AT&T &quot;x&quot; &"),
            ("hi <@U123|ann>", "hi @ann"),
            ("hi <@U123>", "hi @U123"),
            ("<@U123|@ann>", "@ann"),
            ("in <#C123|general>", "in #general"),
            ("in <#C123>", "in #C123"),
            ("in <#C123|>", "in #C123"),
            ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
            ("<!here|here> <!channel|@channel>", "@here @channel"),
            ("ping <!subteam^S1|@team>", "ping @team"),
            ("ping <!subteam^S1>", "ping @S1"),
            ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
            (
                "see <https://x.example|docs>",
                "see docs (https://x.example)",
            ),
            ("see <https://x.example>", "see https://x.example"),
            ("<https://x.example|https://x.example>", "https://x.example"),
            ("<http://x.example|x.example>", "http://x.example"),
            ("<https://x.example| >", "https://x.example"),
            (
                "<https://x.example/?a=1&amp;b=2|R&amp;D>",
                "R&D (https://x.example/?a=1&b=2)",
            ),
            ("<mailto:a@b.c|a@b.c>", "a@b.c"),
            ("<mailto:a@b.c>", "a@b.c"),
            ("<mailto:a@b.c|write us>", "write us (mailto:a@b.c)"),
            (
                "R&amp;D <https://x.example|docs> <@U1>",
                "R&D docs (https://x.example) @U1",
            ),
            // Not markup: a lone `<`, or one another `<` follows before its `>`.
            ("1 < 2 <@U1>", "1 < 2 @U1"),
            ("open <https://x.example|a", "open <https://x.example|a"),
            ("", ""),
        ] {
            assert_eq!(to_plain(slack), plain, "{slack}");
        }
    }

    #[test]
    fn text_is_cut_into_its_plain_stretches_and_markup() {
        use Piece::{Markup, Text};
        let got: Vec<_> = pieces("a <@U1> < b <c|d>> <e").collect();
        assert_eq!(
            got,
            [
                Text("a "),
                Markup("@U1"),
                Text(" "),
                Text("<"),
                Text(" b "),
                Markup("c|d"),
                Text("> "),
                Text("<"),
                Text("e"),
            ]
        );
    }
}
