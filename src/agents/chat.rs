//! The model side of the built-in agent runner: task runner → `chat::ChatClient::complete` →
//! an OpenAI-compatible chat completions API (Open WebUI's `/api/chat/completions` first, any
//! `{base}/v1/chat/completions` too) → the model. Asked non-streaming (an answer streamed
//! all the same, as Open WebUI's *Stream Chat Response* setting makes it, is made whole by
//! `chat_stream`), with function tools: the tool
//! calls the model asks for come back in `ChatReply::message` and the runner executes them, then
//! sends the results as `Message::tool_result` in its next request. Every failure says whether
//! sending the same request again can help (`ChatError::retryable`).

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Client, redirect};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::chat_stream::{Assembler, Streamed};

const USER_AGENT: &str = concat!("webhook-mcp/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Text plus tool calls; an answer larger than this is not one the runner can use.
const READ_LIMIT: usize = 8 * 1024 * 1024;
/// A streamed answer's bytes, framing and thinking included: far more than its text (a chunk
/// of some 250 bytes a token through Open WebUI), within reason even for long thinking.
const STREAM_READ_LIMIT: usize = 256 * 1024 * 1024;
/// Where LiteLLM's proxy says how long to wait before trying again.
const LITELLM_RETRY_AFTER: &str = "llm_provider-retry-after";
/// Error messages quote this much of an answer: enough to see why, short enough to log.
const EXCERPT: usize = 300;

/// One chat message, in the OpenAI wire shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Null on an assistant message that only calls tools.
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// On a `tool` message: the `ToolCall::id` it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The model's thinking beside its tool calls, as DeepSeek's thinking mode gives it: sent
    /// back with the calls for the rest of the run (its API refuses the next request without
    /// it), never posted, and dropped from a run kept for later ones. Kept only on a message
    /// that calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// OpenRouter's form of it, which OpenRouter asks back with tool calls (Gemini's thought
    /// signatures ride in it); kept as `reasoning_content` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Value>,
    /// Claude's signed thinking as LiteLLM gives it: with thinking on, LiteLLM (and Anthropic
    /// behind it) refuses a tool call's turn sent back without its blocks. Kept as
    /// `reasoning_content` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Value>,
}

impl Message {
    fn text(role: &str, text: impl Into<String>) -> Self {
        Message {
            role: role.to_owned(),
            content: Some(text.into()),
            tool_calls: None,
            tool_call_id: None,
            name: None,
            reasoning_content: None,
            reasoning_details: None,
            thinking_blocks: None,
        }
    }

    /// The message as a later run reads it: its thinking is of the run that had it.
    pub fn without_reasoning(mut self) -> Self {
        self.reasoning_content = None;
        self.reasoning_details = None;
        self.thinking_blocks = None;
        self
    }
    pub fn system(text: impl Into<String>) -> Self {
        Self::text("system", text)
    }
    pub fn user(text: impl Into<String>) -> Self {
        Self::text("user", text)
    }
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text("assistant", text)
    }
    /// The answer to one tool call, sent back to the model.
    pub fn tool_result(
        call_id: impl Into<String>,
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Message {
            tool_call_id: Some(call_id.into()),
            name: Some(name.into()),
            ..Self::text("tool", text)
        }
    }
}

/// A function call the model asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Some servers leave it out (or send null); it is then empty, and the runner names it.
    #[serde(default, deserialize_with = "name_or_empty")]
    pub id: String,
    /// `function`, also where a server leaves it out or sends null.
    #[serde(
        rename = "type",
        default = "function_kind",
        deserialize_with = "kind_or_function"
    )]
    pub kind: String,
    pub function: FunctionCall,
    /// What the server adds to a call for itself, sent back with it as given: Gemini's
    /// OpenAI-compatible API puts its thought signature here and refuses a later request
    /// whose calls come back without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<Value>,
}

fn name_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn function_kind() -> String {
    "function".to_owned()
}

fn kind_or_function<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(function_kind))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Left out (or null) by a model that wrote a broken call: then empty, and answered to
    /// the model as a call of no tool it has, which it can make again, rather than failing
    /// the whole task.
    #[serde(default, deserialize_with = "name_or_empty")]
    pub name: String,
    /// JSON text as the API sends it; an object sent instead is kept as its JSON text.
    #[serde(default, deserialize_with = "arguments_text")]
    pub arguments: String,
}

impl FunctionCall {
    /// The arguments as a JSON object. Empty or `null` is `{}`, and an object encoded twice
    /// (a JSON string holding the object) is unwrapped. The error is written for the model,
    /// to be sent back as the tool result.
    pub fn parsed_arguments(&self) -> Result<Value, String> {
        let text = self.arguments.trim();
        if text.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            format!(
                "the arguments for `{}` are not valid JSON ({e}); call it again with a JSON object",
                self.name
            )
        })?;
        let value = match value {
            Value::String(inner) => serde_json::from_str(&inner).unwrap_or(Value::String(inner)),
            other => other,
        };
        match value {
            Value::Object(_) => Ok(value),
            Value::Null => Ok(Value::Object(Default::default())),
            _ => Err(format!(
                "the arguments for `{}` must be a JSON object of named parameters",
                self.name
            )),
        }
    }
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDef {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionDef,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionDef {
    pub name: String,
    pub description: String,
    /// A JSON Schema object.
    pub parameters: Value,
}

impl ToolDef {
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        ToolDef {
            kind: "function",
            function: FunctionDef {
                name: name.into(),
                description: description.into(),
                parameters,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDef>,
    /// Always false: the runner reads whole answers.
    pub stream: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    /// `choices[0].message` (role `assistant` when the server leaves it out).
    pub message: Message,
    pub finish_reason: Option<String>,
    pub usage: Option<Value>,
    /// The model's refusal: OpenAI's `message.refusal` and the `refusal` parts of its
    /// content. Never part of `message`; capped, with the request's key scrubbed, as it is
    /// quoted in the task's record.
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ChatError {
    /// Network failures, timeouts, 408, 429 and 5xx: the same request may succeed later.
    pub retryable: bool,
    pub status: Option<u16>,
    pub message: String,
    /// The server's `Retry-After` in seconds, on a retryable answer.
    pub retry_after: Option<Duration>,
    /// A refusal of the runner's configuration rather than of the request: every task would
    /// get it alike until an operator fixes the key or the model.
    pub refused: Option<Refused>,
}

/// What a refusal that is the configuration's blames (see [`ChatError::refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The key: wrong, expired or revoked (a 401 that speaks of no model). No call to the API
    /// can work.
    Key,
    /// The model: unknown to the API, or not open to this key (a 403, a 401 or 404 that speaks
    /// of the model, Open WebUI's 400 `Model not found`). Calls of other models may work.
    Model,
}

impl ChatError {
    fn fatal(status: Option<u16>, message: String) -> Self {
        ChatError {
            retryable: false,
            status,
            message,
            retry_after: None,
            refused: None,
        }
    }
}

/// Whether `url` names one of Azure's AI hosts (`*.openai.azure.com`,
/// `*.cognitiveservices.azure.com`, `*.services.ai.azure.com`, …).
fn is_azure(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|host| host.trim_end_matches('.').ends_with(".azure.com"))
}

/// `value` as a header value marked sensitive (Debug shows `Sensitive`); None when it cannot
/// be one (control characters, or other than ASCII).
fn sensitive_header(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Calls one chat completions URL. Cheap to clone (the HTTP client is shared).
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: Client,
    url: String,
    /// `Bearer <key>`, marked sensitive so Debug shows `Sensitive`; Err when the key cannot go
    /// in a header (control characters): every call then fails and says so.
    auth: Result<Option<HeaderValue>, ()>,
    /// The key alone, for an `api-key` header: sent only to Azure's hosts, whose deployment
    /// URLs refuse a key given as a bearer token (that is for Entra ID tokens there).
    azure_key: Option<HeaderValue>,
    timeout: Duration,
}

/// `request` with hidden tag text taken out of its messages' texts
/// ([`crate::invisible::without_hidden_tags`]): an event's data, a reply or a tool's answer
/// must not steer the model with words its reviewers cannot see. `None` when none has any.
fn unhidden(request: &ChatRequest) -> Option<ChatRequest> {
    let hides = |m: &Message| {
        m.content
            .as_deref()
            .is_some_and(crate::invisible::stray_tag)
    };
    if !request.messages.iter().any(hides) {
        return None;
    }
    let mut request = request.clone();
    for content in request
        .messages
        .iter_mut()
        .filter_map(|m| m.content.as_mut())
    {
        if let std::borrow::Cow::Owned(shown) = crate::invisible::without_hidden_tags(content) {
            *content = shown;
        }
    }
    Some(request)
}

impl ChatClient {
    /// `url` is the full chat completions URL (e.g. http://localhost:8080/api/chat/completions).
    /// `timeout` bounds a whole call, connecting (at most 5 s of it) and reading included.
    pub fn new(url: String, api_key: Option<String>, timeout: Duration) -> Self {
        let key = api_key
            .as_deref()
            .map(str::trim)
            .filter(|key| !key.is_empty());
        let auth = match key {
            None => Ok(None),
            Some(key) => sensitive_header(&format!("Bearer {key}"))
                .map(Some)
                .ok_or(()),
        };
        let azure_key = key.filter(|_| is_azure(&url)).and_then(sensitive_header);
        let http = Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .redirect(redirect::Policy::none())
            .build()
            .expect("the HTTP client (TLS backend) failed to initialise");
        ChatClient {
            http,
            url,
            auth,
            azure_key,
            timeout,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `request` and returns the first choice.
    pub async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        let fitted = super::turns::fitted(&request.messages).map(|messages| ChatRequest {
            messages,
            ..request.clone()
        });
        let request = fitted.as_ref().unwrap_or(request);
        let unhidden = unhidden(request);
        let request = unhidden.as_ref().unwrap_or(request);
        let mut builder = self.http.post(&self.url).json(request);
        // The same for every call until the key is set anew: the key's fault, not the task's.
        let auth = self.auth.clone().map_err(|()| ChatError {
            refused: Some(Refused::Key),
            ..ChatError::fatal(
                None,
                "the chat API key contains characters not allowed in an HTTP header".into(),
            )
        })?;
        if let Some(value) = auth {
            builder = builder.header(AUTHORIZATION, value);
        }
        if let Some(value) = &self.azure_key {
            // Beside the bearer one, as Azure's own SDKs send a key: the classic deployment
            // URLs read only `api-key`, the v1 and AI Foundry ones either.
            builder = builder.header("api-key", value.clone());
        }
        tracing::debug!(url = %crate::actions::redact_url(&self.url), model = %request.model, messages = request.messages.len(),
            tools = request.tools.len(), "chat completion request");
        // What the request carries as a credential (the key) is scrubbed from an error's
        // excerpt of the answer: a 401 that quotes the key back would store it on the task.
        let (http, request) = builder.build_split();
        let request = request.map_err(|e| self.transport_error(e))?;
        let sent = crate::actions::SentSecrets::of(&request, crate::actions::UrlPath::Plain);
        let mut response = http
            .execute(request)
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Seconds or an HTTP date, read as the outbox reads it. LiteLLM passes its upstream's
        // on under a name of its own, and its own rate limit's too, with no `Retry-After`.
        let now = std::time::SystemTime::now();
        let retry_after = crate::actions::retry_after(response.headers(), now).or_else(|| {
            crate::actions::retry_after_named(response.headers(), LITELLM_RETRY_AFTER, now)
        });
        let too_large = || {
            ChatError::fatal(
                Some(status.as_u16()),
                format!("the chat completions answer is larger than {READ_LIMIT} bytes"),
            )
        };
        // The body as it came, up to the limit; a stream (so labelled) is also built into its
        // answer as it comes, and only that answer is held to the limit (see
        // `chat_stream::Assembler`).
        let mut body = Vec::new();
        let mut stream = (status.is_success()
            && super::chat_stream::said_to_stream(content_type.as_deref()))
        .then(Assembler::default);
        let mut streamed = 0usize;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            if let Some(assembler) = stream.as_mut() {
                streamed += chunk.len();
                assembler.push(&chunk);
                if assembler.held() > READ_LIMIT || streamed > STREAM_READ_LIMIT {
                    return Err(too_large());
                }
                // Its start only, with no gap: what an excerpt quotes.
                if body.len() == streamed - chunk.len() && body.len() + chunk.len() <= READ_LIMIT {
                    body.extend_from_slice(&chunk);
                }
                continue;
            }
            if body.len() + chunk.len() > READ_LIMIT {
                if status.is_success() {
                    return Err(too_large());
                }
                break;
            }
            body.extend_from_slice(&chunk);
        }
        // Only what may be quoted is scrubbed: the model's own answer is read as it came (a
        // key that is a common word would otherwise be cut out of its text, or its JSON).
        if !status.is_success() {
            let body = sent.scrub(&String::from_utf8_lossy(&body));
            return Err(status_error(status, retry_after, body.as_bytes()));
        }
        let answer = match stream {
            Some(assembler) => Answer::Stream {
                streamed: assembler.finish(),
                // A whole answer mislabelled as a stream is read from the body, kept whole
                // only when within the limit.
                start: &body,
                whole: streamed == body.len(),
            },
            // A stream whose type a proxy dropped is told by how it starts, once read whole.
            None if super::chat_stream::is_stream(content_type.as_deref(), &body) => {
                Answer::Stream {
                    streamed: super::chat_stream::assembled(&body),
                    start: &body,
                    whole: true,
                }
            }
            None => Answer::Whole {
                content_type: content_type.as_deref(),
                body: &body,
            },
        };
        let mut reply = parse_reply(answer).map_err(|e| ChatError {
            message: sent.scrub(&e.message),
            ..e
        })?;
        // Scrubbed before it is cut, so that no part of a key is left at the cut.
        reply.refusal = reply.refusal.map(|r| excerpt(&sent.scrub(&r)));
        Ok(reply)
    }

    fn transport_error(&self, err: reqwest::Error) -> ChatError {
        let what = if err.is_timeout() {
            format!("timed out after {} ms", self.timeout.as_millis())
        } else if err.is_connect() {
            "could not connect".to_owned()
        } else {
            "failed".to_owned()
        };
        // A builder error (bad URL) fails the same way every time.
        let retryable = !err.is_builder();
        let mut cause: &(dyn std::error::Error + 'static) = &err;
        while let Some(next) = cause.source() {
            cause = next;
        }
        // The URL may carry a key (`?api-key=`, userinfo); the error is stored on the task.
        let message = format!(
            "chat completions request to {} {what}: {cause}",
            crate::actions::redact_url(&self.url)
        );
        ChatError {
            retryable,
            status: None,
            message,
            retry_after: None,
            refused: None,
        }
    }
}

/// `{base}/api/chat/completions` for an Open WebUI base URL (trailing slash tolerated).
pub fn openwebui_completions_url(base: &str) -> String {
    format!("{}/api/chat/completions", base.trim_end_matches('/'))
}

/// Said of a 404 that speaks of no model, a 405, and Open WebUI's 403 for its pass-through:
/// the URL is the likelier fault.
const URL_HINT: &str = " (is the chat API URL right? WEBHOOK_MCP_CHAT_URL is the whole chat \
                        completions URL, ending in /chat/completions; Open WebUI's is \
                        OPENWEBUI_URL, to which /api/chat/completions is added, so it is Open \
                        WebUI's own address, such as http://open-webui:8080, without /api, \
                        /api/v1 or /openai)";

/// Whether the answer is Open WebUI's 403 for a path under `/openai/`, its deprecated
/// pass-through to its upstreams (off unless `ENABLE_OPENAI_API_PASSTHROUGH`): the runner was
/// sent there by an `OPENWEBUI_URL` ending in `/openai`, so it is the URL's fault, not the
/// model's, and the same for every call. Told by Open WebUI's own words only.
fn passthrough_disabled(body: Option<&Value>) -> bool {
    body.and_then(error_text)
        .is_some_and(|text| text.contains("Direct API passthrough is disabled"))
}

/// A non-2xx answer: 408, 429 and 5xx are retryable, redirects and other 4xx are final; of
/// those, a refused key or model is the configuration's (see [`refused_by_status`]).
fn status_error(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ChatError {
    let code = status.as_u16();
    let retryable = code == 408 || code == 429 || status.is_server_error();
    let mut message = format!("the chat completions API answered {status}");
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let refused = refused_by_status(code, parsed.as_ref());
    let detail = parsed
        .as_ref()
        .and_then(error_text)
        .unwrap_or_else(|| excerpt(&String::from_utf8_lossy(body)));
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    if status.is_redirection() {
        message.push_str(" (redirects are not followed; configure the final URL)");
    }
    // Nothing said of a model: most likely no API at that path (a URL that stops at `/v1`),
    // the same for every call. Open WebUI answers 405 to a POST to a path it does not serve
    // (its front end takes every other path: an OPENWEBUI_URL ending in `/api` or `/api/v1`),
    // and 403 to one under `/openai/` (see `passthrough_disabled`).
    let url_fault = match code {
        404 | 405 => refused.is_none(),
        403 => passthrough_disabled(parsed.as_ref()),
        _ => false,
    };
    if url_fault {
        message.push_str(URL_HINT);
    }
    let wait = retry_after.filter(|_| retryable);
    if let Some(wait) = wait {
        message.push_str(&format!(" (Retry-After: {} s)", wait.as_secs()));
    }
    ChatError {
        retryable,
        status: Some(code),
        message,
        retry_after: wait,
        refused,
    }
}

/// Whether a 4xx refuses the configuration rather than the request: a 401 the key (Open
/// WebUI's answer to a key it does not know, OpenAI's `invalid_api_key`), unless it speaks of
/// the model (LiteLLM's `key_model_access_denied` for a model outside the key's list: other
/// models work); a 403 the model (Open WebUI answers `403 Model not found` to a key not
/// allowed the model; a 403 for a key allowed nothing blames each model, which is paused in
/// turn), unless a moderation flagged the request's own words (OpenRouter's
/// `error.metadata.reasons`, `flagged_input`) or it is Open WebUI's refusal of its disabled
/// pass-through (the URL's fault, see [`passthrough_disabled`]); a 404 the model only when it speaks of it
/// (OpenAI's `model_not_found`, Ollama's `model "x" not found`, vLLM's `The model `x` does
/// not exist`, Azure's `DeploymentNotFound`), a bare one being the URL's; a 400 that names the
/// model as what is wrong (Open WebUI's `Model not found`, OpenAI's `model_not_found` code,
/// LiteLLM's `param: model`). Any other 4xx is the request's.
fn refused_by_status(code: u16, body: Option<&Value>) -> Option<Refused> {
    let of_the_model = body.is_some_and(speaks_of_the_model);
    match code {
        401 if of_the_model => Some(Refused::Model),
        401 => Some(Refused::Key),
        403 if body.is_some_and(flagged) => None,
        403 if passthrough_disabled(body) => None,
        403 => Some(Refused::Model),
        404 if of_the_model => Some(Refused::Model),
        400 if body.is_some_and(names_the_model) => Some(Refused::Model),
        _ => None,
    }
}

/// Whether an error body says the model is what is wrong.
fn names_the_model(body: &Value) -> bool {
    let said = |v: Option<&Value>, what: &str| {
        v.and_then(Value::as_str)
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(what))
    };
    let error = body.get("error");
    said(body.get("detail"), "Model not found")
        || said(error.and_then(|e| e.get("code")), "model_not_found")
        || said(error.and_then(|e| e.get("param")), "model")
}

/// Whether an error body is about the model: names it as what is wrong, says the key may not
/// use it (LiteLLM), has no deployment of it (Azure), or speaks of a model in its words.
fn speaks_of_the_model(body: &Value) -> bool {
    let error = body.get("error");
    let kind = |field: &str| {
        error
            .and_then(|e| e.get(field))
            .and_then(Value::as_str)
            .is_some_and(|s| {
                let s = s.trim();
                s.eq_ignore_ascii_case("key_model_access_denied")
                    || s.eq_ignore_ascii_case("DeploymentNotFound")
            })
    };
    names_the_model(body)
        || kind("type")
        || kind("code")
        || error_text(body).is_some_and(|t| t.to_ascii_lowercase().contains("model"))
}

/// Whether a moderation refused the request's own words (OpenRouter's 403 with the reasons
/// and the input it flagged): another task's words may pass, so it is not the model's.
fn flagged(body: &Value) -> bool {
    let present = |v: Option<&Value>| v.is_some_and(|v| !v.is_null());
    let error = body.get("error");
    let metadata = error.and_then(|e| e.get("metadata"));
    present(metadata.and_then(|m| m.get("reasons")))
        || present(metadata.and_then(|m| m.get("flagged_input")))
        || present(error.and_then(|e| e.get("flagged_input")))
        || present(body.get("flagged_input"))
}

/// The server's own words: Open WebUI's `{"detail": ..}`, OpenAI's `{"error": {"message": ..}}`.
fn error_text(v: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(excerpt(s)),
        other => Some(excerpt(&other.to_string())),
    };
    let error = v.get("error");
    v.get("detail")
        .and_then(text)
        .or_else(|| error.and_then(|e| e.get("message")).and_then(text))
        .or_else(|| error.and_then(text))
        .or_else(|| v.get("message").and_then(text))
}

/// Whether a 200's body that is not JSON is an HTML page: labelled so and starting with a
/// tag, or starting as a page does.
pub(crate) fn is_page(content_type: Option<&str>, body: &[u8]) -> bool {
    let labelled = content_type.is_some_and(|t| {
        let t = t.trim_start().to_ascii_lowercase();
        t.starts_with("text/html") || t.starts_with("application/xhtml")
    });
    let start = String::from_utf8_lossy(&body[..body.len().min(64)]).to_ascii_lowercase();
    let start = start.trim_start();
    (labelled && start.starts_with('<'))
        || start.starts_with("<!doctype html")
        || start.starts_with("<html")
}

/// An answer as read: whole, or a stream already built into its answer.
enum Answer<'a> {
    Whole {
        content_type: Option<&'a str>,
        body: &'a [u8],
    },
    Stream {
        streamed: Streamed,
        /// The stream's first bytes (up to the read limit), for a whole answer labelled as a
        /// stream and for an error's excerpt.
        start: &'a [u8],
        /// Whether `start` is all of it.
        whole: bool,
    },
}

fn parse_reply(answer: Answer<'_>) -> Result<ChatReply, ChatError> {
    let body = match &answer {
        Answer::Whole { body, .. } => *body,
        Answer::Stream { start, .. } => *start,
    };
    let fatal = |message: String| ChatError::fatal(Some(200), message);
    // A body that does not parse was most often cut off on its way (a proxy, a dropped
    // connection): the next call may well come whole, so it is retried as a transport
    // failure is. An answer that parses but says no (`null`, no choices) is final.
    let unreadable = |why: String| ChatError {
        retryable: true,
        status: Some(200),
        message: format!(
            "the chat completions answer is {why}: {}",
            excerpt(&String::from_utf8_lossy(body))
        ),
        retry_after: None,
        refused: None,
    };
    let value: Value = match answer {
        Answer::Stream {
            streamed, whole, ..
        } => match streamed {
            Streamed::Answer(value) => value,
            Streamed::CutOff => {
                return Err(unreadable(
                    "a stream that ended before its end (no finish_reason, no [DONE])".into(),
                ));
            }
            // No chunk: a whole answer mislabelled as a stream, read whole if it was kept so.
            Streamed::Empty if !whole => {
                return Err(fatal(format!(
                    "the chat completions answer is larger than {READ_LIMIT} bytes"
                )));
            }
            Streamed::Empty => serde_json::from_slice(&crate::lone_surrogates::mended(body))
                .map_err(|_| unreadable("a stream with no JSON chunk".into()))?,
        },
        Answer::Whole { content_type, .. } => {
            match serde_json::from_slice(&crate::lone_surrogates::mended(body)) {
                Ok(value) => value,
                // A web page in place of an answer (a proxy's or Open WebUI's sign-in page,
                // the URL of its front end rather than its API) comes back the same on every
                // call.
                Err(_) if is_page(content_type, body) => {
                    return Err(fatal(format!(
                        "the chat API URL answered with a web page, not a chat completions \
                         answer: is it the API's address (Open WebUI's is OPENWEBUI_URL, to \
                         which /api/chat/completions is added), and is no proxy or sign-in page \
                         in front of it? It answered: {}",
                        excerpt(&String::from_utf8_lossy(body))
                    )));
                }
                Err(e) => return Err(unreadable(format!("not JSON ({e})"))),
            }
        }
    };
    if value.is_null() {
        return Err(fatal(
            "the chat completions API answered `null` (Open WebUI does that for a saved chat: \
             send the request without chat_id/session_id)"
                .into(),
        ));
    }
    let choices = value.get("choices").and_then(Value::as_array);
    if let Some(failed) = failed_part_way(&value, choices.and_then(|c| c.first())) {
        return Err(failed);
    }
    let Some(choice) = choices.and_then(|c| c.first()) else {
        // A gateway's error in place of choices (as the last chunk of a stream, too, whatever
        // text came before it) is said as an error, not as an answer missing its choices.
        let an_error = ["error", "detail"]
            .iter()
            .any(|name| value.get(name).is_some_and(|e| !e.is_null()));
        let said = match error_text(&value) {
            Some(error) if an_error => {
                format!("the chat completions API answered with an error: {error}")
            }
            why => format!(
                "the chat completions answer has no choices: {}",
                why.unwrap_or_else(|| excerpt(&value.to_string()))
            ),
        };
        return Err(ChatError {
            retryable: error_in_ok_is_retryable(&value),
            refused: refused_in_ok(&value),
            ..fatal(said)
        });
    };
    let mut message = match choice.get("message") {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            return Err(fatal(
                "the chat completions answer has no choices[0].message".into(),
            ));
        }
    };
    if message.get("role").is_none_or(Value::is_null) {
        message.insert("role".into(), "assistant".into());
    }
    // Read before the parts become text: a refusal part has no text, and would be lost.
    let refusal = refusal_of(&message);
    // Content as a list of parts (the newer OpenAI shape some servers answer in): its text.
    if let Some(Value::Array(parts)) = message.get("content") {
        let text = text_of_parts(parts);
        message.insert("content".into(), text.map_or(Value::Null, Value::String));
    }
    // A `reasoning_content` (or OpenRouter's `reasoning_details`) beside tool calls is kept to
    // be sent back with them; beside a last word it is not read at all, nor is `reasoning`.
    let mut message: Message = serde_json::from_value(Value::Object(message))
        .map_err(|e| fatal(format!("choices[0].message is not a chat message: {e}")))?;
    if message.tool_calls.as_ref().is_none_or(Vec::is_empty) {
        message = message.without_reasoning();
    }
    // The model's thinking written into its content is not part of what it says: not posted,
    // and not sent back to it either (as its own chat API would not).
    if let Some(content) = &message.content {
        let answer = super::reasoning::without_reasoning(content);
        if answer.len() != content.len() {
            message.content = Some(answer.to_owned()).filter(|a| !a.is_empty());
        }
    }
    Ok(ChatReply {
        message,
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        usage: value.get("usage").filter(|u| !u.is_null()).cloned(),
        refusal,
    })
}

/// The model's refusal, in either shape OpenAI-compatible APIs give it: a `refusal` field
/// beside the content (null then, most often), or `{"type": "refusal", "refusal": ..}` parts
/// of a content given as parts. None when blank.
fn refusal_of(message: &serde_json::Map<String, Value>) -> Option<String> {
    let field = message.get("refusal").and_then(Value::as_str);
    let parts = match message.get("content") {
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("refusal"))
            .filter_map(|p| p.get("refusal").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    };
    let mut said: Vec<&str> = Vec::new();
    // A server that gives both may give the same words twice.
    for r in field.into_iter().chain(parts).map(str::trim) {
        if !r.is_empty() && !said.contains(&r) {
            said.push(r);
        }
    }
    (!said.is_empty()).then(|| said.join(" "))
}

/// A 200 whose choice came with word that the generation failed: an `error` beside it (how
/// OpenRouter answers, and ends a stream, when the provider fails after it began), or a
/// `finish_reason` of `error`. What came before the failure is not the model's whole word,
/// and posted it would read as one; it is retried as an error in a 200 is.
fn failed_part_way(value: &Value, choice: Option<&Value>) -> Option<ChatError> {
    let choice = choice?;
    let said = |v: &Value| v.get("error").is_some_and(|e| !e.is_null());
    let ended_in_error = choice.get("finish_reason").and_then(Value::as_str) == Some("error");
    if !said(value) && !said(choice) && !ended_in_error {
        return None;
    }
    let holder = [value, choice].into_iter().find(|v| said(v));
    let why = holder
        .and_then(error_text)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Some(ChatError {
        retryable: holder.is_none_or(error_in_ok_is_retryable),
        status: Some(200),
        message: format!("the chat completions answer says the generation failed part way{why}"),
        retry_after: None,
        refused: None,
    })
}

/// A 200 that carries an `error` instead of choices is a gateway passing on its upstream's
/// failure (OpenRouter, LiteLLM and Open WebUI's proxies do): worth calling again unless its
/// code says the request itself is wrong (a 4xx other than 408 and 429). An answer with
/// neither choices nor an error is final.
fn error_in_ok_is_retryable(value: &Value) -> bool {
    let Some(error) = value.get("error").filter(|e| !e.is_null()) else {
        return false;
    };
    let code = match error.get("code") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if let Some(c) = code {
        return !((400..500).contains(&c) && c != 408 && c != 429);
    }
    // OpenAI's own words for a request that will fail again (`context_length_exceeded`,
    // `invalid_api_key` and `model_not_found` come with these types).
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
    !matches!(
        kind,
        "invalid_request_error" | "authentication_error" | "permission_error" | "not_found_error"
    )
}

/// A gateway's 200 that passes on its upstream's refusal of the gateway's own key or of the
/// model (by the code or OpenAI type it names): the configuration's, as the same status
/// would be (see [`refused_by_status`]).
fn refused_in_ok(value: &Value) -> Option<Refused> {
    // Open WebUI streams `{"detail": "Model not found"}` after its 200 when the model is gone.
    if names_the_model(value) {
        return Some(Refused::Model);
    }
    let error = value.get("error").filter(|e| !e.is_null())?;
    let code = match error.get("code") {
        Some(Value::Number(n)) => n.as_u64().and_then(|c| u16::try_from(c).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if let Some(refused) = code.and_then(|c| refused_by_status(c, Some(value))) {
        return Some(refused);
    }
    match error.get("type").and_then(Value::as_str) {
        Some("authentication_error") => Some(Refused::Key),
        Some("permission_error" | "not_found_error") => Some(Refused::Model),
        _ => None,
    }
}

/// The text of a content given as parts (`[{"type": "text", "text": ..}, ..]`), joined; parts
/// that are not text (images, audio) are not the answer. None when no part is text.
fn text_of_parts(parts: &[Value]) -> Option<String> {
    let texts: Vec<&str> = parts
        .iter()
        .filter(|p| {
            p.get("type")
                .and_then(Value::as_str)
                .is_none_or(|t| t == "text" || t == "output_text")
        })
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    (!texts.is_empty()).then(|| texts.concat())
}

/// The start of an answer, on one line: it goes into the task's error and the log, where a
/// line break from the server (a stream's `data:` lines, a gateway's page) would start what
/// reads as a log line of this server's own.
fn excerpt(s: &str) -> String {
    let s = s.trim();
    let mut end = s.len().min(EXCERPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn arguments_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const PATH: &str = "/api/chat/completions";

    fn request() -> ChatRequest {
        let params = json!({"type": "object", "properties": {"id": {"type": "string"}}});
        ChatRequest {
            model: "fake-model".into(),
            messages: vec![Message::system("be brief"), Message::user("hi")],
            tools: vec![ToolDef::function("get_event", "Reads one event", params)],
            stream: false,
        }
    }

    /// A server answering every POST with `response`, and a client (key `k`) pointed at it
    /// through `openwebui_completions_url` with a trailing slash.
    async fn serve(response: ResponseTemplate, timeout: Duration) -> (MockServer, ChatClient) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(PATH))
            .respond_with(response)
            .mount(&server)
            .await;
        let url = openwebui_completions_url(&format!("{}/", server.uri()));
        (server, ChatClient::new(url, Some("k".into()), timeout))
    }

    async fn answer(response: ResponseTemplate) -> Result<ChatReply, ChatError> {
        let (_server, client) = serve(response, Duration::from_secs(5)).await;
        client.complete(&request()).await
    }

    fn message(message: Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"total_tokens": 12}
        }))
    }

    #[tokio::test]
    async fn the_request_carries_model_messages_tools_and_the_bearer_key() {
        let server = MockServer::start().await;
        let expected = json!({
            "model": "fake-model",
            "stream": false,
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "get_event",
                "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}]
        });
        Mock::given(method("POST"))
            .and(path(PATH))
            .and(header("authorization", "Bearer k"))
            .and(header("content-type", "application/json"))
            .and(body_partial_json(expected))
            .respond_with(message(json!({"role": "assistant", "content": "ok"})))
            .expect(1)
            .mount(&server)
            .await;
        let url = openwebui_completions_url(&server.uri());
        let client = ChatClient::new(url, Some("k".into()), Duration::from_secs(5));
        assert!(!format!("{client:?}").contains("Bearer k"));
        client.complete(&request()).await.unwrap();
    }

    #[test]
    fn azure_hosts_are_told_from_others() {
        for (url, azure) in [
            (
                "https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
                true,
            ),
            (
                "https://res.cognitiveservices.azure.com/openai/v1/chat/completions",
                true,
            ),
            (
                "https://res.services.ai.azure.com/models/chat/completions",
                true,
            ),
            (
                "https://RES.OpenAI.Azure.COM./openai/v1/chat/completions",
                true,
            ),
            ("https://api.openai.com/v1/chat/completions", false),
            ("https://azure.com.example.org/v1/chat/completions", false),
            ("https://notazure.com/v1/chat/completions", false),
            ("http://127.0.0.1:8080/api/chat/completions", false),
            ("not a url", false),
        ] {
            assert_eq!(is_azure(url), azure, "{url}");
            let client = ChatClient::new(url.into(), Some(" k ".into()), Duration::from_secs(5));
            assert_eq!(client.azure_key.is_some(), azure, "{url}");
        }
        let keyless = ChatClient::new(
            "https://res.openai.azure.com/openai/v1/chat/completions".into(),
            None,
            Duration::from_secs(5),
        );
        assert!(keyless.azure_key.is_none());
    }

    #[tokio::test]
    async fn the_key_goes_as_api_key_too_to_azure_and_only_there() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(PATH))
            .and(header("authorization", "Bearer k"))
            .and(header("api-key", "k"))
            .respond_with(message(json!({"role": "assistant", "content": "azure"})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(PATH))
            .respond_with(message(json!({"role": "assistant", "content": "other"})))
            .mount(&server)
            .await;
        let url = openwebui_completions_url(&server.uri());
        let plain = ChatClient::new(url.clone(), Some("k".into()), Duration::from_secs(5));
        let reply = plain.complete(&request()).await.unwrap();
        assert_eq!(reply.message, Message::assistant("other"));
        // Azure's hosts cannot be reached from a test: the key is set as `new` sets it for them.
        let azure = ChatClient {
            azure_key: sensitive_header("k"),
            ..plain
        };
        let reply = azure.complete(&request()).await.unwrap();
        assert_eq!(reply.message, Message::assistant("azure"));
        assert!(!format!("{azure:?}").contains("\"k\""));
    }

    #[tokio::test]
    async fn a_text_reply_is_the_first_choice() {
        let reply = answer(message(json!({"role": "assistant", "content": "hello"})))
            .await
            .unwrap();
        assert_eq!(reply.message, Message::assistant("hello"));
        assert_eq!(reply.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(reply.usage, Some(json!({"total_tokens": 12})));
    }

    #[tokio::test]
    async fn tool_call_arguments_are_accepted_as_a_string_or_an_object() {
        for arguments in [json!("{\"id\":\"e1\"}"), json!({"id": "e1"})] {
            let reply = answer(message(json!({"content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_event", "arguments": arguments}}]})))
            .await
            .unwrap();
            assert_eq!(reply.message.role, "assistant");
            assert_eq!(reply.message.content, None);
            let call = &reply.message.tool_calls.as_ref().unwrap()[0];
            assert_eq!(
                (call.id.as_str(), call.kind.as_str()),
                ("call_1", "function")
            );
            assert_eq!(call.function.parsed_arguments(), Ok(json!({"id": "e1"})));
        }
    }

    #[tokio::test]
    async fn a_tool_call_naming_no_tool_is_read_with_an_empty_name_for_the_model_to_mend() {
        for function in [json!({"arguments": "{}"}), json!({"name": null})] {
            let reply = answer(message(json!({"content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": function}]})))
            .await
            .unwrap();
            assert_eq!(reply.message.tool_calls.unwrap()[0].function.name, "");
        }
        // A null id or type is none given: the call is still read (the runner names it).
        let reply = answer(message(json!({"content": null, "tool_calls": [
            {"id": null, "type": null, "function": {"name": "get_event", "arguments": "{}"}}]})))
        .await
        .unwrap();
        let call = &reply.message.tool_calls.unwrap()[0];
        assert_eq!((call.id.as_str(), call.kind.as_str()), ("", "function"));
    }

    #[test]
    fn arguments_that_are_empty_double_encoded_or_broken_are_handled() {
        let call = |arguments: &str| FunctionCall {
            name: "get_event".into(),
            arguments: arguments.into(),
        };
        assert_eq!(call("").parsed_arguments(), Ok(json!({})));
        assert_eq!(
            call(r#""{\"a\":1}""#).parsed_arguments(),
            Ok(json!({"a": 1}))
        );
        assert!(
            call("{oops")
                .parsed_arguments()
                .unwrap_err()
                .contains("get_event")
        );
        assert!(call("[1]").parsed_arguments().is_err());
    }

    #[tokio::test]
    async fn server_errors_and_throttling_are_retryable() {
        let err = answer(ResponseTemplate::new(500)).await.unwrap_err();
        assert!(err.retryable);
        assert_eq!(err.status, Some(500));
        let throttled = ResponseTemplate::new(429).insert_header("retry-after", "7");
        let err = answer(throttled).await.unwrap_err();
        assert!(err.retryable);
        assert!(err.message.contains("Retry-After: 7 s"), "{}", err.message);
        assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
        // An HTTP date, as the outbox reads it too.
        let in_ten_minutes = httpdate(std::time::SystemTime::now() + Duration::from_secs(600));
        let dated = ResponseTemplate::new(429).insert_header("retry-after", in_ten_minutes);
        let err = answer(dated).await.unwrap_err();
        let wait = err.retry_after.expect("a wait").as_secs();
        assert!((590..=600).contains(&wait), "{wait} s: {}", err.message);
        // LiteLLM's proxy passes the wait on under a name of its own; `Retry-After` comes first.
        let litellm = ResponseTemplate::new(429).insert_header("llm_provider-retry-after", "600");
        let err = answer(litellm).await.unwrap_err();
        assert_eq!(err.retry_after, Some(Duration::from_secs(600)));
        assert!(
            err.message.contains("Retry-After: 600 s"),
            "{}",
            err.message
        );
        let both = ResponseTemplate::new(429)
            .insert_header("retry-after", "5")
            .insert_header("llm_provider-retry-after", "600");
        let err = answer(both).await.unwrap_err();
        assert_eq!(err.retry_after, Some(Duration::from_secs(5)));
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`, the form HTTP dates take.
    fn httpdate(at: std::time::SystemTime) -> String {
        let at = time::OffsetDateTime::from(at);
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        at.format(&format).expect("format")
    }

    #[tokio::test]
    async fn an_unknown_model_or_a_bad_key_is_final_with_the_servers_words() {
        let body = json!({"detail": "Model not found"});
        let err = answer(ResponseTemplate::new(400).set_body_json(body))
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("Model not found"), "{}", err.message);
        let body = json!({"error": {"message": "Incorrect API key provided"}});
        let err = answer(ResponseTemplate::new(401).set_body_json(body))
            .await
            .unwrap_err();
        assert_eq!((err.retryable, err.status), (false, Some(401)));
        assert!(err.message.contains("Incorrect API key"), "{}", err.message);
    }

    #[test]
    fn a_refusal_blames_the_key_the_model_or_the_request_by_status_and_words() {
        use Refused::{Key, Model};
        let cases = [
            (401, json!({"detail": "Invalid token"}), Some(Key)),
            (
                401,
                json!({"error": {"message": "Incorrect API key provided: sk-a***"}}),
                Some(Key),
            ),
            (401, Value::Null, Some(Key)),
            // LiteLLM: the key may not use this model; other models work.
            (
                401,
                json!({"error": {"message": "key not allowed to access model. This key can \
                                 only access models=['llama']. Tried to access gone",
                                 "type": "key_model_access_denied", "param": "model",
                                 "code": "401"}}),
                Some(Model),
            ),
            (
                401,
                json!({"error": {"message": "no access", "type": "key_model_access_denied"}}),
                Some(Model),
            ),
            (403, json!({"detail": "Model not found"}), Some(Model)),
            (403, Value::Null, Some(Model)),
            // OpenRouter: a moderation flagged this request's words.
            (
                403,
                json!({"error": {"code": 403, "message": "llama requires moderation. Your \
                                 input was flagged", "metadata": {"reasons": ["harassment"],
                                 "flagged_input": "POISON"}}}),
                None,
            ),
            (
                403,
                json!({"error": {"message": "flagged", "metadata": {"flagged_input": "x"}}}),
                None,
            ),
            (
                404,
                json!({"error": {"message": "The model `x` does not exist",
                                 "code": "model_not_found"}}),
                Some(Model),
            ),
            (
                404,
                json!({"error": "model \"llama9\" not found, try pulling it first"}),
                Some(Model),
            ),
            (
                404,
                json!({"object": "error", "message": "The model `x` does not exist.",
                       "type": "NotFoundError", "code": 404}),
                Some(Model),
            ),
            (
                404,
                json!({"error": {"code": "DeploymentNotFound",
                                 "message": "The API deployment for this resource does not exist."}}),
                Some(Model),
            ),
            // Open WebUI's pass-through under `/openai/`, off: the URL's fault.
            (
                403,
                json!({"detail": "Direct API passthrough is disabled. Set \
                                  ENABLE_OPENAI_API_PASSTHROUGH=True to enable."}),
                None,
            ),
            // A URL with no API behind it (FastAPI's, a bare server's).
            (404, json!({"detail": "Not Found"}), None),
            (405, json!({"detail": "Method Not Allowed"}), None),
            (404, Value::Null, None),
            (400, json!({"detail": "Model not found"}), Some(Model)),
            (
                400,
                json!({"error": {"message": "maximum context length", "param": "messages"}}),
                None,
            ),
            (422, json!({"detail": "bad model tools"}), None),
        ];
        for (status, body, want) in cases {
            let body = Some(&body).filter(|b| !b.is_null());
            assert_eq!(refused_by_status(status, body), want, "{status} {body:?}");
        }
    }

    #[tokio::test]
    async fn a_404_that_speaks_of_no_model_says_to_check_the_url() {
        let body = json!({"detail": "Not Found"});
        let err = answer(ResponseTemplate::new(404).set_body_json(body))
            .await
            .unwrap_err();
        assert_eq!((err.refused, err.retryable), (None, false));
        assert!(err.message.contains("/chat/completions"), "{}", err.message);
    }

    #[tokio::test]
    async fn open_webuis_answers_to_a_base_url_with_its_api_path_say_to_check_the_url() {
        // OPENWEBUI_URL ending in `/api` or `/api/v1`: Open WebUI's front end answers 405 to
        // a POST; ending in `/openai`: its disabled pass-through answers 403.
        let passthrough = json!({"detail": "Direct API passthrough is disabled. Set \
                                            ENABLE_OPENAI_API_PASSTHROUGH=True to enable."});
        let answers = [
            ResponseTemplate::new(405).set_body_json(json!({"detail": "Method Not Allowed"})),
            ResponseTemplate::new(405).set_body_string("Method Not Allowed"),
            ResponseTemplate::new(405),
            ResponseTemplate::new(403).set_body_json(passthrough),
        ];
        for response in answers {
            let err = answer(response).await.unwrap_err();
            assert_eq!(
                (err.refused, err.retryable),
                (None, false),
                "{}",
                err.message
            );
            assert!(err.message.contains(URL_HINT), "{}", err.message);
        }
        // A 403 of the model is not the URL's.
        let err =
            answer(ResponseTemplate::new(403).set_body_json(json!({"detail": "Model not found"})))
                .await
                .unwrap_err();
        assert_eq!(err.refused, Some(Refused::Model));
        assert!(!err.message.contains(URL_HINT), "{}", err.message);
    }

    #[tokio::test]
    async fn a_refused_key_or_model_is_told_from_a_refused_request() {
        let cases = [
            (401, json!({"detail": "Invalid token"}), Some(Refused::Key)),
            (
                403,
                json!({"detail": "Model not found"}),
                Some(Refused::Model),
            ),
            (
                404,
                json!({"error": {"message": "The model `x` does not exist", "code": "model_not_found"}}),
                Some(Refused::Model),
            ),
            (
                400,
                json!({"detail": "Model not found"}),
                Some(Refused::Model),
            ),
            (
                400,
                json!({"error": {"message": "Invalid model name passed in model=x", "param": "model"}}),
                Some(Refused::Model),
            ),
            (
                400,
                json!({"error": {"message": "maximum context length is 8192 tokens",
                                 "code": "context_length_exceeded", "param": "messages"}}),
                None,
            ),
            (422, json!({"detail": "bad tools"}), None),
            (500, json!({"detail": "boom"}), None),
        ];
        for (status, body, want) in cases {
            let err = answer(ResponseTemplate::new(status).set_body_json(body.clone()))
                .await
                .unwrap_err();
            assert_eq!(err.refused, want, "{status} {body}");
        }
        // A gateway's 200 passing its upstream's refusal on, and Open WebUI's streamed one.
        let in_ok = [
            (
                json!({"error": {"message": "Invalid API key", "code": 401}}),
                Some(Refused::Key),
            ),
            (
                json!({"error": {"message": "no", "type": "authentication_error"}}),
                Some(Refused::Key),
            ),
            (json!({"detail": "Model not found"}), Some(Refused::Model)),
            (
                json!({"error": {"message": "upstream overloaded", "code": 502}}),
                None,
            ),
        ];
        for (body, want) in in_ok {
            let err = answer(ResponseTemplate::new(200).set_body_json(body.clone()))
                .await
                .unwrap_err();
            assert_eq!(err.refused, want, "{body}");
        }
        let client = ChatClient::new(
            "http://127.0.0.1:9/x".into(),
            Some("k\u{1}".into()),
            Duration::from_secs(1),
        );
        let err = client.complete(&request()).await.unwrap_err();
        assert_eq!(err.refused, Some(Refused::Key), "{}", err.message);
    }

    #[tokio::test]
    async fn a_null_body_or_no_choices_is_a_final_error() {
        let null = ResponseTemplate::new(200).set_body_raw("null", "application/json");
        let err = answer(null).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("null"), "{}", err.message);
        let empty = ResponseTemplate::new(200).set_body_json(json!({"choices": []}));
        assert!(!answer(empty).await.unwrap_err().retryable);
    }

    #[tokio::test]
    async fn an_error_in_a_200_is_retryable_unless_its_code_blames_the_request() {
        let cases = [
            (
                json!({"error": {"message": "upstream overloaded", "code": 502}}),
                true,
            ),
            (
                json!({"error": {"message": "rate limited", "code": "429"}}),
                true,
            ),
            (json!({"error": {"message": "provider went away"}}), true),
            (json!({"error": "timeout"}), true),
            (
                json!({"error": {"message": "no such model", "code": 404}}),
                false,
            ),
            (
                json!({"error": {"message": "context too long", "code": "400"}}),
                false,
            ),
            (
                json!({"error": {"message": "too long", "type": "invalid_request_error",
                                 "code": "context_length_exceeded"}}),
                false,
            ),
            (
                json!({"error": {"message": "bad key", "type": "authentication_error",
                                 "code": "invalid_api_key"}}),
                false,
            ),
            (
                json!({"error": {"message": "busy", "type": "server_error"}}),
                true,
            ),
            (json!({"error": null, "choices": []}), false),
        ];
        for (body, retryable) in cases {
            let err = answer(ResponseTemplate::new(200).set_body_json(&body))
                .await
                .unwrap_err();
            assert_eq!(err.retryable, retryable, "{body}: {}", err.message);
            let said = if body["error"].is_null() {
                "answer has no choices"
            } else {
                "answered with an error: "
            };
            assert!(err.message.contains(said), "{}", err.message);
        }
    }

    #[tokio::test]
    async fn an_answer_that_says_its_generation_failed_part_way_is_an_error_not_an_answer() {
        let partial = json!({"role": "assistant", "content": "The plan is: 1. Rev"});
        let cases = [
            (
                json!({"error": {"code": 502, "message": "Provider returned error"},
                       "choices": [{"index": 0, "message": partial, "finish_reason": "error"}]}),
                true,
                "Provider returned error",
            ),
            (
                json!({"choices": [{"index": 0, "message": partial, "finish_reason": "error",
                                    "error": {"code": "server_error", "message": "went away"}}]}),
                true,
                "went away",
            ),
            (
                json!({"choices": [{"index": 0, "message": partial, "finish_reason": "error"}]}),
                true,
                "failed part way",
            ),
            (
                json!({"error": {"code": 400, "message": "bad tool schema"},
                       "choices": [{"index": 0, "message": partial, "finish_reason": "stop"}]}),
                false,
                "bad tool schema",
            ),
        ];
        for (body, retryable, said) in cases {
            let err = answer(ResponseTemplate::new(200).set_body_json(&body))
                .await
                .unwrap_err();
            assert_eq!(err.retryable, retryable, "{body}: {}", err.message);
            assert!(err.message.contains(said), "{body}: {}", err.message);
        }
        // OpenRouter's stream: comments while it waits, some text, then the error chunk.
        let stream = format!(
            ": OPENROUTER PROCESSING\n\ndata: {}\n\ndata: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": "The plan"}}]}),
            json!({"error": {"code": "server_error", "message": "Provider disconnected"},
                   "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]})
        );
        let err = answer(ResponseTemplate::new(200).set_body_raw(stream, "text/event-stream"))
            .await
            .unwrap_err();
        assert!(err.retryable, "{}", err.message);
        assert!(
            err.message.contains("Provider disconnected"),
            "{}",
            err.message
        );
        // LiteLLM's: some text, then a chunk that is an error alone.
        let stream = format!(
            "data: {}\n\ndata: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": "The plan"}}]}),
            json!({"error": {"message": "upstream went away", "code": "502"}})
        );
        let err = answer(ResponseTemplate::new(200).set_body_raw(stream, "text/event-stream"))
            .await
            .unwrap_err();
        assert!(err.retryable, "{}", err.message);
        assert!(
            err.message
                .contains("answered with an error: upstream went away"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn a_stream_is_held_to_the_limit_by_its_answer_not_its_framing() {
        // Long thinking streamed a token a chunk, as Open WebUI passes it on: some 10 MB of
        // stream for an answer of a few bytes.
        let thinking = json!({"choices": [{"index": 0, "delta": {"reasoning": "hmm, "}}],
                              "model": "qwen3:32b", "created": 1_765_000_000,
                              "id": "chatcmpl-0123456789abcdef0123456789abcdef"})
        .to_string();
        let mut stream = format!("data: {thinking}\n\n").repeat(60_000);
        let end = json!({"choices": [{"index": 0, "delta": {"content": "All good."},
                                      "finish_reason": "stop"}]});
        stream.push_str(&format!("data: {end}\n\ndata: [DONE]\n\n"));
        assert!(stream.len() > READ_LIMIT, "{}", stream.len());
        // Some 10 MB through a debug build: on a loaded machine that takes more than the
        // other tests' 5 s, and the limit, not the timeout, is what this test is about.
        let (_server, client) = serve(
            ResponseTemplate::new(200).set_body_raw(stream, "text/event-stream"),
            Duration::from_secs(120),
        )
        .await;
        let reply = client.complete(&request()).await.unwrap();
        assert_eq!(reply.message.content.as_deref(), Some("All good."));

        // An answer itself over the limit is still refused.
        let piece = json!({"choices": [{"index": 0, "delta": {"content": "x".repeat(4096)}}]});
        let big = format!("data: {piece}\n\n").repeat(READ_LIMIT / 4096 + 1);
        let (_server, client) = serve(
            ResponseTemplate::new(200).set_body_raw(big, "text/event-stream"),
            Duration::from_secs(120),
        )
        .await;
        let err = client.complete(&request()).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("larger than"), "{}", err.message);
    }

    #[tokio::test]
    async fn thinking_is_kept_beside_tool_calls_only() {
        let calls = answer(message(json!({"content": null,
            "reasoning_content": "Look first.", "reasoning_details": [{"type": "reasoning.text"}],
            "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "get_event", "arguments": "{}"}}]})))
        .await
        .unwrap();
        assert_eq!(
            calls.message.reasoning_content.as_deref(),
            Some("Look first.")
        );
        assert!(calls.message.reasoning_details.is_some());
        let said = serde_json::to_value(&calls.message).unwrap();
        assert_eq!(said["reasoning_content"], "Look first.", "{said}");
        assert!(
            serde_json::to_value(calls.message.without_reasoning())
                .unwrap()
                .get("reasoning_content")
                .is_none()
        );
        let last_word = answer(message(json!({"content": "Done.",
            "reasoning_content": "Thought a lot.", "reasoning": "also",
            "thinking_blocks": [{"type": "thinking", "thinking": "x", "signature": "s"}]})))
        .await
        .unwrap();
        assert_eq!(last_word.message, Message::assistant("Done."));
    }

    #[tokio::test]
    async fn litellms_signed_thinking_goes_back_with_the_calls() {
        // LiteLLM's answer for Claude with thinking on: its blocks, signed; text of "".
        let blocks = json!([{"type": "thinking", "thinking": "Look first.", "signature": "EqoB"},
            {"type": "redacted_thinking", "data": "EmwK"}]);
        let calls = answer(message(
            json!({"content": "", "reasoning_content": "Look first.",
            "thinking_blocks": blocks, "tool_calls": [{"id": "toolu_1", "type": "function",
                "function": {"name": "comment", "arguments": "{\"text\": \"On it\"}"}}]}),
        ))
        .await
        .unwrap();

        assert_eq!(calls.message.thinking_blocks, Some(blocks.clone()));
        let said = serde_json::to_value(&calls.message).unwrap();
        assert_eq!(said["thinking_blocks"], blocks, "{said}");
        let later = serde_json::to_value(calls.message.without_reasoning()).unwrap();
        assert!(later.get("thinking_blocks").is_none(), "{later}");
    }

    #[tokio::test]
    async fn content_given_as_parts_is_read_as_their_text() {
        let cases = [
            (
                json!([{"type": "text", "text": "The fix "}, {"type": "text", "text": "is X."}]),
                Some("The fix is X."),
            ),
            (
                json!([{"type": "image_url", "image_url": {"url": "http://x/a.png"}},
                       {"type": "output_text", "text": "Done."}]),
                Some("Done."),
            ),
            (json!([{"text": "untyped"}]), Some("untyped")),
            (
                json!([{"type": "image_url", "image_url": {"url": "http://x/a.png"}}]),
                None,
            ),
            (json!([]), None),
        ];
        for (content, expected) in cases {
            let reply = answer(message(json!({"role": "assistant", "content": content})))
                .await
                .unwrap();
            assert_eq!(reply.message.content.as_deref(), expected, "{content}");
        }
    }

    #[tokio::test]
    async fn a_refusal_is_read_from_its_field_and_its_parts_and_kept_out_of_the_content() {
        let no = "I can't help with that.";
        let cases = [
            (json!({"content": null, "refusal": no}), None, Some(no)),
            (
                json!({"content": [{"type": "refusal", "refusal": no}]}),
                None,
                Some(no),
            ),
            // Both shapes at once, saying the same: said once.
            (
                json!({"content": [{"type": "refusal", "refusal": no}], "refusal": no}),
                None,
                Some(no),
            ),
            (
                json!({"content": [{"type": "text", "text": "Part A."},
                                   {"type": "refusal", "refusal": "Not B."}]}),
                Some("Part A."),
                Some("Not B."),
            ),
            (
                json!({"content": "Fine.", "refusal": " "}),
                Some("Fine."),
                None,
            ),
            (
                json!({"content": "Fine.", "refusal": null}),
                Some("Fine."),
                None,
            ),
        ];
        for (message, content, refusal) in cases {
            let reply = answer(message_of(message.clone())).await.unwrap();
            assert_eq!(reply.message.content.as_deref(), content, "{message}");
            assert_eq!(reply.refusal.as_deref(), refusal, "{message}");
        }
    }

    #[tokio::test]
    async fn a_refusal_is_capped_and_has_the_key_scrubbed_before_it_is_cut() {
        let key = "sk-0123456789";
        let long = format!("{}{key} and more", "x".repeat(EXCERPT - 5));
        let said = message_of(json!({"content": null, "refusal": long}));
        let (server, _) = serve(said, Duration::from_secs(5)).await;
        let url = openwebui_completions_url(&server.uri());
        let client = ChatClient::new(url, Some(key.into()), Duration::from_secs(5));
        let refusal = client.complete(&request()).await.unwrap().refusal.unwrap();
        assert_eq!(refusal.len(), EXCERPT, "{refusal}");
        assert!(!refusal.contains("sk-0"), "{refusal}");
        assert!(refusal.ends_with("x*** a"), "{refusal}");
    }

    fn message_of(message: Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]
        }))
    }

    #[tokio::test]
    async fn a_models_answer_is_read_as_it_came_whatever_the_key_is() {
        // A key that is a word of the answer's JSON is not cut out of it.
        let answer = message(json!({"role": "assistant", "content": "the assistant said hi"}));
        let (server, _) = serve(answer, Duration::from_secs(5)).await;
        let url = openwebui_completions_url(&server.uri());
        let client = ChatClient::new(url, Some("assistant".into()), Duration::from_secs(5));
        let reply = client.complete(&request()).await.unwrap();
        assert_eq!(reply.message, Message::assistant("the assistant said hi"));
    }

    #[tokio::test]
    async fn an_answer_streamed_although_not_asked_is_read_whole() {
        let chunks = [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Looking"}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1",
                "type": "function", "function": {"name": "get_event", "arguments": "{\"id\""}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
                "function": {"arguments": ": \"evt_1\"}"}}]}, "finish_reason": "tool_calls"}]}),
        ];
        let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        body.push_str("data: [DONE]\n\n");
        let streamed = ResponseTemplate::new(200).set_body_raw(body, "text/event-stream");

        let reply = answer(streamed).await.expect("read whole");

        assert_eq!(reply.message.content.as_deref(), Some("Looking"));
        let calls = reply.message.tool_calls.expect("a tool call");
        assert_eq!(calls[0].function.name, "get_event");
        assert_eq!(
            calls[0].function.parsed_arguments(),
            Ok(json!({"id": "evt_1"}))
        );
        assert_eq!(reply.finish_reason.as_deref(), Some("tool_calls"));
        // A stream that holds nothing readable is retried, as a cut-off body is.
        let empty = ResponseTemplate::new(200).set_body_raw(": ping\n\n", "text/event-stream");
        let refused = answer(empty).await.expect_err("nothing to read");
        assert!(
            refused.retryable && refused.message.contains("stream"),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_is_retryable() {
        let broken = ResponseTemplate::new(200).set_body_raw("{\"choices\":", "application/json");
        let err = answer(broken).await.unwrap_err();
        assert!(err.retryable, "{}", err.message);
        assert!(err.message.contains("not JSON"), "{}", err.message);
        // Quoted on one line: a server's line breaks would forge lines in a text log.
        let page =
            ResponseTemplate::new(502).set_body_raw("<html>\nERROR fake line\n", "text/html");
        let err = answer(page).await.unwrap_err();
        assert!(!err.message.contains('\n'), "{}", err.message);
    }

    #[tokio::test]
    async fn a_sign_in_page_in_place_of_an_answer_is_final() {
        for page in [
            ResponseTemplate::new(200).set_body_raw("<html>Please sign in</html>", "text/html"),
            ResponseTemplate::new(200)
                .set_body_raw("\n<!DOCTYPE html><title>Open WebUI</title>", "text/plain"),
        ] {
            let err = answer(page).await.unwrap_err();
            assert!(!err.retryable, "{}", err.message);
            assert!(err.message.contains("web page"), "{}", err.message);
        }
        // An answer labelled as a page by mistake is still read.
        let mislabelled = ResponseTemplate::new(200).set_body_raw(
            json!({"choices": [{"message": {"role": "assistant", "content": "ok"},
                                "finish_reason": "stop"}]})
            .to_string(),
            "text/html",
        );
        assert!(answer(mislabelled).await.is_ok());
    }

    #[tokio::test]
    async fn a_slow_server_times_out_as_retryable() {
        let slow = message(json!({"content": "late"})).set_delay(Duration::from_secs(2));
        let (_server, client) = serve(slow, Duration::from_millis(200)).await;
        let err = client.complete(&request()).await.unwrap_err();
        assert!(err.retryable);
        assert!(err.message.contains("timed out"), "{}", err.message);
    }

    #[tokio::test]
    async fn the_models_reasoning_is_neither_in_its_answer_nor_read_from_its_own_fields() {
        let reply = answer(message(json!({"role": "assistant",
            "content": "<think>\nThe user wants X.\n</think>\n\nThe fix is X.",
            "reasoning_content": "The user wants X.", "reasoning": "The user wants X."})))
        .await
        .unwrap();
        assert_eq!(reply.message, Message::assistant("The fix is X."));
        let cut_off = answer(message(json!({"content": "<think>\nThe user wants"})))
            .await
            .unwrap();
        assert_eq!(cut_off.message.content, None, "nothing was answered");
    }

    #[test]
    fn a_tool_result_round_trips_through_serde() {
        let message = Message::tool_result("call_1", "get_event", "{\"ok\":true}");
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["role"], "tool");
        assert_eq!(json["tool_call_id"], "call_1");
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), message);
    }
}
