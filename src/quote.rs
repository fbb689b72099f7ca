//! Input quoted back in refusals, from every layer (engine, service, HTTP, MCP): kept short.

/// Input quoted back in an error, cut short: a 3 MB "id" should not come back whole (into a
/// model's context, say); the start is enough to recognise it.
pub fn quoted(input: &str) -> std::borrow::Cow<'_, str> {
    const KEEP: usize = 100;
    if input.len() <= KEEP {
        return input.into();
    }
    let mut end = KEEP;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &input[..end], input.len()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_input_is_cut_short_and_short_input_is_kept() {
        assert_eq!(quoted("gh"), "gh");
        let long = "x".repeat(3_000_000);
        let shown = quoted(&long);
        assert!(shown.len() < 150, "{}", shown.len());
        assert!(shown.ends_with("… (3000000 bytes)"), "{shown}");
        let wide = "é".repeat(80); // 160 bytes: the cut lands inside a character
        assert!(quoted(&wide).starts_with(&"é".repeat(50)));
    }
}
