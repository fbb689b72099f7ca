//! Mentions of a crowd in a model's words for GitHub and GitLab: a team (`@org/team`) or a
//! subgroup (`@group/sub`) notifies every member, so each is written with a zero-width space
//! after its `@` (see [`super::broadcasts`]); what both sites show as code or as a link's URL
//! is no mention there, and is left as written, so a package such as `@types/node` copies.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// `@` followed by a name, `/` and a name, any of it possibly written as a numeric entity
/// (`&#64;`), as both sites read the Markdown's entities before they look for mentions.
static MENTION: LazyLock<Regex> = LazyLock::new(|| {
    let entity = r"&#(?:0*[0-9]{1,7}|[xX]0*[0-9a-fA-F]{1,6});";
    let at = r"(?:@|&(?i:commat);)";
    let slash = r"(?:/|&(?i:sol);)";
    let name = format!(r"(?:[A-Za-z0-9_.-]|{entity})");
    Regex::new(&format!(
        r"(?:{at}|{entity}){name}+(?:{slash}|{entity}){name}+"
    ))
    .expect("mention pattern")
});

/// A team or subgroup mention as it renders: `@`, a name, `/`, a name.
static SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^@[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*$").expect("shape")
});

/// `text` with every team or subgroup mention defused, but those in `keep` (as they render,
/// e.g. a template's own `@group/oncall`) and those shown as code or inside a link's URL.
/// `me@org/x` (a word character before the `@`) is none already.
pub fn without_group_mentions(text: &str, keep: &[String]) -> String {
    let code = code_spans(text);
    let is_word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = MENTION.find_at(text, from) {
        let rendered = with_entities_read(found.as_str());
        let mention = rendered.trim_end_matches('.');
        let preceded = text[..found.start()]
            .chars()
            .next_back()
            .is_some_and(is_word_char);
        let quoted = code.iter().any(|span| span.contains(&found.start()))
            || in_link_url(&text[..found.start()]);
        if preceded
            || quoted
            || !SHAPE.is_match(mention)
            || keep.iter().any(|k| k.eq_ignore_ascii_case(mention))
        {
            // Past this match's first character only: an `@` its name swallowed (`@-&#64;o/t`
            // renders `@-@o/t`) may open a mention of its own.
            let first = text[found.start()..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
            from = found.start() + first;
            continue;
        }
        out.push_str(&text[copied..found.start()]);
        out.push_str("@\u{200B}");
        out.push_str(&rendered[1..]);
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
        .map(|m| {
            with_entities_read(m.as_str())
                .trim_end_matches('.')
                .to_string()
        })
        .filter(|m| SHAPE.is_match(m))
        .collect()
}

/// Whether what comes before a mention (`before`) ends inside a link's URL: a whitespace-free
/// run that opens with `http://` or `https://` and a domain (after `(`, as a Markdown link's
/// target or a bracketed link, or at its start), which both sites make a link up to the next
/// space.
fn in_link_url(before: &str) -> bool {
    let token = before
        .rsplit(char::is_whitespace)
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
    !url.contains('<')
        && domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Byte ranges of `text` that are surely shown as code: fenced code blocks, and code spans
/// opened and closed on one line. None at all when `text` may hold raw HTML (a `<` before a
/// letter, `/`, `!` or `?`), in which a backtick or fence can be literal text: a mention
/// taken for code there would be left live.
fn code_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let html = bytes.windows(2).any(|w| {
        w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?'))
    });
    if html {
        return Vec::new();
    }
    let mut spans = Vec::new();
    let mut fence: Option<(u8, usize, usize)> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let indent = line.len() - line.trim_start_matches(' ').len();
        let marker = line.trim_start_matches(' ');
        let run = |c: u8| marker.bytes().take_while(|&b| b == c).count();
        match fence {
            Some((c, len, opened)) => {
                let closes = indent <= 3 && run(c) >= len && marker[run(c)..].trim().is_empty();
                if closes {
                    spans.push(opened..at);
                    fence = None;
                }
            }
            None => {
                let opener = [b'`', b'~']
                    .into_iter()
                    .map(|c| (c, run(c)))
                    .find(|&(_, n)| n >= 3);
                match opener {
                    // A backtick fence's info string holds no backtick.
                    Some((c, n)) if indent <= 3 && (c == b'~' || !marker[n..].contains('`')) => {
                        fence = Some((c, n, start));
                    }
                    _ => spans.extend(
                        line_code_spans(line)
                            .into_iter()
                            .map(|r| start + r.start..start + r.end),
                    ),
                }
            }
        }
    }
    // A fence never closed runs to the end.
    if let Some((_, _, opened)) = fence {
        spans.push(opened..text.len());
    }
    spans
}

/// The code spans of one line: a run of backticks (not after a `\`) up to the next run of
/// the same length.
fn line_code_spans(line: &str) -> Vec<Range<usize>> {
    let bytes = line.as_bytes();
    let run_at = |i: usize| bytes[i..].iter().take_while(|&&b| b == b'`').count();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let n = run_at(i);
        if i > 0 && bytes[i - 1] == b'\\' {
            i += n;
            continue;
        }
        let mut j = i + n;
        let mut closed = None;
        while j < bytes.len() {
            if bytes[j] == b'`' {
                let m = run_at(j);
                if m == n {
                    closed = Some(j + m);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match closed {
            Some(end) => {
                spans.push(i..end);
                i = end;
            }
            None => i += n,
        }
    }
    spans
}

/// `text` with its numeric entities and `&commat;` / `&sol;` read as the characters they
/// stand for (one that stands for none is kept as written).
fn with_entities_read(text: &str) -> String {
    static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"&(?:#0*([0-9]{1,7})|#[xX]0*([0-9a-fA-F]{1,6})|(?i:(commat)|(sol)));")
            .expect("entity pattern")
    });
    ENTITY
        .replace_all(text, |c: &regex::Captures<'_>| {
            let code = if let Some(decimal) = c.get(1) {
                decimal.as_str().parse().ok()
            } else if let Some(hex) = c.get(2) {
                u32::from_str_radix(hex.as_str(), 16).ok()
            } else if c.get(3).is_some() {
                Some(u32::from('@'))
            } else {
                Some(u32::from('/'))
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
            ("&#64;acme/ops".into(), format!("{z}acme/ops")),
            ("&commat;acme&sol;ops".into(), format!("{z}acme/ops")),
            ("@&#97;cme&#x2F;ops".into(), format!("{z}acme/ops")),
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
            // Code and a link's URL show no mention: kept as written, so they copy.
            (
                "run `npm i @types/node`".into(),
                "run `npm i @types/node`".into(),
            ),
            (
                "```js\nimport x from '@babel/core'\n```\n@acme/ops".into(),
                format!("```js\nimport x from '@babel/core'\n```\n{z}acme/ops"),
            ),
            (
                "~~~\n@a/b\n~~~~\nthen `` @c/d ``".into(),
                "~~~\n@a/b\n~~~~\nthen `` @c/d ``".into(),
            ),
            (
                "see https://www.npmjs.com/package/@types/node now".into(),
                "see https://www.npmjs.com/package/@types/node now".into(),
            ),
            (
                "[pkg](https://npmjs.com/@types/node)".into(),
                "[pkg](https://npmjs.com/@types/node)".into(),
            ),
            // Not surely code or a link: a lone backtick, an unclosed span, a fence four
            // spaces in, raw HTML that can make backticks text, a scheme glued to a word.
            ("a ` @a/b".into(), format!("a ` {z}a/b")),
            ("``x @a/b`".into(), format!("``x {z}a/b`")),
            ("    ```\n@a/b".into(), format!("    ```\n{z}a/b")),
            (
                "<span title=\"`\">@a/b</span>`".into(),
                format!("<span title=\"`\">{z}a/b</span>`"),
            ),
            (
                "xhttps://e.com/@a/b".into(),
                format!("xhttps://e.com/{z}a/b"),
            ),
            (
                "https://localhost/@a/b".into(),
                format!("https://localhost/{z}a/b"),
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
