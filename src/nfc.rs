//! Unicode NFC, the form text is compared in where two spellings of one text must be one
//! (`é` precomposed, or `e` and a combining accent as macOS and some editors write it).

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// `text` in NFC; borrowed when it is so already, as ASCII always is (checked first, so the
/// common case costs one pass over the bytes).
pub fn nfc(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_not_in_nfc_is_rewritten() {
        assert!(matches!(nfc("order.paid"), Cow::Borrowed(_)));
        assert!(matches!(nfc("caf\u{e9}"), Cow::Borrowed(_)));
        assert_eq!(nfc("cafe\u{301}"), "caf\u{e9}");
        assert_eq!(nfc("Gro\u{308}\u{df}e"), "Gr\u{f6}\u{df}e");
    }
}
