//! The reasoning some models write before their answer (`<think>…</think>`, from DeepSeek-R1,
//! QwQ or Qwen3 served by Ollama or vLLM) is taken off the answer: it is the model thinking
//! aloud over untrusted event data, never words to post on an issue or in a channel.

/// The tags reasoning is written in, each opening one with its closing one.
const TAGS: [(&str, &str); 2] = [("<think>", "</think>"), ("<thinking>", "</thinking>")];

/// `text` without the reasoning before its answer: the blocks it starts with (after blank
/// space), each to its closing tag; or, when it opens none, everything to a first closing tag
/// that nothing opened and that starts or ends its line (the chat template opened it in the
/// prompt). A block never closed is
/// reasoning cut off before any answer: nothing is left. Tags further on, or quoted as code
/// (in backticks, in a fenced block), are the answer's own words and stay.
pub fn without_reasoning(text: &str) -> &str {
    let mut rest = text;
    let mut stripped = false;
    while let Some((open, close)) = TAGS
        .iter()
        .find(|(open, _)| starts_with_ci(rest.trim_start(), open))
    {
        let block = &rest.trim_start()[open.len()..];
        let Some(end) = find_ci(block, close) else {
            return "";
        };
        rest = &block[end + close.len()..];
        stripped = true;
    }
    if !stripped && let Some(end) = lone_close_end(rest) {
        rest = &rest[end..];
        stripped = true;
    }
    if stripped { rest.trim_start() } else { text }
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Where `needle` (ASCII, lower case) is in `text`, in any case: from each `<`, read where it
/// stands (a lowered copy of the rest, made for each block, made an answer of thousands of
/// blocks quadratic).
fn find_ci(text: &str, needle: &str) -> Option<usize> {
    text.match_indices('<')
        .map(|(at, _)| at)
        .find(|&at| starts_with_ci(&text[at..], needle))
}

/// The end of the first reasoning tag outside code when it is a closing one that starts or
/// ends its line (the reasoning before it was opened by the prompt); `None` when an opening
/// tag, a closing one inside a sentence, or no tag comes first.
fn lone_close_end(text: &str) -> Option<usize> {
    let mut fenced = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut ticks = 0;
        for (i, c) in line.char_indices() {
            if c == '`' {
                ticks += 1;
                continue;
            }
            if c != '<' || ticks % 2 == 1 {
                continue;
            }
            let here = &line[i..];
            if TAGS.iter().any(|(open, _)| starts_with_ci(here, open)) {
                return None;
            }
            if let Some((_, close)) = TAGS.iter().find(|(_, close)| starts_with_ci(here, close)) {
                // Only a tag that starts or ends its line closes reasoning: one inside a
                // sentence ("the stray </think> tag comes from the template") is the answer
                // talking about it.
                let before = line[..i].trim();
                let after = here[close.len()..].trim();
                if before.is_empty() || after.is_empty() {
                    return Some(start + i + close.len());
                }
                return None;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_of_reasoning_blocks_are_read_once() {
        // A chat server's answer of 100,000 blocks (each lowered the rest of it once).
        let text = format!("{}The answer.", "<think>a</think>".repeat(100_000));
        assert_eq!(without_reasoning(&text), "The answer.");
        let shouted = format!("{}The answer.", "<THINK>a</Think>".repeat(10));
        assert_eq!(without_reasoning(&shouted), "The answer.");
    }

    #[test]
    fn reasoning_before_the_answer_is_taken_off_and_the_answers_own_tags_stay() {
        let cases = [
            // (the model's text, the answer)
            ("The fix is X.", "The fix is X."),
            (
                "<think>\nWhy? Because.\n</think>\n\nThe fix is X.",
                "The fix is X.",
            ),
            ("\n  <think>a</think>The fix is X.", "The fix is X."),
            (
                "<thinking>\nhm\n</thinking>\nThe fix is X.",
                "The fix is X.",
            ),
            ("<THINK>a</Think>\nThe fix is X.", "The fix is X."),
            (
                "<think>a</think>\n<think>b</think>\nThe fix is X.",
                "The fix is X.",
            ),
            ("<think>\n\n</think>\n\nThe fix is X.", "The fix is X."),
            (
                "<think>a <thinking> b</think>The fix is X.",
                "The fix is X.",
            ),
            // The prompt opened the block: all before the first closing tag is reasoning.
            (
                "Let me look.\nOK.\n</think>\n\nThe fix is X.",
                "The fix is X.",
            ),
            ("Let me look.\n</thinking>The fix is X.", "The fix is X."),
            ("Let me look.</think>\nThe fix is X.", "The fix is X."),
            // A closing tag inside a sentence is the answer's own, and so is the text before it.
            (
                "The stray </think> tag comes from the chat template; upgrade Ollama.",
                "The stray </think> tag comes from the chat template; upgrade Ollama.",
            ),
            (
                "Qwen3 ends its reasoning with </think>, so split on it.\nDetails follow.",
                "Qwen3 ends its reasoning with </think>, so split on it.\nDetails follow.",
            ),
            (
                "<p>hi</p> and </thinking> in HTML",
                "<p>hi</p> and </thinking> in HTML",
            ),
            (
                "Draft:\n```\nfn x() {}\n```\n</think>\nThe fix is X.",
                "The fix is X.",
            ),
            // Never closed: reasoning cut off (a token limit) with no answer after it.
            ("<think>\nStill thinking about", ""),
            ("  <thinking>a</thinking><think>b", ""),
            // The answer's own words about the tags.
            (
                "Strip the `<think>` block first.",
                "Strip the `<think>` block first.",
            ),
            (
                "Models write <think>a</think> first.",
                "Models write <think>a</think> first.",
            ),
            ("Close it with `</think>`.", "Close it with `</think>`."),
            (
                "Like so:\n```\n</think>\n```\nDone.",
                "Like so:\n```\n</think>\n```\nDone.",
            ),
            ("a <think> b </think> c", "a <think> b </think> c"),
            (
                "<think>a</think>\nThen `</think>` ends it.",
                "Then `</think>` ends it.",
            ),
            ("<thinker>a</thinker> B", "<thinker>a</thinker> B"),
            ("", ""),
        ];
        for (text, answer) in cases {
            assert_eq!(without_reasoning(text), answer, "{text:?}");
        }
    }
}
