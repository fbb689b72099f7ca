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

#[cfg(test)]
mod tests {
    use super::misleading;

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
