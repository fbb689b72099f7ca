//! Slack's message markup, read one way for both directions: what goes to Slack (a model's
//! text escaped but for the markup it means, [`escape_free_text`], and its link labels made
//! to show their URL, in `broadcasts`) and what comes from it (the text of Slack's own events,
//! shown as plain text where Slack's markup means nothing).

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

/// Free text (a model's words) as Slack message text: `&`, `<` and `>` written as Slack's
/// entities, so that `if a < b and c > d` or `Vec<String>` shows as written rather than being
/// read as markup (and swallowed), but for the markup Slack gives a meaning, which a writer
/// uses on purpose: a person (`<@U…>`), a channel (`<#C…>`), a special mention (`<!here>`,
/// `<!channel>`, `<!everyone>`, `<!subteam^…>`, `<!date^…>`) and a link (`<https://…|label>`,
/// `<mailto:…>`), kept as written. An entity already written (`&amp;`, `&lt;`, `&gt;`) is
/// kept, not escaped twice: text copied from Slack's own is written so.
pub fn escape_free_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for piece in pieces(text) {
        match piece {
            Piece::Text(text) => escape_into(text, &mut out),
            Piece::Markup(inner) if is_meant(Span::parse(inner)) => {
                // Only an `&` can be in it: `pieces` ends it at the first `>`, after no `<`.
                out.push('<');
                escape_into(inner, &mut out);
                out.push('>');
            }
            Piece::Markup(inner) => {
                out.push_str("&lt;");
                escape_into(inner, &mut out);
                out.push_str("&gt;");
            }
        }
    }
    out
}

/// Whether a `<…>` is markup Slack reads as such: a user or channel by its id, one of its
/// special mentions or values, or a link to a web page or an address. Anything else between
/// `<` and `>` (`<String>`, `< b and c >`, `<br>`) is text Slack would swallow.
fn is_meant(span: Span<'_>) -> bool {
    let id_of = |id: &str, kinds: &[char]| {
        id.starts_with(kinds)
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    match span {
        Span::User { id, .. } => id_of(id, &['U', 'W']),
        Span::Channel { id, .. } => id_of(id, &['C', 'G']),
        Span::Special { name, .. } => {
            matches!(name, "here" | "channel" | "everyone")
                || ["subteam^", "date^"]
                    .iter()
                    .any(|kind| name.len() > kind.len() && name.starts_with(kind))
        }
        Span::Link { url, .. } => {
            let lower = url.to_ascii_lowercase();
            let rest = ["https://", "http://", "mailto:"]
                .iter()
                .find_map(|scheme| lower.strip_prefix(scheme));
            rest.is_some_and(|rest| !rest.is_empty()) && !url.contains(char::is_whitespace)
        }
    }
}

/// The entities Slack's message text writes `&`, `<` and `>` as.
const ENTITIES: [&str; 3] = ["&amp;", "&lt;", "&gt;"];

/// Where a cut of Slack message text `text` at byte `end` may fall: `end`, or where an entity
/// that it would split starts (`R&amp;D` cut inside its `&amp;` leaves `R&am`, which Slack
/// shows as written). `end` is at a character's boundary.
pub fn unsplit_end(text: &str, end: usize) -> usize {
    // A split entity begins less than its length (five bytes at most) before the cut; an
    // `&` is one byte, and is no part of another character.
    let near = end.saturating_sub(ENTITIES[0].len() - 1);
    let Some(at) = text.as_bytes()[near..end].iter().rposition(|&b| b == b'&') else {
        return end;
    };
    let at = near + at;
    if ENTITIES
        .iter()
        .any(|entity| text[at..].starts_with(entity) && at + entity.len() > end)
    {
        at
    } else {
        end
    }
}

/// `text` with `&`, `<` and `>` as Slack's entities, but an entity already written as one.
fn escape_into(text: &str, out: &mut String) {
    for (at, c) in text.char_indices() {
        match c {
            '&' if ENTITIES.iter().any(|entity| text[at..].starts_with(entity)) => out.push('&'),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
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
    fn free_text_is_escaped_but_for_the_markup_it_means_and_entities_written() {
        for (written, sent) in [
            ("if a < b and c > d", "if a &lt; b and c &gt; d"),
            (
                "Vec<String> and Option<&str>",
                "Vec&lt;String&gt; and Option&lt;&amp;str&gt;",
            ),
            ("R&D, AT&T & co", "R&amp;D, AT&amp;T &amp; co"),
            ("x<y", "x&lt;y"),
            ("a -> b => c", "a -&gt; b =&gt; c"),
            ("<br>", "&lt;br&gt;"),
            ("<<>>", "&lt;&lt;&gt;&gt;"),
            // Already escaped: kept, not escaped twice.
            ("R&amp;D &lt;b&gt;", "R&amp;D &lt;b&gt;"),
            ("&amp;lt;", "&amp;lt;"),
            ("&nbsp; &quot; &", "&amp;nbsp; &amp;quot; &amp;"),
            // Slack's own markup, kept.
            (
                "thanks <@U123ABC> and <@W9|ann>",
                "thanks <@U123ABC> and <@W9|ann>",
            ),
            ("in <#C123|general> or <#G1>", "in <#C123|general> or <#G1>"),
            (
                "<!here> <!channel> <!everyone>",
                "<!here> <!channel> <!everyone>",
            ),
            ("ping <!subteam^S1|@ops>", "ping <!subteam^S1|@ops>"),
            (
                "<!date^1392734382^{date}|Feb 18>",
                "<!date^1392734382^{date}|Feb 18>",
            ),
            (
                "see <https://x.example|docs>",
                "see <https://x.example|docs>",
            ),
            (
                "<HTTP://x.example> <mailto:a@b.c|mail>",
                "<HTTP://x.example> <mailto:a@b.c|mail>",
            ),
            (
                "<https://x.example/?a=1&b=2|R&D> <https://y.example/?a&amp;b>",
                "<https://x.example/?a=1&amp;b=2|R&amp;D> <https://y.example/?a&amp;b>",
            ),
            // Not Slack's markup: escaped as text.
            (
                "<@ann> <@u123> <#general> <!foo> <!subteam^>",
                "&lt;@ann&gt; &lt;@u123&gt; &lt;#general&gt; &lt;!foo&gt; &lt;!subteam^&gt;",
            ),
            (
                "<ftp://x.example> <https://> <https://a b|c>",
                "&lt;ftp://x.example&gt; &lt;https://&gt; &lt;https://a b|c&gt;",
            ),
            // A `<` another `<` follows before its `>` is text; the second may open markup.
            ("1 < 2 <@U1>", "1 &lt; 2 <@U1>"),
            ("open <https://x.example|a", "open &lt;https://x.example|a"),
            ("", ""),
        ] {
            assert_eq!(escape_free_text(written), sent, "{written}");
            // What Slack shows of it is what was written, but for the markup kept.
            if !written.contains("&amp;") && !written.contains("&lt;") && !sent.contains("<") {
                assert_eq!(to_plain(&escape_free_text(written)), written, "{written}");
            }
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
