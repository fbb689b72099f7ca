//! The MCP server (rmcp): tools, prompts and resources over Streamable HTTP at `/mcp` and over
//! stdio. Every tool is a door onto the service layer the REST API also uses.

mod action_tools;
pub(crate) mod args;
mod completions;
mod fit;
mod hub;
pub mod listen_check;
mod page_fit;
mod params;
mod prompts;
mod resources;
mod schema;
mod session_use;
pub mod sessions;
mod shapes;
mod stdio;
mod task_tools;
mod tools;

use std::sync::Arc;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
    CompleteResult, ContentBlock, CustomRequest, CustomResult, DiscoverResult, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, Implementation, InitializeRequestParams,
    InitializeResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ResultType, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::service::audit::{self, AuditChat, AuditEntry, AuditUser, Outcome, tool_target};
use crate::service::auth::{KeyInfo, Scope};
use crate::service::webhooks;
pub use hub::Hub;
pub use prompts::text as prompt_text;
pub use session_use::IDLE_LIMIT as MCP_SESSION_IDLE_LIMIT;
pub use sessions::Sessions;

/// One MCP session's handler (and, without sessions, one request's). Cheap to build: the
/// state, the hub and the routers are shared.
#[derive(Clone)]
pub struct McpServer {
    state: AppState,
    hub: Arc<Hub>,
    /// Built once ([`ROUTERS`]): each holds every tool's description and schema, a few
    /// hundred KB that a router built per session cost each session.
    tool_router: Arc<ToolRouter<McpServer>>,
    prompt_router: Arc<PromptRouter<McpServer>>,
    /// Who changing tool calls are audited as when no API key stands in front of this server
    /// (stdio); over HTTP it is the name of the request's key.
    audit_as: Option<String>,
}

/// The audit log's actor for tool calls made over stdio: whoever could start the process
/// already holds the database file, so there is no key to name.
pub const STDIO_ACTOR: &str = "stdio";

/// `list_*` and `get_*` tools only read.
pub fn is_read_tool(name: &str) -> bool {
    name.starts_with("list_") || name.starts_with("get_")
}

/// Whether a tool of this name exists: a call to one that does not changes nothing, and is
/// answered "tool not found" whatever the key may do.
pub fn is_tool(name: &str) -> bool {
    static NAMES: std::sync::LazyLock<std::collections::HashSet<String>> =
        std::sync::LazyLock::new(|| McpServer::tool_names().into_iter().collect());
    NAMES.contains(name)
}

/// The tools as offered and the prompts, the same for every session and request.
type Routers = (Arc<ToolRouter<McpServer>>, Arc<PromptRouter<McpServer>>);

static ROUTERS: std::sync::LazyLock<Routers> = std::sync::LazyLock::new(|| {
    (
        Arc::new(McpServer::tools_as_offered()),
        Arc::new(McpServer::prompt_router()),
    )
});

/// The tools as offered, with the description `PROMPTS_DIR/tools/{name}.md` gives in place of
/// a built-in one: read once, when a transport starts.
fn tools_of(state: &AppState) -> Arc<ToolRouter<McpServer>> {
    let built_in = Arc::clone(&ROUTERS.0);
    let Some(dir) = (state.config.prompts_dir.as_ref())
        .map(|d| d.join("tools"))
        .filter(|d| d.is_dir())
    else {
        return built_in;
    };
    let mut router = (*built_in).clone();
    for (name, route) in router.map.iter_mut() {
        let file = dir.join(format!("{name}.md"));
        match std::fs::read_to_string(&file) {
            Ok(text) if !text.trim().is_empty() => {
                route.attr.description = Some(text.trim().to_string().into());
                tracing::info!(tool = %name, file = %file.display(), "tool description taken from PROMPTS_DIR");
            }
            Ok(_) => {
                tracing::warn!(tool = %name, file = %file.display(), "tool description file is empty; the built-in one is kept");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(tool = %name, file = %file.display(), error = %e, "cannot read tool description; the built-in one is kept");
            }
        }
    }
    // A misspelt file name would otherwise be read as an override that did nothing.
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let is_md = path.extension().is_some_and(|e| e == "md");
        if is_md && !router.has_route(stem) {
            tracing::warn!(file = %path.display(), "no tool is named after this description file; it is not used");
        }
    }
    Arc::new(router)
}

impl McpServer {
    pub fn new(state: AppState, hub: Arc<Hub>, tool_router: Arc<ToolRouter<McpServer>>) -> Self {
        let prompt_router = Arc::clone(&ROUTERS.1);
        McpServer {
            state,
            hub,
            tool_router,
            prompt_router,
            audit_as: None,
        }
    }

    /// The tools as `tools/list` offers them: descriptions from their files (whose trailing
    /// newline is not part of the text), input schemas written plainly for every model API.
    fn tools_as_offered() -> ToolRouter<McpServer> {
        let mut tool_router = Self::all_tools();
        for route in tool_router.map.values_mut() {
            if let Some(d) = &route.attr.description {
                route.attr.description = Some(d.trim().to_string().into());
            }
            route.attr.input_schema = Arc::new(schema::plain(&route.attr.input_schema));
            route.call = fit::cut_to_fit(route.call.clone());
        }
        tool_router
    }

    /// Records its changing tool calls as `actor` (for transports without an API key).
    fn audited_as(mut self, actor: &str) -> Self {
        self.audit_as = Some(actor.to_string());
        self
    }

    /// Who a call is recorded as, and the HTTP status its answer goes out with: the stdio
    /// actor (no status), or the name of the API key the HTTP request carried (the middleware
    /// put it in the request's extensions; a JSON-RPC answer is a 200).
    fn auditor(&self, context: &RequestContext<RoleServer>) -> Option<(String, Option<u16>)> {
        if let Some(actor) = &self.audit_as {
            return Some((actor.clone(), None));
        }
        let key = key_of(context)?;
        Some((key.name, Some(200)))
    }

    /// Every tool, from each module that defines some.
    fn all_tools() -> ToolRouter<McpServer> {
        Self::tool_router() + Self::action_tool_router() + Self::task_tool_router()
    }

    /// The names of every tool, for checks that each has its description file.
    pub fn tool_names() -> Vec<String> {
        Self::all_tools()
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect()
    }
}

/// The Streamable HTTP service mounted at `/mcp`. Stateless: every POST stands alone, which
/// is what Open WebUI (connect, list, call, disconnect) needs; push goes through
/// `subscriptions/listen`, which works without sessions. With `--mcp-sessions`, the sessions
/// are kept by `sessions`, which binds each to its key.
pub fn http_service(
    state: AppState,
    hub: Arc<Hub>,
    sessions: &Sessions,
    shutdown: CancellationToken,
) -> StreamableHttpService<McpServer, LocalSessionManager> {
    // No SSE priming event (empty `data:`, an id and `retry`) ahead of a POST's answer or a
    // GET stream (here, and in the sessions' own settings): the clients that need sessions
    // are the older ones, and those (the Python SDK's 1.9, the TypeScript SDK's 1.13) take its
    // empty data for a broken message on every call. It serves only a client resuming a
    // stream cut before its first message.
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(state.config.mcp_sessions)
        .with_sse_retry(None)
        .with_cancellation_token(shutdown);
    config = match state.config.mcp_allowed_hosts() {
        Some(hosts) => config.with_allowed_hosts(hosts),
        None => config.disable_allowed_hosts(),
    };
    let tools = tools_of(&state);
    StreamableHttpService::new(
        move || Ok(McpServer::new(state.clone(), hub.clone(), tools.clone())),
        sessions.manager(),
        config,
    )
}

/// What a creating tool made (`create_webhook`, `add_command`), or the task a claim took,
/// named by the id its answer carries: the arguments may not name it (an id left to be
/// generated, a claim of whichever task is oldest).
fn created_target(action: &str, called: &Result<CallToolResponse, ErrorData>) -> Option<String> {
    let at = match action {
        "mcp create_webhook" => "/webhook/id",
        "mcp add_command" => "/id",
        // Which task a claim took: the log then tells who holds it.
        "mcp claim_task" => "/task/id",
        _ => return None,
    };
    let Ok(CallToolResponse::Complete(result)) = called else {
        return None;
    };
    if result.is_error == Some(true) {
        return None;
    }
    let made = result.structured_content.as_ref()?.pointer(at)?;
    made.as_str().map(str::to_string)
}

/// A refusal of `asked` as a webhook id that names no webhook, when `asked` is the name of
/// one or more (a model gave the name it saw beside the id): said with the ids it names, so
/// the model calls again with one rather than listing the webhooks to find it.
async fn named_instead(
    state: &AppState,
    asked: &str,
    called: Result<CallToolResponse, ErrorData>,
) -> Result<CallToolResponse, ErrorData> {
    let Ok(CallToolResponse::Complete(mut result)) = called else {
        return called;
    };
    let refused = crate::service::not_found("webhook", asked, crate::service::Door::Mcp);
    let is_refusal = result.is_error == Some(true)
        && result
            .content
            .first()
            .and_then(|c| c.as_text())
            .is_some_and(|t| t.text == refused);
    let name = asked.trim().to_string();
    if !is_refusal || name.is_empty() {
        return Ok(CallToolResponse::Complete(result));
    }
    const SHOWN: usize = 3;
    let ids = state
        .store
        .read(move |db| crate::store::webhooks::named(db, &name, SHOWN + 1))
        .await
        .unwrap_or_default();
    let quoted_ids: Vec<String> = ids
        .iter()
        .take(SHOWN)
        .map(|id| format!("`{}`", crate::quote::quoted(id)))
        .collect();
    let said = match quoted_ids.as_slice() {
        [] => return Ok(CallToolResponse::Complete(result)),
        [id] => format!(
            "webhook `{}` not found: that is the name of webhook {id}; give its id",
            crate::quote::quoted(asked.trim())
        ),
        _ => format!(
            "webhook `{}` not found: that is the name of webhooks {}{}; give the id of the one \
             meant",
            crate::quote::quoted(asked.trim()),
            quoted_ids.join(", "),
            if ids.len() > SHOWN { " and more" } else { "" }
        ),
    };
    result.content[0] = ContentBlock::text(said);
    Ok(CallToolResponse::Complete(result))
}

/// How a tool call went, for the audit log: a tool error's own text (what the model was told),
/// or the protocol error's message.
fn outcome_of(called: &Result<CallToolResponse, ErrorData>) -> Outcome {
    match called {
        Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
            let text: Vec<&str> = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
                .collect();
            Outcome::Error(text.join(" "))
        }
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Error(e.message.to_string()),
    }
}

/// Serves MCP on stdin/stdout until the client closes stdin.
pub async fn serve_stdio(state: AppState, hub: Arc<Hub>) -> anyhow::Result<()> {
    let (stdin, stdout) = rmcp::transport::stdio();
    let tools = tools_of(&state);
    let server = McpServer::new(state, hub, tools).audited_as(STDIO_ACTOR);
    stdio::serve(server, stdin, stdout).await
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_completions()
                .build(),
        )
        .with_server_info(Implementation::new(
            "webhook-mcp",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(prompts::instructions(&self.state))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        let mut result = self.negotiate_initialize(&request)?;
        // `initialize` is the legacy handshake, whose clients subscribe with
        // resources/subscribe; over stateless HTTP that has no session to push to, so it is
        // not offered. `server/discover` keeps the capability: subscriptions/listen works
        // without sessions.
        let over_http = context
            .extensions
            .get::<axum::http::request::Parts>()
            .is_some();
        if over_http
            && !self.state.config.mcp_sessions
            && let Some(resources) = result.capabilities.resources.as_mut()
        {
            resources.subscribe = None;
        }
        if reads_only(&context) {
            result.instructions = Some(prompts::read_only_instructions(&self.state));
        }
        Ok(result)
    }

    // `server/discover` is how a client of the stateless protocol (Open WebUI 0.12's) learns
    // the instructions, per request. The guide walks through creating and changing; a
    // connection that may only read gets one of its own there as in `initialize`, as its
    // tools/list offers only list_* and get_*.
    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let mut result = DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        );
        if reads_only(&context) {
            result.instructions = Some(prompts::read_only_instructions(&self.state));
        }
        Ok(result)
    }

    // Not rmcp's generated list either: a connection that may only read is not offered the
    // prompt that walks through creating a webhook (its guide does not either); the others
    // read and explain. Asked for by name, it is still given: it only writes a message.
    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        whole_list(request.as_ref())?;
        let mut prompts = self.prompt_router.list_all();
        for prompt in &mut prompts {
            prompt.description = prompt.description.as_deref().map(schema::unwrapped);
            for argument in prompt.arguments.iter_mut().flatten() {
                argument.description = argument.description.as_deref().map(schema::unwrapped);
            }
        }
        if reads_only(&context) {
            prompts.retain(|prompt| prompt.name != prompts::SETUP_WEBHOOK);
        }
        let (ttl_ms, cache_scope) = per_caller_cache(&context);
        Ok(ListPromptsResult {
            result_type: Some(ResultType::COMPLETE),
            prompts,
            meta: None,
            next_cursor: None,
            ttl_ms,
            cache_scope,
        })
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        // rmcp's own answer quotes the name whole, however long.
        if !self.prompt_router.has_route(&request.name) {
            return Err(ErrorData::invalid_params(
                format!(
                    "no prompt named `{}`; prompts/list names the prompts",
                    crate::quote::quoted(&request.name)
                ),
                None,
            ));
        }
        let prompt_context = rmcp::handler::server::prompt::PromptContext::new(
            self,
            request.name,
            request.arguments,
            context,
        );
        self.prompt_router.get_prompt(prompt_context).await
    }

    // Not rmcp's generated list: a request that may only read (a read key, or an Open WebUI
    // user whose role is capped to one) is offered only the tools it may call, so its model
    // does not spend a step on a refusal. Per request, as the gate judges calls: one session
    // may carry different users. The gate still refuses a changing call made without listing.
    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        whole_list(request.as_ref())?;
        let mut tools = self.tool_router.list_all();
        if reads_only(&context) {
            tools.retain(|tool| is_read_tool(&tool.name));
        }
        let (ttl_ms, cache_scope) = per_caller_cache(&context);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools,
            meta: None,
            next_cursor: None,
            ttl_ms,
            cache_scope,
        })
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tool_router.has_route(request.name.as_ref()) {
            // rmcp says only "tool not found"; a model that mistyped a name needs to see which.
            return Err(ErrorData::invalid_params(
                format!(
                    "no tool named `{}`; tools/list names the tools",
                    crate::quote::quoted(&request.name)
                ),
                None,
            ));
        }
        if let Some(arguments) = request.arguments.as_mut()
            && let Some(route) = self.tool_router.map.get(request.name.as_ref())
        {
            // update_command is the one tool where an empty field can mean something: remove
            // the template, agent or target. Its other fields have nothing to remove, and a
            // blank one is left out as elsewhere; conditions too, as a model filling every
            // field with "" would otherwise drop a filter and fire the command on every event
            // (`{}` removes them).
            let meaningful: &[&str] = if request.name == "update_command" {
                &["template", "agent", "target"]
            } else {
                &[]
            };
            args::lenient::drop_blank_optionals(arguments, &route.attr.input_schema, meaningful);
            args::lenient::whole_numbers(arguments, &route.attr.input_schema);
            args::lenient::scalars_in_text(arguments, &route.attr.input_schema);
        }
        let audit = self
            .auditor(&context)
            .filter(|_| !is_read_tool(&request.name))
            .map(|(actor, status)| {
                let arguments = request.arguments.clone().map(serde_json::Value::Object);
                (actor, status, format!("mcp {}", request.name), arguments)
            });
        let user = user_of(&context);
        let chat = chat_of(&context);
        // update_webhook takes no `secret`, create_webhook no `commands`: said as a refused
        // argument is (a tool error), with the tool that does it.
        let misplaced_secret = request
            .arguments
            .as_ref()
            .and_then(|arguments| misplaced_argument(&request.name, arguments))
            .map(|refused| {
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "{} {refused}",
                    params::DESERIALIZATION_PREFIX
                ))])
            });
        // A webhook asked for by its name: its refusal names the id meant.
        let asked_webhook = request
            .arguments
            .as_ref()
            .and_then(|arguments| arguments.get("webhook_id"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        let state = self.state.clone();
        let call = self
            .tool_router
            .call(ToolCallContext::new(self, request, context));
        let call = async move {
            let called = match misplaced_secret {
                Some(refused) => Ok(refused.into()),
                None => call.await,
            };
            match asked_webhook {
                Some(asked) => named_instead(&state, &asked, called).await,
                None => called,
            }
        };
        let Some((actor, status, action, detail)) = audit else {
            return call.await;
        };
        // The entry as known before the call runs: its first write reserves the entry's place.
        let head = AuditEntry {
            actor,
            target: detail.as_ref().and_then(tool_target),
            action,
            status,
            detail,
            outcome: Outcome::Ok,
            user,
            chat,
        };
        audit::audited(&head, async {
            let called = call.await;
            let entry = AuditEntry {
                target: created_target(&head.action, &called).or_else(|| head.target.clone()),
                outcome: outcome_of(&called),
                ..head.clone()
            };
            audit::record(&self.state, entry).await;
            called
        })
        .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        resources::list(&self.state, request.and_then(|r| r.cursor)).await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        whole_list(request.as_ref())?;
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.state, request.uri.as_str()).await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let key_id = key_of(context.request_context()).and_then(|k| k.id);
        let sink = context.sink().clone();
        let (id, pending) = self.hub.add_sink(&sink);
        let keys = &self.state.api_keys;
        let ended = loop {
            let revoked = keys.revocation();
            if !keys.holds(key_id.as_deref()) {
                break Err(ErrorData::invalid_request(
                    "the API key this stream was opened with was revoked",
                    None,
                ));
            }
            let uris = tokio::select! {
                () = context.cancelled() => break Ok(()),
                () = self.hub.closing() => break Ok(()),
                () = revoked => continue,
                uris = pending.take() => uris,
            };
            // Written here, on this stream's own task: a client slow to read waits for its
            // own updates only. Its key is checked again before the next ones.
            let written = async {
                for uri in uris {
                    if sink.notify_resource_updated(uri).await.is_err() {
                        return false;
                    }
                }
                true
            };
            // A key revoked while a client reads slowly ends its stream all the same; another
            // key's revocation leaves what is being written to go on.
            let key_gone = async {
                loop {
                    let next = keys.revocation();
                    if !keys.holds(key_id.as_deref()) {
                        return;
                    }
                    next.await;
                }
            };
            tokio::select! {
                () = context.cancelled() => break Ok(()),
                () = self.hub.closing() => break Ok(()),
                () = key_gone => continue,
                open = written => if !open { break Ok(()) },
            }
        };
        self.hub.remove_sink(id);
        ended
    }

    // rmcp's own answer to a method the server does not serve is its name alone (`foo/bar`),
    // which reads as no reason at all.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(not_served(&request.method))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        completions::complete(&self.state, request).await
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        _request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(not_served("logging/setLevel"))
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Stateless HTTP has no session for a later push to reach: saying yes would be a
        // subscription that never hears anything.
        // (With sessions on, a client of the per-request protocol still sends none.)
        // A session id made up by the client, on a server that keeps none, names no session.
        let sessionless_http = context
            .extensions
            .get::<axum::http::request::Parts>()
            .is_some_and(|parts| {
                !self.state.config.mcp_sessions || !parts.headers.contains_key("mcp-session-id")
            });
        if sessionless_http {
            return Err(ErrorData::invalid_request(
                "resources/subscribe needs a session, and this server runs stateless Streamable \
                 HTTP: use subscriptions/listen (protocol 2026-07-28), or ask the server's owner \
                 to start it with WEBHOOK_MCP_SESSIONS=true",
                None,
            ));
        }
        // A resource that does not exist is refused now, not watched forever.
        if let Some(missing) =
            resources::first_missing(&self.state, vec![request.uri.to_string()]).await?
        {
            return Err(missing);
        }
        let key_id = key_of(&context).and_then(|k| k.id);
        self.hub
            .subscribe(
                context.peer.clone(),
                request.uri.to_string(),
                session_of(&context),
                key_id,
            )
            .map_err(|refused| ErrorData::invalid_request(refused, None))
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.hub
            .unsubscribe(request.uri.as_str(), session_of(&context).as_deref());
        Ok(())
    }
}

/// `-32601` for a method this server does not serve, naming it.
fn not_served(method: &str) -> ErrorData {
    ErrorData::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!("method not found: {}", crate::quote::quoted(method)),
        None,
    )
}

/// The API key an HTTP request came with (the auth middleware put it in the request's
/// extensions); none over stdio.
fn key_of(context: &RequestContext<RoleServer>) -> Option<KeyInfo> {
    let parts = context.extensions.get::<axum::http::request::Parts>()?;
    parts.extensions.get::<KeyInfo>().cloned()
}

/// The cache hints of a list that depends on who asks (a reader is offered less): fresh for
/// no time, and private, so no cache hands one caller's list to another. Only from protocol
/// 2026-07-28 on, which defines them.
fn per_caller_cache(context: &RequestContext<RoleServer>) -> (Option<u64>, Option<CacheScope>) {
    let hints = context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
    (hints.then_some(0), hints.then_some(CacheScope::Private))
}

/// Whether an HTTP request may only read: its key is a read key, or the auth middleware cut it
/// to one for the Open WebUI user's role (`WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES`). Over stdio
/// there is no key, and every tool is the caller's.
fn reads_only(context: &RequestContext<RoleServer>) -> bool {
    key_of(context).is_some_and(|key| key.scope == Scope::Read)
}

/// The Open WebUI user an HTTP request was made for (the auth middleware read it from the
/// headers Open WebUI forwards); none when it names none, and over stdio.
pub(super) fn user_of(context: &RequestContext<RoleServer>) -> Option<AuditUser> {
    let parts = context.extensions.get::<axum::http::request::Parts>()?;
    parts.extensions.get::<AuditUser>().cloned()
}

/// The Open WebUI chat and message an HTTP request came from (the auth middleware read them
/// from the headers Open WebUI forwards); none over stdio.
fn chat_of(context: &RequestContext<RoleServer>) -> AuditChat {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<AuditChat>().cloned())
        .unwrap_or_default()
}

/// The MCP session a request belongs to (`Mcp-Session-Id`); none over stdio, which is one.
fn session_of(context: &RequestContext<RoleServer>) -> Option<String> {
    let parts = context.extensions.get::<axum::http::request::Parts>()?;
    parts
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// These lists come whole, in one page, and never hand out a cursor: one sent anyway is no
/// cursor of theirs, refused as the protocol asks rather than answered with page one again.
fn whole_list(request: Option<&PaginatedRequestParams>) -> Result<(), ErrorData> {
    match request.and_then(|r| r.cursor.as_deref()) {
        Some(cursor) if !cursor.is_empty() => Err(ErrorData::invalid_params(
            format!(
                "`{}` is not a cursor of this list: it comes whole in one page (no \
                 nextCursor), so ask again without one",
                crate::quote::quoted(cursor)
            ),
            None,
        )),
        _ => Ok(()),
    }
}

/// What a call is told of an argument its tool does not take but another does.
fn misplaced_argument(
    tool: &str,
    arguments: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    match tool {
        "update_webhook" if arguments.contains_key("secret") => {
            let id = arguments.get("webhook_id").and_then(|id| id.as_str());
            Some(webhooks::secret_is_rotated(id.unwrap_or("{webhook_id}")))
        }
        "update_webhook" if arguments.contains_key("provider") => Some(
            "unknown field `provider`: a webhook's provider cannot change, since its receive URL \
             and signing are the provider's; create_webhook makes one for the other provider \
             (add its commands with add_command), then delete_webhook removes this one"
                .to_string(),
        ),
        "update_webhook" if arguments.contains_key("commands") => Some(
            "unknown field `commands`: update_webhook changes the webhook alone; add_command, \
             update_command and remove_command change its commands (get_webhook lists them \
             with their ids)"
                .to_string(),
        ),
        "create_webhook" if arguments.contains_key("commands") => Some(
            "unknown field `commands`: create_webhook makes the webhook alone; add each command \
             with add_command, its webhook_id the id this call answers (REST's POST \
             /api/webhooks takes a whole configuration with its commands)"
                .to_string(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::McpServer;

    #[test]
    fn every_tool_has_a_description_file_and_every_file_a_tool() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tools");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("tools/ exists")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md"))
            .map(|n| n.trim_end_matches(".md").to_string())
            .collect();
        let mut tools = McpServer::tool_names();
        files.sort();
        tools.sort();
        assert_eq!(files, tools, "tools/*.md and the tool router disagree");
    }

    #[test]
    fn no_tool_schema_uses_what_some_model_apis_refuse() {
        for tool in McpServer::tools_as_offered().list_all() {
            let schema = serde_json::Value::Object((*tool.input_schema).clone()).to_string();
            for refused in [
                "\"$schema\"",
                "\"type\":[",
                "\"format\":\"int",
                "\"format\":\"uint",
                "\"default\":null",
            ] {
                assert!(
                    !schema.contains(refused),
                    "{}: {refused} in {schema}",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn every_field_has_a_type_and_no_object_is_empty() {
        // Gemini refuses a property without a `type` and an object with no properties,
        // failing every chat that offers the tools.
        for tool in McpServer::tools_as_offered().list_all() {
            let properties = tool
                .input_schema
                .get("properties")
                .and_then(serde_json::Value::as_object);
            assert!(
                properties.is_some_and(|p| !p.is_empty()),
                "{}: no properties",
                tool.name
            );
            for (field, spec) in properties.into_iter().flatten() {
                assert!(
                    spec.get("type").is_some_and(serde_json::Value::is_string),
                    "{}.{field} has no single type: {spec}",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn each_closed_set_a_schema_offers_is_the_set_the_service_takes() {
        use crate::actions::MessageKind;
        use crate::engine::command::ActionKind;
        use crate::providers::Provider;
        use crate::service::{actions, events, tasks};
        let names = |all: Vec<&str>| all.into_iter().map(String::from).collect::<Vec<_>>();
        let mut seen = 0;
        for tool in McpServer::tools_as_offered().list_all() {
            let Some(serde_json::Value::Object(properties)) = tool.input_schema.get("properties")
            else {
                continue;
            };
            for (field, spec) in properties {
                let Some(offered) = spec.get("enum") else {
                    continue;
                };
                let offered: Vec<String> = serde_json::from_value(offered.clone()).unwrap();
                let taken = match (tool.name.as_ref(), field.as_str()) {
                    (_, "action") => names(ActionKind::ALL.map(ActionKind::as_str).to_vec()),
                    // Created as `openai`, a webhook keeps that OpenAI issues its secret; `svix`
                    // is named beside it, as people know the sender by it.
                    ("create_webhook", "provider") => {
                        let mut all = names(Provider::ALL.map(Provider::as_str).to_vec());
                        let at = all.iter().position(|p| p == "standard-webhooks").unwrap() + 1;
                        for (i, alias) in ["svix", "openai"].into_iter().enumerate() {
                            assert_eq!(alias.parse(), Ok(Provider::StandardWebhooks));
                            all.insert(at + i, alias.into());
                        }
                        all
                    }
                    (_, "provider") => names(Provider::ALL.map(Provider::as_str).to_vec()),
                    (_, "kind") => names(
                        [
                            MessageKind::OpenWebUi,
                            MessageKind::Slack,
                            MessageKind::Discord,
                            MessageKind::Teams,
                            MessageKind::Telegram,
                        ]
                        .map(MessageKind::as_str)
                        .to_vec(),
                    ),
                    ("list_events", "status") => names(events::STATUSES.to_vec()),
                    ("list_tasks", "status") => names(tasks::STATUSES.to_vec()),
                    ("list_actions", "status") => names(actions::STATUSES.to_vec()),
                    other => panic!("no check for the enum of {other:?}"),
                };
                assert_eq!(offered, taken, "{} {field}", tool.name);
                seen += 1;
            }
        }
        assert!(seen >= 8, "{seen} enums checked");
    }

    #[test]
    fn every_tool_says_whether_it_only_reads_as_the_read_only_key_check_does() {
        for tool in McpServer::all_tools().list_all() {
            let name = tool.name.to_string();
            let hints = tool
                .annotations
                .as_ref()
                .unwrap_or_else(|| panic!("{name} has no annotations"));
            assert!(hints.title.is_some(), "{name} has no title");
            // A read-only key may call exactly the tools that say they only read.
            assert_eq!(
                hints.read_only_hint,
                Some(super::is_read_tool(&name)),
                "{name}"
            );
            if !super::is_read_tool(&name) {
                assert!(hints.destructive_hint.is_some(), "{name}");
                assert!(hints.idempotent_hint.is_some(), "{name}");
            }
            assert!(hints.open_world_hint.is_some(), "{name}");
        }
    }
}
