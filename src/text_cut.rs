//! Where a text too long for its place is cut: never inside what a reader sees as one
//! character (a flag, an emoji with its skin tone or joined by ZWJ into a family, a letter
//! with its combining marks), which a cut between code points would leave as a stray half.

use unicode_segmentation::UnicodeSegmentation;

/// The longest start of `text` made of whole graphemes whose characters' widths (as the place
/// counts them: `width`) add up to `room` at most.
pub fn within(text: &str, room: usize, width: impl Fn(char) -> usize) -> &str {
    let mut used = 0;
    let mut end = 0;
    for (at, grapheme) in text.grapheme_indices(true) {
        used += grapheme.chars().map(&width).sum::<usize>();
        if used > room {
            break;
        }
        end = at + grapheme.len();
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_between_graphemes_and_fill_the_room() {
        let one = |_: char| 1;
        let cases: &[(&str, usize, &str)] = &[
            ("abcdef", 3, "abc"),
            ("abc", 10, "abc"),
            ("abc", 0, ""),
            // 🇫🇷 is two code points: a cut between them leaves half a flag.
            ("ab🇫🇷cd", 3, "ab"),
            ("ab🇫🇷cd", 4, "ab🇫🇷"),
            // A family: four people joined by three zero-width joiners, seven code points.
            ("a👨‍👩‍👧‍👦b", 5, "a"),
            ("a👨‍👩‍👧‍👦b", 8, "a👨‍👩‍👧‍👦"),
            // e and a combining acute accent.
            ("cafe\u{301}!", 4, "caf"),
            ("cafe\u{301}!", 5, "cafe\u{301}"),
            // Thumbs up with a skin tone.
            ("👍🏽ok", 1, ""),
            ("\r\nx", 1, ""),
        ];
        for (text, room, expected) in cases {
            assert_eq!(within(text, *room, one), *expected, "{text:?} in {room}");
        }
    }

    #[test]
    fn widths_are_counted_as_the_place_counts_them() {
        // Telegram counts UTF-16 units: the flag is four.
        assert_eq!(within("a🇫🇷b", 4, char::len_utf16), "a");
        assert_eq!(within("a🇫🇷b", 5, char::len_utf16), "a🇫🇷");
        assert_eq!(within("é€x", 5, char::len_utf8), "é€");
    }
}
