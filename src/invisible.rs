//! Characters that show as nothing or reorder the text around them, left out wherever a name
//! someone chose is shown (the audit log's Open WebUI user, the line above a posted answer):
//! one list for all of them. Key names are held to a stricter one (`service::auth`).

/// Direction marks, overrides and isolates (U+202E before `nimda` shows `admin`), zero-width
/// spaces, invisible operators, the soft hyphen and the byte-order mark. The joiners and
/// variation selectors that emoji (`👩‍💻`, `❤️`) and some scripts (Persian's ZWNJ) need are
/// not among them.
pub fn misleading(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Whether `text` shows nothing: it holds only whitespace, control characters and characters
/// drawn as nothing (zero-width spaces and joiners, direction marks, variation selectors,
/// tags, the blank fillers). Such a text is empty to whoever reads it, and is refused as
/// empty wherever a text must say something.
pub fn shows_nothing(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || c.is_control() || blank(c))
}

/// Characters drawn as nothing, or as a blank the width of a letter.
fn blank(c: char) -> bool {
    misleading(c)
        || matches!(
            c,
            '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{2065}'
                | '\u{206A}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FFA0}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

#[cfg(test)]
mod tests {
    use super::{misleading, shows_nothing};

    #[test]
    fn text_of_only_unseen_characters_shows_nothing() {
        for text in [
            "",
            "   ",
            "\u{200B}",
            "\u{0000}",
            " \u{200B}\u{200D} \n",
            "\u{FEFF}\u{2060}",
            "\u{3164}",
            "\u{2800}",
            "\u{FE0F}",
            "\u{E0041}",
            "\u{202E}\t",
        ] {
            assert!(shows_nothing(text), "{text:?}");
        }
        for text in [
            "a",
            "\u{200B}x",
            "\u{2764}\u{FE0F}",
            "\u{1F469}\u{200D}\u{1F4BB}",
            "\u{0301}",
            ".",
        ] {
            assert!(!shows_nothing(text), "{text:?}");
        }
    }

    #[test]
    fn marks_that_mislead_are_told_from_those_text_needs() {
        for c in ['\u{202E}', '\u{200B}', '\u{FEFF}', '\u{2066}', '\u{00AD}'] {
            assert!(misleading(c), "{:04X}", c as u32);
        }
        for c in ['\u{200C}', '\u{200D}', '\u{FE0F}', 'a', 'é', '山', '्'] {
            assert!(!misleading(c), "{:04X}", c as u32);
        }
    }
}
