//! Mentions of a crowd in a model's words for GitHub and GitLab: a team (`@org/team`) or a
//! subgroup (`@group/sub`) notifies every member, so each is written with a zero-width space
//! after its `@` (see [`super::broadcasts`]). Both sites read the Markdown first (entities,
//! backslash escapes, emphasis) and look for mentions in what it renders, so every way of
//! writing one is looked for. Code is not exempt: which text the sites show as code takes a
//! full CommonMark parse to know, and a guess that is wrong leaves a mention live; a link's
//! URL is, when it surely is one, so a package's npm page still opens.

use std::sync::LazyLock;

use regex::Regex;

/// `@` followed by a name, `/` and a name, any of it possibly written as an entity (`&#64;`,
/// `&lowbar;`) or escaped (`\/`). Names take any entity, so that one after the name
/// (`@org/team&#33;`, rendered `@org/team!`) is part of the match, not a stop before it.
static MENTION: LazyLock<Regex> = LazyLock::new(|| {
    let entity = r"&(?:#0*[0-9]{1,7}|#[xX]0*[0-9a-fA-F]{1,6}|[A-Za-z]{2,10});";
    let escaped = r"\\[-_./@]";
    let at = format!(r"(?:@|{entity})");
    let name = format!(r"(?:[A-Za-z0-9_.-]|{escaped}|{entity})");
    let slash = format!(r"(?:/|{escaped}|{entity})");
    Regex::new(&format!(r"{at}{name}+{slash}{name}+")).expect("mention pattern")
});

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
    while let Some(found) = MENTION.find_at(text, from) {
        let mention = mention_in(found.as_str());
        let preceded = text[..found.start()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let kept = mention.is_none_or(|m| keep.iter().any(|k| k.eq_ignore_ascii_case(&m)));
        if preceded || kept || in_link_url(&text[..found.start()]) {
            // Past this match's first character only: an `@` its name swallowed (`@-&#64;o/t`
            // renders `@-@o/t`) may open a mention of its own.
            let first = text[found.start()..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
            from = found.start() + first;
            continue;
        }
        // The `@` (however written) goes as `@` and a zero-width space; the rest as written.
        let at_len = if found.as_str().starts_with('@') {
            1
        } else {
            found.as_str().find(';').map_or(1, |i| i + 1)
        };
        out.push_str(&text[copied..found.start()]);
        out.push_str("@\u{200B}");
        out.push_str(&text[found.start() + at_len..found.end()]);
        copied = found.end();
        from = found.end();
    }
    out.push_str(&text[copied..]);
    out
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

/// Whether what comes before a mention (`before`) ends inside a link's URL: a run free of
/// whitespace, `<` and `)` that opens with `http://` or `https://` and a domain starting with a
/// letter or digit and holding a `.` (at the run's start, or after `(` as a bracketed link or
/// a Markdown link's target), which both sites make a link up to the next space.
fn in_link_url(before: &str) -> bool {
    let token = before
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or_default();
    let url = token.rsplit('(').next().unwrap_or_default();
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let domain = rest.split_once('/').map_or(rest, |(domain, _)| domain);
    !url.contains(['<', ')'])
        && (token == url || token.ends_with(&format!("({url}")))
        && domain.starts_with(|c: char| c.is_ascii_alphanumeric())
        && domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
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
        ] {
            assert_eq!(without_group_mentions(&written, &[]), sent, "{written}");
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
