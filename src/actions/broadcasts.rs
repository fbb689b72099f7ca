//! Text a model wrote (an agent's answer or tool call, an MCP tool's text) is defused here
//! before it is queued: it cannot notify a whole Slack channel or GitLab project, hide a
//! Slack link's URL behind a label, notify a GitHub team or GitLab subgroup, or run a GitLab
//! quick action with the bot's rights. The model reads untrusted payloads, so one could make
//! it write `<!channel>` or
//! `<https://evil.example|your login>`; only the webhook owner's own words (a command's
//! template) may broadcast or label links. A command's GitLab note and GitHub comment are held
//! to the same where the sender's words are in it ([`gitlab_note`], [`github_comment`]).

use super::MessageKind;
use super::mentions::{group_mentions, without_group_mentions};
use super::slack_markup::{Piece, Span, escape_free_text, pieces};

/// The broadcast mentions of the place a text goes to, which a model's words may not use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mentions {
    Slack,
    Gitlab,
    /// A team (`@org/team`) notifies each of its members.
    Github,
    /// Discord posts allow no mentions at all (`allowed_mentions`); the other places have no
    /// mention that reaches more than one person.
    Harmless,
}

impl Mentions {
    /// Of a reply on a source of `kind` (`slack.thread`, `gitlab.issue`, …).
    pub fn of_source(kind: &str) -> Mentions {
        if kind.starts_with("slack.") {
            Mentions::Slack
        } else if kind.starts_with("gitlab.") {
            Mentions::Gitlab
        } else if kind.starts_with("github.") {
            Mentions::Github
        } else {
            Mentions::Harmless
        }
    }

    /// Of a message to a channel of `kind`.
    pub fn of_channel(kind: MessageKind) -> Mentions {
        match kind {
            MessageKind::Slack => Mentions::Slack,
            _ => Mentions::Harmless,
        }
    }

    /// `text` with the broadcast mentions of this place shown as text. Mentions of one person
    /// are kept: an answer may name who asked. It can only grow the text (`&lt;!`, a link's
    /// URL written out), so a text is defused before it is fitted to the place's limit.
    pub fn defuse(self, text: &str) -> String {
        match self {
            Mentions::Slack => defuse_slack(text),
            Mentions::Gitlab => defuse_gitlab(text),
            Mentions::Github => without_group_mentions(text, &[]),
            Mentions::Harmless => text.to_string(),
        }
    }
}

/// The text escaped for Slack but for its markup ([`escape_free_text`]), and of that markup
/// the broadcasts defused: Slack's `<!here>`, `<!channel>`, `<!everyone>` and user-group
/// `<!subteam^…>` all open with `<!`; written `&lt;!` (Slack's escape for `<`), they show as
/// typed and notify nobody.
fn defuse_slack(text: &str) -> String {
    unmask_links(&escape_free_text(text).replace("<!", "&lt;!"))
}

/// A labelled Slack link `<url|label>` shows only its label, so a model steered by a payload
/// could dress a phishing URL as "the build log". Sent as `label (<url>)`, the URL shows.
/// Mentions (`<@U1|ann>`) and channel links (`<#C1|general>`) name no URL and are kept.
fn unmask_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Markup(inner) => out.push_str(&unmasked(inner)),
        }
    }
    out
}

/// One `<…>` of Slack markup (without its brackets), with a link's URL made visible.
fn unmasked(inner: &str) -> String {
    match Span::parse(inner) {
        Span::Link {
            url,
            label: Some(label),
        } => {
            let label = label.trim();
            if label == url {
                format!("<{url}>")
            } else if url.strip_prefix("mailto:") == Some(label) {
                // The label is the address itself: it hides nothing.
                format!("<{url}|{label}>")
            } else {
                format!("{label} (<{url}>)")
            }
        }
        // A blank label (`<url| >`) is dropped.
        Span::Link { url, label: None } => format!("<{url}>"),
        _ => format!("<{inner}>"),
    }
}

/// A note for GitLab: no quick actions ([`without_quick_actions`]), and no mention of a
/// crowd ([`without_crowds`]).
fn defuse_gitlab(text: &str) -> String {
    without_crowds(&without_quick_actions(text, &[]))
}

/// GitLab's mentions of many: `@all` ([`without_all`]) and a subgroup's `@group/sub`
/// ([`without_group_mentions`]).
fn without_crowds(text: &str) -> String {
    without_group_mentions(&without_all(text), &[])
}

/// GitLab's `@all` notifies every member of the project. A zero-width space after the `@`
/// keeps it readable but no longer a mention; `@allison` and `me@all.example` are left alone.
/// GitLab finds a mention wherever no word character (ASCII letter, digit, `_`) comes before
/// the `@` (`-@all`, `.@all` are mentions), and reads the Markdown first, so any of its
/// characters written as an entity (`&#64;all`, `@&#97;ll`, `@al&#x6c;`) makes one too: it is
/// written as the `@all` it renders as, then defused.
fn without_all(text: &str) -> String {
    static ALL_ENTITIES: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        let at = r"(?:@|&(?i:#0*64|#x0*40|commat);)";
        let a = r"(?:a|&(?i:#0*97|#x0*61);)";
        let l = r"(?:l|&(?i:#0*108|#x0*6c);)";
        regex::Regex::new(&format!("{at}{a}{l}{l}")).expect("entity pattern")
    });
    // Only an `@all` made of entities: an entity elsewhere (an address in a code span) stays
    // as written.
    let text = ALL_ENTITIES.replace_all(text, "@all");
    let is_word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let is_name_char = |c: char| is_word_char(c) || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("@all") {
        let (before, after) = (&rest[..at], &rest[at + 4..]);
        let preceded = before
            .chars()
            .next_back()
            .or_else(|| out.chars().next_back())
            .is_some_and(is_word_char);
        let mut next = after.chars();
        let followed = match next.next() {
            Some('.') => next.next().is_some_and(is_name_char),
            Some(c) => is_name_char(c),
            None => false,
        };
        out.push_str(before);
        out.push_str(if preceded || followed {
            "@all"
        } else {
            "@\u{200B}all"
        });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// GitLab runs the quick actions in a note it is sent (`/merge`, `/approve`, `/assign @x`,
/// `/confidential`), with the rights of the token that posts it: a model steered by a payload
/// could merge. Every line that opens with `/` gets a zero-width space before it, unless it
/// is one of `own` (a whole line of a template's own text): shown as written, it runs
/// nothing. Every such line, code blocks too: GitLab reads them as CommonMark does (`~~~`
/// fences, longer closers, HTML blocks), which a line-by-line look cannot follow, and it
/// folds case beyond ASCII (`/ſpend`). GitLab drops every `\r` before it looks, so they are
/// dropped here too (`\r/merge` is a quick action there).
fn without_quick_actions(text: &str, own: &[&str]) -> String {
    let text = text.replace('\r', "");
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        if bare.starts_with('/') && !own.contains(&bare) {
            out.push('\u{200B}');
        }
        out.push_str(line);
    }
    out
}

/// A GitLab note a command's `template` rendered: the sender's words it prints may not run
/// a quick action (a note echoed as `Noted: {{ object_attributes.note }}` holding a line
/// `/merge`) nor notify the project. The template's own whole lines that it always prints run
/// as written (`/label ~triaged`; see [`always_printed`]), and its `@all` notifies, when such
/// text of its own has one.
pub fn gitlab_note(template: &str, rendered: &str) -> String {
    let own = always_printed(template);
    let lines: Vec<&str> = own
        .lines
        .iter()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| line.starts_with('/'))
        .collect();
    let text = without_quick_actions(rendered, &lines);
    // Defusing changes text that holds a mention of everyone. Each kind is the template's
    // to use only if it does: its `@group/oncall` lets no sender's `@all` through.
    let text = if without_all(&own.text) != own.text {
        text
    } else {
        without_all(&text)
    };
    without_group_mentions(&text, &group_mentions(&own.text))
}

/// A Slack message a command's `template` rendered with a Slack event's own text in it (sent
/// back to Slack as its markup): the sender's `<!channel>`, `<!here>`, `<!everyone>` or
/// user group may not notify with the bot's rights (in a channel where the sender could not,
/// or again where they did), nor may its labelled link hide its URL. What the template's own
/// text always prints (see [`always_printed`]) stays as it writes it.
pub fn slack_message(template: &str, rendered: &str) -> String {
    let own = always_printed(template).text;
    let mut out = String::with_capacity(rendered.len());
    for piece in pieces(rendered) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Markup(inner) if own.contains(&format!("<{inner}>")) => {
                out.push('<');
                out.push_str(inner);
                out.push('>');
            }
            Piece::Markup(inner) if inner.starts_with('!') => {
                out.push_str("&lt;");
                out.push_str(inner);
                out.push('>');
            }
            Piece::Markup(inner) => out.push_str(&unmasked(inner)),
        }
    }
    out
}

/// A GitHub comment a command's `template` rendered: the sender's words it prints may not
/// notify a team (`@org/team`); the teams the template's own text names, it may.
pub fn github_comment(template: &str, rendered: &str) -> String {
    without_group_mentions(rendered, &group_mentions(&always_printed(template).text))
}

/// What a template prints whatever it is given: its literal text outside every block
/// (`{% if %}`, `{% for %}`, a macro, a `{% raw %}`…) and comment, as a whole, and its whole
/// lines of that text (none of a line with a `{{ }}` in it). Only those are surely the
/// template's own words in what it renders: a line it prints only on a condition, or one in a
/// comment, the sender could write in its place.
struct Printed<'t> {
    text: String,
    lines: Vec<&'t str>,
}

fn always_printed(template: &str) -> Printed<'_> {
    const OPENERS: [&str; 10] = [
        "if",
        "for",
        "macro",
        "call",
        "filter",
        "set",
        "raw",
        "block",
        "with",
        "autoescape",
    ];
    let mut printed = Printed {
        text: String::new(),
        lines: Vec::new(),
    };
    let mut depth = 0usize;
    let mut at = 0;
    while at < template.len() {
        let rest = &template[at..];
        let tag = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|open| rest.find(open).map(|i| (i, *open)))
            .min();
        let literal_end = tag.map_or(rest.len(), |(i, _)| i);
        if depth == 0 {
            let literal = &rest[..literal_end];
            printed.text.push_str(literal);
            // Whole lines: begun at the template's start or after a line break of this text,
            // and ended by a line break of it or the template's end.
            let starts_line = at == 0 || template[..at].ends_with('\n');
            let pieces: Vec<&str> = literal.split('\n').collect();
            let last = pieces.len() - 1;
            for (n, piece) in pieces.into_iter().enumerate() {
                let whole_start = n > 0 || starts_line;
                let whole_end = n < last || tag.is_none();
                if whole_start && whole_end {
                    printed.lines.push(piece);
                }
            }
        }
        let Some((i, open)) = tag else { break };
        let close = match open {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        let inside_start = at + i + 2;
        let Some(len) = template[inside_start..].find(close) else {
            break;
        };
        let inside = &template[inside_start..inside_start + len];
        if open == "{%" {
            let words = inside.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
            let name = words.split_whitespace().next().unwrap_or_default();
            // `{% set x = … %}` sets; only `{% set x %}…{% endset %}` is a block.
            let opens = OPENERS.contains(&name) && !(name == "set" && words.contains('='));
            if opens {
                depth += 1;
            } else if name.starts_with("end") {
                depth = depth.saturating_sub(1);
            }
        }
        at = inside_start + len + 2;
    }
    printed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_broadcasts_are_shown_as_text() {
        for (written, sent) in [
            ("<!channel> deploy now", "&lt;!channel> deploy now"),
            (
                "hi <!here|here> and <!everyone>",
                "hi &lt;!here|here> and &lt;!everyone>",
            ),
            ("ping <!subteam^S123|@ops>", "ping &lt;!subteam^S123|@ops>"),
            ("thanks <@U123>", "thanks <@U123>"),
            // The rest of the text is escaped, so Slack reads none of it as markup.
            ("a < b and c > d", "a &lt; b and c &gt; d"),
            ("Vec<String> & R&amp;D", "Vec&lt;String&gt; &amp; R&amp;D"),
        ] {
            assert_eq!(defuse_slack(written), sent, "{written}");
        }
    }

    #[test]
    fn a_slack_links_label_cannot_hide_its_url() {
        for (written, sent) in [
            (
                "see <https://evil.example|click>",
                "see click (<https://evil.example>)",
            ),
            (
                "<https://evil.example/x|https://good.example> now",
                "https://good.example (<https://evil.example/x>) now",
            ),
            (
                "<mailto:a@b.example|write> us",
                "write (<mailto:a@b.example>) us",
            ),
            (
                "<https://x.example|https://x.example>",
                "<https://x.example>",
            ),
            ("<https://x.example| >", "<https://x.example>"),
            (
                "<mailto:a@b.example|a@b.example>",
                "<mailto:a@b.example|a@b.example>",
            ),
            (
                "plain <https://x.example> link",
                "plain <https://x.example> link",
            ),
            ("<@U1|ann> in <#C1|general>", "<@U1|ann> in <#C1|general>"),
            (
                "<!here|here> then <https://e.example|a>",
                "&lt;!here|here> then a (<https://e.example>)",
            ),
            (
                "1 < 2 <https://e.example|a>",
                "1 &lt; 2 a (<https://e.example>)",
            ),
            ("open <https://e.example|a", "open &lt;https://e.example|a"),
            (
                "<https://e.example/?a=1&b=2|R&D>",
                "R&amp;D (<https://e.example/?a=1&amp;b=2>)",
            ),
            ("", ""),
        ] {
            assert_eq!(defuse_slack(written), sent, "{written}");
        }
    }

    #[test]
    fn gitlab_all_is_no_longer_a_mention() {
        for (written, sent) in [
            ("@all please look", "@\u{200B}all please look"),
            ("cc @all.", "cc @\u{200B}all."),
            ("(@all)", "(@\u{200B}all)"),
            (
                "@allison and @all-hands and @all_x",
                "@allison and @all-hands and @all_x",
            ),
            ("write to me@all.example", "write to me@all.example"),
            ("@all.team is a user", "@all.team is a user"),
            ("@all@all", "@\u{200B}all@all"),
            ("cc -@all .@all", "cc -@\u{200B}all .@\u{200B}all"),
            (
                "&#64;all &#x40;all &#X040;all &commat;all",
                "@\u{200B}all @\u{200B}all @\u{200B}all @\u{200B}all",
            ),
            ("&#64;allison", "@allison"),
            ("`me&#64;example.com`", "`me&#64;example.com`"),
            (
                "@&#97;ll &#64;&#97;&#108;&#108; @al&#x6C;",
                "@\u{200B}all @\u{200B}all @\u{200B}all",
            ),
            ("@&#65;ll &#97;ll", "@&#65;ll &#97;ll"),
            ("no mention here", "no mention here"),
        ] {
            assert_eq!(defuse_gitlab(written), sent, "{written}");
        }
    }

    #[test]
    fn team_and_subgroup_mentions_are_defused_where_they_notify() {
        assert_eq!(
            Mentions::Github.defuse("cc @acme/ops"),
            "cc @\u{200B}acme/ops"
        );
        assert_eq!(
            Mentions::Gitlab.defuse("@all and @group/sub"),
            "@\u{200B}all and @\u{200B}group/sub"
        );
        assert_eq!(
            Mentions::of_source("github.issue").defuse("@o/t"),
            "@\u{200B}o/t"
        );
        assert_eq!(Mentions::Harmless.defuse("@o/t"), "@o/t");
        // A template's own crowd is meant; a sender's other crowd is not, of either kind.
        for (template, rendered, sent) in [
            (
                "@group/oncall: {{ t }}",
                "@group/oncall: x",
                "@group/oncall: x",
            ),
            (
                "@group/oncall: {{ t }}",
                "@group/oncall: @all @group/sub",
                "@group/oncall: @\u{200B}all @\u{200B}group/sub",
            ),
            (
                "@all: {{ t }}",
                "@all: @group/sub",
                "@all: @\u{200B}group/sub",
            ),
            ("cc {{ t }}", "cc @group/sub", "cc @\u{200B}group/sub"),
        ] {
            assert_eq!(gitlab_note(template, rendered), sent, "{template}");
        }
        assert_eq!(
            github_comment("cc @acme/ops: {{ body }}", "cc @acme/ops: ask @acme/all"),
            "cc @acme/ops: ask @\u{200B}acme/all"
        );
        // Printed only on a condition: the sender may have written it.
        assert_eq!(
            github_comment("{% if x %}@acme/ops{% endif %}{{ b }}", "@acme/ops"),
            "@\u{200B}acme/ops"
        );
    }

    #[test]
    fn gitlab_quick_actions_are_shown_not_run() {
        for (written, sent) in [
            (
                "Looks good.\n/approve\n/merge\n/assign @x",
                "Looks good.\n\u{200B}/approve\n\u{200B}/merge\n\u{200B}/assign @x",
            ),
            ("/CLOSE", "\u{200B}/CLOSE"),
            ("ok\r\n\r/merge", "ok\n\u{200B}/merge"),
            // GitLab folds case beyond ASCII (`ſ` as `s`).
            ("x\n/\u{17F}pend 1h", "x\n\u{200B}/\u{17F}pend 1h"),
            // Not at a line's start: GitLab runs none of these.
            (" /merge and a/b", " /merge and a/b"),
            // In a code block too: how far one goes is CommonMark's to say (`~~~`, a longer
            // closer), not a line's.
            (
                "x\n~~~\n```\n~~~\n/merge\n```",
                "x\n~~~\n```\n~~~\n\u{200B}/merge\n```",
            ),
            ("", ""),
        ] {
            assert_eq!(defuse_gitlab(written), sent, "{written:?}");
        }
    }

    #[test]
    fn a_slack_senders_broadcasts_and_labelled_links_go_back_to_slack_defused() {
        let cases = [
            // (template, rendered, sent)
            (
                "Relayed: {{event.text}}",
                "Relayed: hi <!channel> <!here> <!everyone>",
                "Relayed: hi &lt;!channel> &lt;!here> &lt;!everyone>",
            ),
            (
                "Relayed: {{event.text}}",
                "Relayed: ping <!subteam^S1|@oncall>",
                "Relayed: ping &lt;!subteam^S1|@oncall>",
            ),
            (
                "Relayed: {{event.text}}",
                "Relayed: <https://evil.example/login|https://slack.com/login>",
                "Relayed: https://slack.com/login (<https://evil.example/login>)",
            ),
            // One person, a channel link and a bare link stay as the sender wrote them.
            (
                "{{event.text}}",
                "<@U1> see <#C1|general> and <https://example.com>",
                "<@U1> see <#C1|general> and <https://example.com>",
            ),
            // The template's own broadcast and link are its owner's words.
            (
                "<!here> <https://ci.example/run|the run>: {{event.text}}",
                "<!here> <https://ci.example/run|the run>: <!channel>",
                "<!here> <https://ci.example/run|the run>: &lt;!channel>",
            ),
            // Printed only on a condition, it could be the sender's.
            (
                "{% if x %}<!here>{% endif %}{{event.text}}",
                "<!here><!here>",
                "&lt;!here>&lt;!here>",
            ),
        ];
        for (template, rendered, sent) in cases {
            assert_eq!(slack_message(template, rendered), sent, "{template}");
        }
    }

    #[test]
    fn a_templates_own_lines_run_in_a_gitlab_note_and_the_senders_words_do_not() {
        // (template, as rendered, as sent)
        for (template, rendered, sent) in [
            (
                "Noted: {{ note }}\n/label ~triaged",
                "Noted: hi\n/merge\r\n/approve\n/label ~triaged",
                "Noted: hi\n\u{200B}/merge\n\u{200B}/approve\n/label ~triaged",
            ),
            // A line with a value in it is not the template's own whole line.
            (
                "/assign @{{ user }}",
                "/assign @bob",
                "\u{200B}/assign @bob",
            ),
            ("{{ a }}{{ b }}", "x\n/merge", "x\n\u{200B}/merge"),
            (
                "Path `{{ path }}`",
                "Path `/src/main.rs`",
                "Path `/src/main.rs`",
            ),
            (
                "cc {{ a }}{{ b }}",
                "cc @all and &#64;all",
                "cc @\u{200B}all and @\u{200B}all",
            ),
            // The template's own mention of everyone is meant.
            ("@all: {{ title }}", "@all: down", "@all: down"),
            // Printed only on a condition, or not at all: the sender may have written it.
            (
                "{% if x %}\n/merge\n{% endif %}\nNoted: {{ n }}",
                "\nNoted: hi\n/merge",
                "\nNoted: hi\n\u{200B}/merge",
            ),
            (
                "{#\n/close\n#}Noted: {{ n }}",
                "Noted: x\n/close",
                "Noted: x\n\u{200B}/close",
            ),
            (
                "{% if x %}@all{% endif %} {{ n }}",
                " @all",
                " @\u{200B}all",
            ),
            // After a block, at the top again.
            (
                "{% set a = 1 %}{% if x %}y{% endif %}\n/label ~seen\n{{ n }}",
                "\n/label ~seen\nz",
                "\n/label ~seen\nz",
            ),
            (
                "/label ~triaged\r\n",
                "/label ~triaged\n",
                "/label ~triaged\n",
            ),
        ] {
            assert_eq!(gitlab_note(template, rendered), sent, "{template:?}");
        }
    }

    #[test]
    fn only_places_with_broadcasts_are_changed() {
        for (mentions, sent) in [
            (Mentions::of_source("github.issue"), "<!channel> @all"),
            (Mentions::of_source("jira.issue"), "<!channel> @all"),
            (Mentions::of_channel(MessageKind::Teams), "<!channel> @all"),
            (
                Mentions::of_channel(MessageKind::Discord),
                "<!channel> @all",
            ),
            (Mentions::of_source("slack.thread"), "&lt;!channel> @all"),
            (
                Mentions::of_channel(MessageKind::Slack),
                "&lt;!channel> @all",
            ),
            (
                Mentions::of_source("gitlab.issue"),
                "<!channel> @\u{200B}all",
            ),
        ] {
            assert_eq!(mentions.defuse("<!channel> @all"), sent, "{mentions:?}");
        }
    }
}
