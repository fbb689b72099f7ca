//! Mentions of a crowd in a model's words for GitHub and GitLab: a team (`@org/team`) or a
//! subgroup (`@group/sub`) notifies every member, so each is written with a zero-width space
//! after its `@` (see [`super::broadcasts`]). Both sites read the Markdown first (entities,
//! backslash escapes, emphasis) and look for mentions in what it renders, so every way of
//! writing one is looked for. Code is not exempt: which text the sites show as code takes a
//! full CommonMark parse to know, and a guess that is wrong leaves a mention live; a link's
//! URL is, when it surely is one, so a package's npm page still opens.

use std::sync::LazyLock;

use regex::Regex;

/// `@` (or an entity that renders as one: `&#64;`, `&#x40;`, `&commat;`) followed by a name,
/// `/` and a name, any of these possibly written as an entity (`&lowbar;`) or escaped (`\/`).
/// Names take any entity, so that one after the name (`@org/team&#33;`, rendered
/// `@org/team!`) is part of the match, not a stop before it.
fn mention_pattern(anchored: bool) -> Regex {
    let (at, name, slash) = mention_parts();
    let start = if anchored { "^" } else { "" };
    Regex::new(&format!(r"{start}{at}{name}+{slash}{name}+")).expect("mention pattern")
}

/// The `@`, name and `/` of [`mention_pattern`].
fn mention_parts() -> (String, String, String) {
    let entity = r"&(?:#0*[0-9]{1,7}|#[xX]0*[0-9a-fA-F]{1,6}|[A-Za-z]{2,10});";
    let escaped = r"\\[-_./@]";
    let at = r"(?:@|&(?:#0*64|#[xX]0*40|(?i:commat));)".to_string();
    let name = format!(r"(?:[A-Za-z0-9_.-]|{escaped}|{entity})");
    let slash = format!(r"(?:/|{escaped}|{entity})");
    (at, name, slash)
}

static MENTION: LazyLock<Regex> = LazyLock::new(|| mention_pattern(false));

/// [`MENTION`] at the start of the text it is given.
static MENTION_HERE: LazyLock<Regex> = LazyLock::new(|| mention_pattern(true));

/// An `@` and the name characters after it, at the start of the text it is given: where no
/// mention starts at an `@`, none starts at one of those either (its name would be a part of
/// the first one's), so they are passed over.
static NAME_RUN: LazyLock<Regex> = LazyLock::new(|| {
    let (at, name, _) = mention_parts();
    Regex::new(&format!(r"^{at}{name}*")).expect("name run pattern")
});

/// The most of a text a mention is looked for in from one `@`: longer than a GitHub
/// organization's or a GitLab group's name (39 and 255 characters) written out in entities,
/// and what bounds the work a sender's text of thousands of `@` makes, each of which may start
/// one. A mention whose team or subgroup name runs past it is defused up to there.
const LONGEST_MENTION: usize = 4096;

/// A team or subgroup mention at the start of what a match renders as: `@`, a name, `/`, a
/// name. What follows it (`!` from an entity) is no part of it.
static SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^@[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*").expect("shape")
});

/// `text` with every team or subgroup mention defused, but those in `keep` (as they render,
/// e.g. a template's own `@group/oncall`) and those inside a link's URL. `me@org/x` (a letter
/// or digit before the `@`) is none already; `_em_@org/x` is one (the `_` closes emphasis).
pub fn without_group_mentions(text: &str, keep: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    let mut links = LinkScan::default();
    // Each `@` (or `&`, which may be one written as an entity) is looked at once, within
    // `LONGEST_MENTION` of it: a text of thousands of them costs no more than their number.
    while let Some(at) = text[from..].find(['@', '&']).map(|i| from + i) {
        // A letter or digit before the `@` makes it an address's (`me@org/x`), whatever follows.
        let preceded = text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if preceded || !opens_mention(&text[at..]) {
            from = at + 1;
            continue;
        }
        let window = &text[at..text.floor_char_boundary(at.saturating_add(LONGEST_MENTION))];
        let Some(found) = MENTION_HERE.find(window) else {
            // Past the run of name characters, unless it ran to the stretch's end: an `@`
            // in it may open one that ends past there.
            from = at
                + NAME_RUN
                    .find(window)
                    .map(|run| run.end())
                    .filter(|&end| end > 0 && end < window.len())
                    .unwrap_or(1);
            continue;
        };
        let (start, end) = (at, at + found.end());
        let mention = mention_in(found.as_str());
        let kept = mention.is_none_or(|m| keep.iter().any(|k| k.eq_ignore_ascii_case(&m)));
        if kept || links.in_url(text, start) {
            // Past this match's first character only: an `@` its name swallowed (`@-&#64;o/t`
            // renders `@-@o/t`) may open a mention of its own.
            from = at + 1;
            continue;
        }
        // The `@` (however written) goes as `@` and a zero-width space; the rest as written.
        let at_len = if found.as_str().starts_with('@') {
            1
        } else {
            found.as_str().find(';').map_or(1, |i| i + 1)
        };
        out.push_str(&text[copied..start]);
        out.push_str("@\u{200B}");
        out.push_str(&text[start + at_len..end]);
        copied = end;
        from = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether `text` opens with an `@` (however written) that a letter or digit (however written)
/// follows, as every mention's does: a run of `@` or of entities starts none, and is passed
/// over without reading on from each.
fn opens_mention(text: &str) -> bool {
    /// One entity as [`rendered`] reads it (leading zeros and all), at the text's start.
    static ENTITY_HERE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^&(?:#0*[0-9]{1,7}|#[xX]0*[0-9a-fA-F]{1,6}|[A-Za-z]{2,10});")
            .expect("entity pattern")
    });
    let one = |text: &str| -> Option<(char, usize)> {
        match ENTITY_HERE.find(text) {
            Some(entity) => rendered(entity.as_str())
                .chars()
                .next()
                .map(|c| (c, entity.end())),
            None => text.chars().next().map(|c| (c, c.len_utf8())),
        }
    };
    match one(text) {
        Some(('@', len)) => one(&text[len..]).is_some_and(|(c, _)| c.is_ascii_alphanumeric()),
        _ => false,
    }
}

/// The team and subgroup mentions `text` holds, as they render (for [`without_group_mentions`]'s
/// `keep`).
pub fn group_mentions(text: &str) -> Vec<String> {
    MENTION
        .find_iter(text)
        .filter_map(|m| mention_in(m.as_str()))
        .collect()
}

/// The mention a match of [`MENTION`] renders as, if it is one (`@org/team`, without a
/// sentence's closing `.`).
fn mention_in(found: &str) -> Option<String> {
    let rendered = rendered(found);
    SHAPE
        .find(&rendered)
        .map(|m| m.as_str().trim_end_matches('.').to_string())
}

/// Where the run of text without whitespace a mention stands in began, read forward once
/// through the whole text (a text of thousands of mentions is not read back from each): whether
/// what comes before a mention ends inside a link's URL. That is a run free of whitespace, `<`
/// and `)` that opens with `http://` or `https://` and a domain starting with a letter or
/// digit and holding a `.` (at the run's start, or after `(` as a bracketed link or a Markdown
/// link's target), which both sites make a link up to the next space.
#[derive(Default)]
struct LinkScan {
    /// How far the text has been read.
    read: usize,
    /// Where the possible URL begins: the run's start, or after its latest `(`.
    url_start: usize,
    /// Whether a `<` or `)` came since `url_start`: no URL then.
    broken: bool,
}

impl LinkScan {
    /// Whether `text[..at]` ends inside a link's URL (`at` no earlier than the last asked).
    fn in_url(&mut self, text: &str, at: usize) -> bool {
        for (i, c) in text[self.read..at].char_indices() {
            let i = self.read + i;
            if c.is_whitespace() || c == '(' {
                self.url_start = i + c.len_utf8();
                self.broken = false;
            } else if c == '<' || c == ')' {
                self.broken = true;
            }
        }
        self.read = at;
        if self.broken {
            return false;
        }
        let url = &text[self.url_start..at];
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            return false;
        };
        // No domain is longer than 253 characters: what is read of it is bounded.
        let head = &rest[..rest.floor_char_boundary(254)];
        let domain = head.split_once('/').map_or(head, |(domain, _)| domain);
        domain.len() <= 253
            && domain.starts_with(|c: char| c.is_ascii_alphanumeric())
            && domain.contains('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    }
}

/// `text` as the Markdown renders it, as far as a mention goes: numeric entities and the named
/// ones for `@`, `/`, `_` and `.` read as their characters (one that stands for none is kept
/// as written), and a backslash before `-`, `_`, `.`, `/` or `@` dropped.
fn rendered(text: &str) -> String {
    static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"&(?:#0*([0-9]{1,7})|#[xX]0*([0-9a-fA-F]{1,6})|([A-Za-z]{2,10}));|\\([-_./@])")
            .expect("entity pattern")
    });
    ENTITY
        .replace_all(text, |c: &regex::Captures<'_>| {
            let code = if let Some(decimal) = c.get(1) {
                decimal.as_str().parse().ok()
            } else if let Some(hex) = c.get(2) {
                u32::from_str_radix(hex.as_str(), 16).ok()
            } else if let Some(named) = c.get(3) {
                match named.as_str().to_ascii_lowercase().as_str() {
                    "commat" => Some(u32::from('@')),
                    "sol" => Some(u32::from('/')),
                    "lowbar" | "underbar" => Some(u32::from('_')),
                    "period" => Some(u32::from('.')),
                    _ => None,
                }
            } else {
                c.get(4)
                    .and_then(|e| e.as_str().chars().next())
                    .map(u32::from)
            };
            code.and_then(char::from_u32)
                .map_or_else(|| c[0].to_string(), String::from)
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_and_subgroup_mentions_are_no_longer_mentions() {
        let z = "@\u{200B}";
        for (written, sent) in [
            (
                "cc @acme/ops now".to_string(),
                format!("cc {z}acme/ops now"),
            ),
            (
                "(@Acme-1/core_team)".into(),
                format!("({z}Acme-1/core_team)"),
            ),
            ("@a/b and @c/d.".into(), format!("{z}a/b and {z}c/d.")),
            // However the Markdown writes it: entities, escapes, emphasis before it.
            ("&#64;acme/ops".into(), format!("{z}acme/ops")),
            ("&commat;acme&sol;ops".into(), format!("{z}acme&sol;ops")),
            ("@&#97;cme&#x2F;ops".into(), format!("{z}&#97;cme&#x2F;ops")),
            ("@org/team&#33; hi".into(), format!("{z}org/team&#33; hi")),
            ("@org/te&#x21;am".into(), format!("{z}org/te&#x21;am")),
            (
                "@org\\/team @o\\-rg/t".into(),
                format!("{z}org\\/team {z}o\\-rg/t"),
            ),
            (
                "@o&lowbar;rg/t @o&period;x/t".into(),
                format!("{z}o&lowbar;rg/t {z}o&period;x/t"),
            ),
            ("_em_@org/team".into(), format!("_em_{z}org/team")),
            // An `@` a skipped match swallowed as a name character is looked at too.
            ("@-&#64;org/team".into(), format!("@-{z}org/team")),
            ("&#64;&#64;org/team".into(), format!("&#64;{z}org/team")),
            // A person, an address or a bare slash mention nobody.
            ("thanks @alice".into(), "thanks @alice".into()),
            ("me@acme/ops".into(), "me@acme/ops".into()),
            (
                "@/ops and @acme/ and @-x/y".into(),
                "@/ops and @acme/ and @-x/y".into(),
            ),
            ("`&#64;` &#99999999;".into(), "`&#64;` &#99999999;".into()),
            // A link's URL shows no mention, and keeps working.
            (
                "see https://www.npmjs.com/package/@types/node now".into(),
                "see https://www.npmjs.com/package/@types/node now".into(),
            ),
            (
                "[pkg](https://npmjs.com/@types/node)".into(),
                "[pkg](https://npmjs.com/@types/node)".into(),
            ),
            // Not surely inside a URL: after the link, glued to a word, an odd domain.
            (
                "[x](https://e.com/)@org/team".into(),
                format!("[x](https://e.com/){z}org/team"),
            ),
            (
                "xhttps://e.com/@a/b".into(),
                format!("xhttps://e.com/{z}a/b"),
            ),
            ("https://./@a/b".into(), format!("https://./{z}a/b")),
            (
                "https://localhost/@a/b".into(),
                format!("https://localhost/{z}a/b"),
            ),
            (
                "https://e.com/<@a/b".into(),
                format!("https://e.com/<{z}a/b"),
            ),
            // Code is no exception: telling it apart takes a full Markdown parse.
            (
                "run `npm i @types/node`".into(),
                format!("run `npm i {z}types/node`"),
            ),
            (
                "see src/@types/node".into(),
                format!("see src/{z}types/node"),
            ),
            ("".into(), "".into()),
            // Long runs a sender can write (a 64 KB issue body): each `@` or `&` is looked at
            // once, within a bounded stretch, so these take no time (they took 40 s each).
            ("&lt;".repeat(16_000), "&lt;".repeat(16_000)),
            ("&#64;".repeat(13_000), "&#64;".repeat(13_000)),
            (
                format!("{}/x", "&#64;".repeat(13_000)),
                format!("{}/x", "&#64;".repeat(13_000)),
            ),
            (
                format!("https://a.b/{}", "_@a/b".repeat(13_000)),
                format!("https://a.b/{}", "_@a/b".repeat(13_000)),
            ),
            // An `@` in a run of name characters that reaches past what one `@` is looked
            // at with, and an entity written with many leading zeros, still open mentions.
            (
                format!("@a{}&#64;org/team", "-".repeat(4_089)),
                format!("@a{}{z}org/team", "-".repeat(4_089)),
            ),
            (
                format!("x @a{}\\@org/team", ".".repeat(4_092)),
                format!("x @a{}\\{z}org/team", ".".repeat(4_092)),
            ),
            (
                "x @&#0000000000097;cme/ops".into(),
                format!("x {z}&#0000000000097;cme/ops"),
            ),
            ("x &#00000000064;acme/ops".into(), format!("x {z}acme/ops")),
            // A mention whose name runs past what is looked at is defused all the same.
            (
                format!("@org/{}", "a".repeat(5_000)),
                format!("{z}org/{}", "a".repeat(5_000)),
            ),
        ] {
            let shown: String = written.chars().take(40).collect();
            assert_eq!(without_group_mentions(&written, &[]), sent, "{shown}");
        }
    }

    #[test]
    fn a_kept_mention_is_left_and_the_others_defused() {
        let keep = group_mentions("@Group/oncall: {{ t }}");
        assert_eq!(keep, ["@Group/oncall"]);
        assert_eq!(
            without_group_mentions("@group/oncall: ask @group/all.", &keep),
            "@group/oncall: ask @\u{200B}group/all."
        );
    }
}
