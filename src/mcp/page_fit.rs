//! A list tool's page cut to what a model's context takes: a `limit` of 200 (which models pick
//! when asked for "all") came to 120–180 KB of text, and more once a client such as Open WebUI
//! prints the JSON indented, which a local model with an 8k–32k context cannot read. The page
//! keeps its first entries that fit, and its cursor continues after the last one kept, so
//! nothing is lost: the next call reads on. REST's pages are as asked.

use serde::Serialize;

/// The most a page's entries may take, in bytes of their JSON and their summary lines.
pub(super) const PAGE_BYTES: usize = 32 * 1024;

/// How many of the first entries fit [`PAGE_BYTES`], each counted as its JSON and its text
/// line; at least one, however large.
fn entries_that_fit<T: Serialize>(items: &[T], lines: &[String]) -> usize {
    let mut spent = 0;
    for (at, (item, line)) in items.iter().zip(lines).enumerate() {
        spent += serde_json::to_vec(item).map_or(0, |json| json.len()) + line.len();
        if spent > PAGE_BYTES && at > 0 {
            return at;
        }
    }
    items.len()
}

/// Cuts a page to the entries that fit, its cursor then continuing after the last one kept
/// (`id` gives an entry's id, which is what a cursor is); the aside its text's heading takes
/// when it cut, empty when the whole page fits.
pub(super) fn fit_page<T: Serialize>(
    items: &mut Vec<T>,
    lines: &mut Vec<String>,
    next_cursor: &mut Option<String>,
    id: impl Fn(&T) -> String,
) -> String {
    let had = items.len();
    let keep = entries_that_fit(items, lines);
    if keep >= had {
        return String::new();
    }
    items.truncate(keep);
    lines.truncate(keep);
    *next_cursor = items.last().map(id);
    format!(
        " (the first {keep} of the {had} asked for, as many as fit a model's context; the \
         cursor below reads on after them)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_to_what_fits_and_its_cursor_continues_after_the_last_kept() {
        // (entries, each entry's text size, whether the page had more after it)
        let cases: [(usize, usize, Option<&str>); 4] = [
            (20, 700, None),
            (200, 700, None),
            (200, 700, Some("id-199")),
            (3, 100_000, None),
        ];
        for (count, size, cursor) in cases {
            let mut items: Vec<String> = (0..count).map(|i| format!("id-{i}")).collect();
            let mut lines: Vec<String> = (0..count).map(|_| "x".repeat(size)).collect();
            let mut next = cursor.map(str::to_string);
            let aside = fit_page(&mut items, &mut lines, &mut next, Clone::clone);
            let spent: usize = items.iter().map(|i| i.len() + 2).sum::<usize>()
                + lines.iter().map(String::len).sum::<usize>();
            assert_eq!(items.len(), lines.len());
            assert!(!items.is_empty(), "at least one entry is kept");
            if items.len() == count {
                assert!(aside.is_empty(), "{count}x{size}: {aside}");
                assert_eq!(next.as_deref(), cursor, "a whole page keeps its cursor");
            } else {
                assert!(
                    items.len() == 1 || spent <= PAGE_BYTES,
                    "{count}x{size}: {spent}"
                );
                assert_eq!(next.as_deref(), items.last().map(String::as_str));
                assert!(
                    aside.contains(&format!("the first {} of the {count}", items.len())),
                    "{aside}"
                );
            }
        }
    }
}
