//! A chat completions answer that came streamed although the runner asked `stream: false`,
//! made whole before `chat::ChatClient::complete` reads it. Open WebUI does this: a model (or
//! the admin's default model parameters) with *Stream Chat Response* on overrides the request's
//! `stream`, and the answer comes as server-sent events (`data: {chunk}` … `data: [DONE]`).
//! Each chunk's `choices[0].delta` adds to one message: content and refusal text appended, tool
//! calls merged by their `index` (id and name as first given, arguments appended).

use serde_json::{Map, Value, json};

/// Whether an answer is a stream: said by its `Content-Type`, or, where a proxy dropped that,
/// by a body that starts as one.
pub fn is_stream(content_type: Option<&str>, body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(64)]);
    said_to_stream(content_type) || text.trim_start().starts_with("data:")
}

/// Whether the `Content-Type` says the answer is a stream.
pub fn said_to_stream(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
    })
}

/// What a stream adds up to.
#[derive(Debug, PartialEq)]
pub enum Streamed {
    /// The answer in the non-streaming shape (`choices[0].message`, `finish_reason`,
    /// `usage`); or a chunk carrying an `error` (a gateway's failure mid-stream), or, where no
    /// chunk had choices, the last one (`{"detail": ..}`), read as a non-streaming answer
    /// without choices would be.
    Answer(Value),
    /// Choices came, but the stream ended before its end (no `finish_reason`, no `[DONE]`):
    /// cut off on its way, as a body that is not whole JSON is.
    CutOff,
    /// No chunk is JSON.
    Empty,
}

/// The one answer a stream adds up to, read at once.
pub fn assembled(body: &[u8]) -> Streamed {
    let mut stream = Assembler::default();
    stream.push(body);
    stream.finish()
}

/// Builds a stream's answer as its bytes come, so that what is held is the answer (its text,
/// thinking and calls) and the line being read, not the framing around every piece: a
/// streamed answer is many times its text (Open WebUI passes on each token as a chunk of
/// about 250 bytes).
#[derive(Default)]
pub struct Assembler {
    /// Bytes of a line not yet ended.
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no line end: a long line that comes in many
    /// pieces is looked through once, not once a piece.
    scanned: usize,
    /// The `data:` lines of the event being read, and their bytes.
    data: Vec<String>,
    data_bytes: usize,
    whole: Whole,
    last: Option<Value>,
    /// `[DONE]` came: the rest is not read.
    done: bool,
    /// A chunk carrying an `error` came: it is the answer, and the rest is not read.
    error: Option<Value>,
}

impl Assembler {
    /// Reads more of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.done || self.error.is_some() {
            return;
        }
        self.pending.extend_from_slice(bytes);
        self.read_lines(false);
    }

    /// Bytes held: the answer so far, the event and the line being read.
    pub fn held(&self) -> usize {
        self.pending.len() + self.data_bytes + self.whole.held
    }

    /// The answer, once the stream has ended.
    pub fn finish(mut self) -> Streamed {
        self.read_lines(true);
        self.end_event();
        if let Some(error) = self.error {
            return Streamed::Answer(error);
        }
        match self.last {
            None => Streamed::Empty,
            Some(last) if !self.whole.saw_choices => Streamed::Answer(last),
            Some(_) if !self.done && self.whole.finish_reason.is_none() => Streamed::CutOff,
            Some(_) => Streamed::Answer(self.whole.into_answer()),
        }
    }

    /// Reads every whole line held; at the end, the last one too. Lines end in CRLF, LF or a
    /// lone CR, as server-sent events allow; a CR last in what came may be half a CRLF.
    fn read_lines(&mut self, at_end: bool) {
        let mut start = 0;
        while !self.done && self.error.is_none() {
            let rest = &self.pending[start..];
            let from = self.scanned.saturating_sub(start).min(rest.len());
            let Some(at) = rest[from..]
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
                .map(|at| from + at)
            else {
                self.scanned = self.pending.len();
                break;
            };
            let crlf = rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n');
            if rest[at] == b'\r' && at + 1 == rest.len() && !at_end {
                // Half a CRLF, perhaps: looked at again with what comes next.
                self.scanned = start + at;
                break;
            }
            let line = String::from_utf8_lossy(&rest[..at]).into_owned();
            start += at + if crlf { 2 } else { 1 };
            self.scanned = start;
            self.line(&line);
        }
        self.pending.drain(..start);
        self.scanned = self.scanned.saturating_sub(start);
        if at_end && !self.pending.is_empty() && !self.done && self.error.is_none() {
            let line = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.line(&line);
        }
    }

    /// One line: a blank one ends an event; `data:` lines are its data, joined by line
    /// breaks. Comments (`:`) and other fields (`event:`, `id:`) are not data.
    fn line(&mut self, line: &str) {
        if line.trim().is_empty() {
            self.end_event();
        } else if let Some(data) = line.strip_prefix("data:") {
            let data = data.strip_prefix(' ').unwrap_or(data).trim_end();
            self.data_bytes += data.len();
            self.data.push(data.to_owned());
        }
    }

    fn end_event(&mut self) {
        if self.data.is_empty() {
            return;
        }
        let data = self.data.join("\n");
        self.data.clear();
        self.data_bytes = 0;
        if data == "[DONE]" {
            self.done = true;
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&crate::lone_surrogates::mended_str(&data))
        else {
            return;
        };
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            self.error = Some(chunk);
            return;
        }
        self.whole.add(&chunk);
        self.last = Some(chunk);
    }
}

#[derive(Default)]
struct Whole {
    role: Option<String>,
    content: String,
    refusal: String,
    /// Thinking a server streams beside the calls (DeepSeek's), and OpenRouter's details of
    /// it, to be sent back with them.
    reasoning_content: Option<String>,
    reasoning_details: Vec<Value>,
    /// LiteLLM's signed thinking blocks, built from their pieces (see `add_thinking`).
    thinking_blocks: Vec<Map<String, Value>>,
    /// Where the stream's block `index` is being built in `thinking_blocks`.
    thinking_slot_of: std::collections::HashMap<u64, usize>,
    tool_calls: Vec<Map<String, Value>>,
    /// Where the stream's call `index` is being built in `tool_calls` (a new call may reuse
    /// an index: see `add_call`).
    slot_of: std::collections::HashMap<usize, usize>,
    finish_reason: Option<String>,
    usage: Option<Value>,
    saw_content: bool,
    saw_choices: bool,
    /// Bytes of the answer so far: its text, thinking, and the calls' names and arguments.
    held: usize,
}

impl Whole {
    fn add(&mut self, chunk: &Value) {
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(usage.clone());
        }
        // Open WebUI also streams chunks of its own (`sources`, `selected_model_id`):
        // without choices, they add nothing to the message.
        let Some(choice) = chunk.pointer("/choices/0") else {
            return;
        };
        self.saw_choices = true;
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        // A server that streams whole messages (`message` in place of `delta`) is read alike.
        let Some(delta) = choice.get("delta").or_else(|| choice.get("message")) else {
            return;
        };
        if let Some(role) = delta.get("role").and_then(Value::as_str) {
            self.role.get_or_insert_with(|| role.to_owned());
        }
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            self.saw_content = true;
            self.content.push_str(text);
            self.held += text.len();
        }
        if let Some(text) = delta.get("refusal").and_then(Value::as_str) {
            self.refusal.push_str(text);
            self.held += text.len();
        }
        if let Some(text) = delta.get("reasoning_content").and_then(Value::as_str) {
            self.reasoning_content
                .get_or_insert_with(String::new)
                .push_str(text);
            self.held += text.len();
        }
        let details = match delta.get("reasoning_details") {
            Some(Value::Array(details)) => details.iter().collect(),
            Some(detail @ Value::Object(_)) => vec![detail],
            _ => Vec::new(),
        };
        for detail in details {
            self.held += detail.to_string().len();
            self.reasoning_details.push(detail.clone());
        }
        let blocks = match delta.get("thinking_blocks") {
            Some(Value::Array(blocks)) => blocks.iter().collect(),
            Some(block @ Value::Object(_)) => vec![block],
            _ => Vec::new(),
        };
        for block in blocks {
            if let Some(piece) = block.as_object() {
                self.held += block.to_string().len();
                self.add_thinking(piece);
            }
        }
        let mut in_this_chunk = std::collections::HashSet::new();
        for (at, call) in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.add_call(at, call, &mut in_this_chunk);
        }
    }

    /// Pieces of one call share its `index` (its place in the chunk when a server gives
    /// none); the first piece names it, the rest carry more of its arguments. A piece is a
    /// new call, though, where its `id` is not the one at that index, or where its index
    /// came already in the same chunk: servers that give every call index 0 (Open WebUI's
    /// conversion of Ollama's calls) or none (Gemini's) would merge them all into one.
    fn add_call(
        &mut self,
        at: usize,
        piece: &Value,
        in_this_chunk: &mut std::collections::HashSet<usize>,
    ) {
        // Far past any real answer's calls.
        if self.tool_calls.len() > 256 {
            return;
        }
        let index = piece
            .get("index")
            .and_then(Value::as_u64)
            .map_or(at, |i| i as usize);
        let id = piece
            .get("id")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty());
        let held = self.slot_of.get(&index).copied();
        let another = |slot: usize| {
            let held_id = self.tool_calls[slot].get("id").and_then(Value::as_str);
            id.is_some_and(|id| held_id.is_some_and(|h| h != id))
        };
        // With neither an index nor an id, a piece that names a tool after the held call's
        // arguments are whole is the next call (Gemini's stream sends each call so, in a
        // chunk of its own).
        // Not a piece that only repeats the name (some servers send it in every piece).
        let opens_arguments = match piece.pointer("/function/arguments") {
            Some(Value::String(args)) => args.trim_start().starts_with('{'),
            Some(Value::Object(_)) => true,
            _ => false,
        };
        let unplaced =
            piece.get("index").is_none_or(Value::is_null) && id.is_none() && opens_arguments;
        let next_call = |slot: usize| {
            let function = self.tool_calls[slot].get("function");
            let named =
                |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|n| !n.is_empty());
            unplaced
                && named(piece.pointer("/function/name"))
                && named(function.and_then(|f| f.get("name")))
                && match function.and_then(|f| f.get("arguments")) {
                    // Parsed only once it may be whole: each of thousands of pieces would
                    // read all held so far again.
                    Some(Value::String(args)) => {
                        args.trim_end().ends_with('}')
                            && serde_json::from_str::<Value>(args).is_ok_and(|v| v.is_object())
                    }
                    Some(Value::Object(_)) => true,
                    _ => false,
                }
        };
        let slot = match held {
            Some(slot) if !in_this_chunk.contains(&index) && !another(slot) && !next_call(slot) => {
                slot
            }
            _ => {
                self.tool_calls.push(Map::new());
                self.tool_calls.len() - 1
            }
        };
        in_this_chunk.insert(index);
        self.slot_of.insert(index, slot);
        let call = &mut self.tool_calls[slot];
        for field in ["id", "type"] {
            if let Some(value) = piece
                .get(field)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
            {
                call.entry(field).or_insert_with(|| value.into());
            }
        }
        // Gemini's thought signature comes with the piece that names the call.
        if let Some(extra) = piece.get("extra_content").filter(|e| !e.is_null()) {
            call.entry("extra_content").or_insert_with(|| extra.clone());
        }
        let function = call
            .entry("function")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a function object");
        let given = |name: &str| {
            piece
                .pointer(&format!("/function/{name}"))
                .and_then(Value::as_str)
        };
        if let Some(name) = given("name").filter(|n| !n.is_empty()) {
            let had = function
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // Sent once by most servers, in pieces by some, whole in every chunk by a few.
            if had != name {
                function.insert("name".into(), format!("{had}{name}").into());
                self.held += name.len();
            }
        }
        match piece.pointer("/function/arguments") {
            // Appended in place: a copy of all before it for each piece would cost the square
            // of a long call's pieces.
            Some(Value::String(more)) => {
                match function.get_mut("arguments") {
                    Some(Value::String(had)) => had.push_str(more),
                    _ => {
                        function.insert("arguments".into(), more.clone().into());
                    }
                }
                self.held += more.len();
            }
            // Arguments as an object come whole.
            Some(whole @ Value::Object(_)) => {
                self.held += whole.to_string().len();
                function.insert("arguments".into(), whole.clone());
            }
            _ => {}
        }
    }

    /// A piece of a thinking block, as LiteLLM streams Claude's: its text in pieces, then its
    /// signature in a piece of its own, naming the block's `index` (in some versions). A
    /// thinking piece naming none goes on the last block while that is an unsigned thinking
    /// one; a redacted block comes whole, so each is a block of its own. The text adds up;
    /// the rest (`type`, `signature`, a redacted block's `data`) is taken as given.
    fn add_thinking(&mut self, piece: &Map<String, Value>) {
        let index = piece.get("index").and_then(Value::as_u64);
        let thinking = |block: &Map<String, Value>| {
            block
                .get("type")
                .is_none_or(|t| t.as_str() == Some("thinking"))
                && !block.contains_key("data")
        };
        let slot = match index.and_then(|i| self.thinking_slot_of.get(&i)) {
            Some(&slot) => Some(slot),
            None if index.is_none() && thinking(piece) => {
                self.thinking_blocks.last().and_then(|last| {
                    let unsigned = last.get("signature").is_none_or(|s| s.as_str() == Some(""));
                    (unsigned && thinking(last)).then(|| self.thinking_blocks.len() - 1)
                })
            }
            _ => None,
        };
        let slot = slot.unwrap_or_else(|| {
            self.thinking_blocks.push(Map::new());
            self.thinking_blocks.len() - 1
        });
        if let Some(index) = index {
            self.thinking_slot_of.insert(index, slot);
        }
        let block = &mut self.thinking_blocks[slot];
        for (name, value) in piece {
            match (name.as_str(), value) {
                // The stream's own bookkeeping, not part of the block Anthropic takes back.
                ("index", _) | (_, Value::Null) => {}
                ("thinking", Value::String(text)) => match block.get_mut("thinking") {
                    Some(Value::String(so_far)) => so_far.push_str(text),
                    _ => {
                        block.insert("thinking".into(), Value::String(text.clone()));
                    }
                },
                (_, Value::String(text)) if text.is_empty() => {}
                _ => {
                    block.insert(name.clone(), value.clone());
                }
            }
        }
    }

    fn into_answer(self) -> Value {
        let calls: Vec<Value> = self
            .tool_calls
            .into_iter()
            .filter(|c| !c.is_empty())
            .map(Value::Object)
            .collect();
        let mut message = json!({
            "role": self.role.unwrap_or_else(|| "assistant".into()),
            "content": if self.saw_content { Value::String(self.content) } else { Value::Null },
        });
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        if !self.refusal.is_empty() {
            message["refusal"] = Value::String(self.refusal);
        }
        if let Some(text) = self.reasoning_content {
            message["reasoning_content"] = Value::String(text);
        }
        if !self.reasoning_details.is_empty() {
            message["reasoning_details"] = Value::Array(self.reasoning_details);
        }
        if !self.thinking_blocks.is_empty() {
            let blocks = self
                .thinking_blocks
                .into_iter()
                .map(Value::Object)
                .collect();
            message["thinking_blocks"] = Value::Array(blocks);
        }
        json!({
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": self.usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(chunks: &[Value]) -> String {
        let mut text: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        text.push_str("data: [DONE]\n\n");
        text
    }

    #[test]
    fn a_stream_is_told_by_its_type_or_its_first_line() {
        for (content_type, body, streamed) in [
            (Some("text/event-stream"), "", true),
            (Some("text/event-stream; charset=utf-8"), "x", true),
            (Some("application/json"), "{\"choices\": []}", false),
            (None, "\n\ndata: {}", true),
            (Some("application/json"), "data: {}", true),
            (None, "{\"data\": 1}", false),
        ] {
            assert_eq!(
                is_stream(content_type, body.as_bytes()),
                streamed,
                "{content_type:?} {body}"
            );
        }
    }

    #[test]
    fn text_deltas_add_up_to_one_message() {
        let body = stream(&[
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            json!({"sources": [{"source": {"name": "x"}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "Hel"}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": null}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"total_tokens": 7}}),
        ]);
        let Streamed::Answer(answer) = assembled(body.as_bytes()) else {
            panic!("an answer");
        };
        assert_eq!(
            answer,
            json!({"choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hello"}}],
                "usage": {"total_tokens": 7}})
        );
    }

    #[test]
    fn litellms_thinking_block_pieces_add_up_to_signed_blocks() {
        let delta = |delta: Value| json!({"choices": [{"index": 0, "delta": delta}]});
        let thinking = |index: Option<u64>, text: &str, signature: Option<&str>| {
            let mut block = json!({"type": "thinking", "thinking": text});
            if let Some(index) = index {
                block["index"] = index.into();
            }
            if let Some(signature) = signature {
                block["signature"] = signature.into();
            }
            delta(json!({"reasoning_content": text, "thinking_blocks": [block]}))
        };
        let body = stream(&[
            delta(json!({"role": "assistant", "content": ""})),
            thinking(Some(0), "First ", None),
            thinking(Some(0), "the event.", None),
            thinking(Some(0), "", Some("EqoB")),
            delta(
                json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "EmwK",
                "index": 1}]}),
            ),
            // A sender that names no index: pieces go on the last unsigned block, and each
            // redacted block is one.
            delta(json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "AAA"}]})),
            delta(json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "BBB"}]})),
            thinking(None, "Then ", None),
            thinking(None, "the call.", None),
            thinking(None, "", Some("Fq2C")),
            delta(
                json!({"content": "", "tool_calls": [{"index": 0, "id": "toolu_1",
                "type": "function", "function": {"name": "get_event", "arguments": "{}"}}]}),
            ),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ]);
        let Streamed::Answer(answer) = assembled(body.as_bytes()) else {
            panic!("an answer");
        };
        assert_eq!(
            answer["choices"][0]["message"]["thinking_blocks"],
            json!([
                {"type": "thinking", "thinking": "First the event.", "signature": "EqoB"},
                {"type": "redacted_thinking", "data": "EmwK"},
                {"type": "redacted_thinking", "data": "AAA"},
                {"type": "redacted_thinking", "data": "BBB"},
                {"type": "thinking", "thinking": "Then the call.", "signature": "Fq2C"},
            ])
        );
    }

    #[test]
    fn tool_call_pieces_are_merged_by_index() {
        let piece = |index: u64, id: Option<&str>, name: Option<&str>, args: &str| {
            let mut call = json!({"index": index, "function": {"arguments": args}});
            if let Some(id) = id {
                call["id"] = id.into();
                call["type"] = "function".into();
            }
            if let Some(name) = name {
                call["function"]["name"] = name.into();
            }
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
        };
        let body = stream(&[
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": null}}]}),
            piece(0, Some("call_a"), Some("comment"), ""),
            piece(0, None, None, "{\"text\":"),
            piece(1, Some("call_b"), Some("get_"), "{}"),
            piece(1, None, Some("event"), ""),
            piece(0, None, None, " \"hi\"}"),
            // A server that repeats the whole name in each piece.
            piece(0, None, Some("comment"), ""),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ]);
        let Streamed::Answer(answer) = assembled(body.as_bytes()) else {
            panic!("an answer");
        };
        assert_eq!(
            answer["choices"][0]["message"],
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function",
                 "function": {"name": "comment", "arguments": "{\"text\": \"hi\"}"}},
                {"id": "call_b", "type": "function",
                 "function": {"name": "get_event", "arguments": "{}"}}]})
        );
        assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn a_stream_read_a_byte_at_a_time_adds_up_as_when_read_at_once() {
        let body = concat!(
            ": keep-alive\r\n\r\n",
            "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Gr\u{fc}\u{df}e \"}}]}\r\n\r\n",
            "event: message\rdata: {\"choices\": [{\"delta\":\rdata: {\"content\": \"\u{1f980}\"}}]}\r\r",
            "data: {\"choices\": [{\"index\": 0, \"delta\": {\"tool_calls\": [{\"index\": 0, ",
            "\"id\": \"c1\", \"function\": {\"name\": \"get_event\", \"arguments\": \"{}\"}}]}, ",
            "\"finish_reason\": \"tool_calls\"}]}\n\n",
            "data: [DONE]"
        );
        let whole = assembled(body.as_bytes());
        assert!(matches!(whole, Streamed::Answer(_)), "{whole:?}");
        for size in [1, 2, 3, 7, 64] {
            let mut stream = Assembler::default();
            for piece in body.as_bytes().chunks(size) {
                stream.push(piece);
            }
            assert_eq!(stream.finish(), whole, "pieces of {size}");
        }
    }

    #[test]
    fn thinking_and_what_a_server_adds_to_a_call_are_kept_to_be_sent_back() {
        let signature = json!({"google": {"thought_signature": "c2ln"}});
        let body = stream(&[
            json!({"choices": [{"index": 0, "delta": {"reasoning_content": "First "}}]}),
            json!({"choices": [{"index": 0, "delta": {"reasoning_content": "the event.",
                "reasoning_details": [{"type": "reasoning.encrypted", "data": "x"}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
                "id": "c1", "extra_content": signature,
                "function": {"name": "get_event", "arguments": "{}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ]);
        let Streamed::Answer(answer) = assembled(body.as_bytes()) else {
            panic!("an answer");
        };
        let message = &answer["choices"][0]["message"];
        assert_eq!(message["reasoning_content"], "First the event.");
        assert_eq!(
            message["reasoning_details"],
            json!([{"type": "reasoning.encrypted", "data": "x"}])
        );
        assert_eq!(message["tool_calls"][0]["extra_content"], signature);
    }

    #[test]
    fn an_error_chunk_is_the_answer_and_a_stream_of_nothing_is_none() {
        let body = stream(&[
            json!({"choices": [{"index": 0, "delta": {"content": "par"}}]}),
            json!({"error": {"message": "upstream overloaded", "code": 503}}),
        ]);
        let Streamed::Answer(error) = assembled(body.as_bytes()) else {
            panic!("the error");
        };
        assert_eq!(error["error"]["code"], 503);
        assert_eq!(
            assembled(b": keep-alive\n\ndata: [DONE]\n\n"),
            Streamed::Empty
        );
        assert_eq!(assembled(b"data: not json\n\n"), Streamed::Empty);
        // No choices at all: the last chunk says why, as a non-streaming answer would.
        let refused = "data: {\"sources\": []}\n\ndata: {\"detail\": \"Model not found\"}\n\ndata: [DONE]\n\n";
        assert_eq!(
            assembled(refused.as_bytes()),
            Streamed::Answer(json!({"detail": "Model not found"}))
        );
    }

    #[test]
    fn a_stream_that_stops_before_its_end_is_cut_off() {
        let cut = "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"The root cause is in the login hand\"}}]}\n\n";
        assert_eq!(assembled(cut.as_bytes()), Streamed::CutOff);
        // A finish_reason without [DONE] is an end.
        let ended = "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"ok\"}, \"finish_reason\": \"stop\"}]}\n\n";
        assert!(matches!(assembled(ended.as_bytes()), Streamed::Answer(_)));
    }

    #[test]
    fn calls_with_one_index_or_none_are_told_apart_by_their_ids() {
        let call = |index: Option<u64>, id: &str, name: &str, args: &str| {
            let mut call = json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}});
            if let Some(index) = index {
                call["index"] = index.into();
            }
            call
        };
        let chunk =
            |calls: Vec<Value>| json!({"choices": [{"index": 0, "delta": {"tool_calls": calls}}]});
        let done = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
        let cases = [
            // Open WebUI's conversion of Ollama's calls: every one index 0, in one chunk.
            vec![
                chunk(vec![
                    call(Some(0), "call_aaa", "get_event", "{}"),
                    call(Some(0), "call_bbb", "list_events", "{\"limit\": 2}"),
                ]),
                done.clone(),
            ],
            // Gemini's: no index, one call a chunk.
            vec![
                chunk(vec![call(None, "function-call-1", "get_event", "{}")]),
                chunk(vec![call(
                    None,
                    "function-call-2",
                    "list_events",
                    "{\"limit\": 2}",
                )]),
                done.clone(),
            ],
            // Neither index nor id, one call a chunk.
            vec![
                chunk(vec![call(None, "", "get_event", "{}")]),
                chunk(vec![call(None, "", "list_events", "{\"limit\": 2}")]),
                // A piece that only repeats the name opens no call of its own.
                chunk(vec![call(None, "", "list_events", "")]),
                done.clone(),
            ],
        ];
        for chunks in cases {
            let Streamed::Answer(answer) = assembled(stream(&chunks).as_bytes()) else {
                panic!("an answer");
            };
            let calls = answer["choices"][0]["message"]["tool_calls"].clone();
            let names: Vec<&str> = calls
                .as_array()
                .expect("calls")
                .iter()
                .filter_map(|c| c["function"]["name"].as_str())
                .collect();
            assert_eq!(names, ["get_event", "list_events"], "{calls}");
            assert_eq!(calls[1]["function"]["arguments"], "{\"limit\": 2}");
        }
    }

    #[test]
    fn event_data_may_span_lines_and_other_fields_are_not_data() {
        let body = "event: message\nid: 1\ndata: {\"choices\": [{\"delta\":\ndata: {\"content\": \"a\"}}]}\n\n: comment\n\ndata:{\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\r\rdata: [DONE]\r";
        let Streamed::Answer(answer) = assembled(body.as_bytes()) else {
            panic!("an answer");
        };
        assert_eq!(answer["choices"][0]["message"]["content"], "ab");
    }
}
