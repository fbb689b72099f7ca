//! The runner as the configuration makes it: its chat API (the URL checked), the declared
//! agents and the lease, and what it says at start of agents with no prompt or no model.

use std::time::Duration;

use super::messages::prompt_file;
use crate::agents::AgentSpec;
use crate::agents::chat::{ChatClient, openwebui_completions_url};
use crate::agents::chat_pauses::{Pauses, Scope};
use crate::app::AppState;
use crate::config::Config;

/// How long a claim holds without renewal; a run renews it every third of that.
const LEASE: Duration = Duration::from_secs(90);

pub struct Runner {
    pub(super) agents: Vec<AgentSpec>,
    pub(super) chat: ChatClient,
    pub(super) default_model: Option<String>,
    pub(super) lease: Duration,
}

impl Runner {
    /// The runner the configuration asks for; `None` when no chat API is configured.
    pub fn from_config(config: &Config) -> Result<Option<Runner>, String> {
        let s = &config.agents;
        let given = crate::config::AgentSettings::given;
        let url = match (given(&s.chat_url), given(&s.openwebui_url)) {
            (Some(url), _) => url.to_string(),
            (None, Some(base)) => {
                // The path is appended: a query or fragment would swallow it.
                if reqwest::Url::parse(base)
                    .is_ok_and(|u| u.query().is_some() || u.fragment().is_some())
                {
                    return Err(format!(
                        "OPENWEBUI_URL `{}` has a query or fragment; give Open WebUI's address \
                         alone, such as http://open-webui:8080",
                        crate::actions::mask_url_credentials(base)
                    ));
                }
                openwebui_completions_url(base)
            }
            (None, None) => return Ok(None),
        };
        if !reqwest::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(format!(
                "the chat API URL `{}` (WEBHOOK_MCP_CHAT_URL, or OPENWEBUI_URL with \
                 /api/chat/completions) is not an http(s) URL",
                crate::actions::mask_url_credentials(&url)
            ));
        }
        let key_given = given(&s.openwebui_api_key).is_some();
        if key_given
            && reqwest::Url::parse(&url)
                .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
        {
            // The HTTP client sends a URL's user and password as a Basic `Authorization`
            // beside the key's Bearer one: two headers no server reads as meant.
            return Err(format!(
                "the chat API URL `{}` (WEBHOOK_MCP_CHAT_URL or OPENWEBUI_URL) carries a user \
                 name or password, and OPENWEBUI_API_KEY is set too: both would be sent as \
                 `Authorization`; give the URL without them, or leave the key unset",
                crate::actions::mask_url_credentials(&url)
            ));
        }
        let timeout = Duration::from_secs(s.timeout_secs.max(1));
        Ok(Some(Runner {
            agents: crate::agents::declared(s, &config.upstreams.telegram_api_url)?,
            chat: ChatClient::new(url, s.openwebui_api_key.clone(), timeout),
            default_model: given(&s.ai_model).map(str::to_string),
            lease: LEASE,
        }))
    }

    /// The same runner with a shorter (or longer) lease; for tests of lease renewal.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn agent_names(&self) -> Vec<String> {
        self.agents.iter().map(|a| a.name.clone()).collect()
    }

    /// Says, in the log, which agents have no system prompt to read: a `system_prompt` file
    /// that is not there would otherwise leave the agent running on the fixed framing alone,
    /// unnoticed.
    pub fn warn_of_missing_prompts(&self, state: &AppState) {
        for agent in &self.agents {
            let file = format!("agents/{}", prompt_file(agent));
            if crate::mcp::prompt_text(state, &file).trim().is_empty() {
                tracing::warn!(
                    agent = %agent.name,
                    file = %file,
                    "no system prompt for this agent (not in PROMPTS_DIR, not built in): it runs \
                     with the fixed framing alone"
                );
            }
        }
    }

    /// The agents with no model to call, neither their own `model` nor `AI_MODEL`: each of
    /// their tasks would fail "no model".
    pub fn agents_without_model(&self) -> Vec<String> {
        if self.default_model.is_some() {
            return Vec::new();
        }
        self.agents
            .iter()
            .filter(|a| a.model.is_none())
            .map(|a| a.name.clone())
            .collect()
    }

    /// Says, in the log, which agents have no model: the runner still claims their tasks (an
    /// external agent may not), and each would fail at once.
    pub fn warn_of_missing_models(&self) {
        let agents = self.agents_without_model();
        if !agents.is_empty() {
            tracing::warn!(
                ?agents,
                "no model for these agents (no AI_MODEL, no `model` in WEBHOOK_MCP_AGENTS): \
                 each of their tasks will fail \"no model\"; set AI_MODEL or the agent's `model`"
            );
        }
    }

    pub(super) fn agent(&self, name: &str) -> Option<&AgentSpec> {
        self.agents.iter().find(|a| a.name == name)
    }

    /// The model the agent `name` calls: its own, else `AI_MODEL`.
    pub(super) fn model_of(&self, name: &str) -> Option<String> {
        self.agent(name)
            .and_then(|a| a.model.clone())
            .or_else(|| self.default_model.clone())
    }

    /// Each agent with the model it calls.
    pub(super) fn agent_models(&self) -> Vec<(String, Option<String>)> {
        self.agents
            .iter()
            .map(|a| (a.name.clone(), self.model_of(&a.name)))
            .collect()
    }

    /// The agents a refusal of `scope` holds back: all for the key, those calling the model
    /// for a model.
    pub(super) fn agents_held_by(&self, scope: &Scope) -> Vec<String> {
        self.agent_models()
            .into_iter()
            .filter(|(_, model)| scope.holds(model.as_deref()))
            .map(|(name, _)| name)
            .collect()
    }

    /// The agents no pause holds back now.
    pub(super) fn agents_not_held(&self, pauses: &Pauses) -> Vec<String> {
        self.agent_models()
            .into_iter()
            .filter(|(_, model)| !pauses.holds(model.as_deref()))
            .map(|(name, _)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_chat_setting_is_one_not_given_and_a_url_must_be_http() {
        let runner = |chat_url: &str, openwebui_url: &str, model: &str| {
            let mut config = Config::for_tests("unused.db".into());
            let given = |v: &str| (v != "unset").then(|| v.to_string());
            config.agents.chat_url = given(chat_url);
            config.agents.openwebui_url = given(openwebui_url);
            config.agents.ai_model = given(model);
            Runner::from_config(&config)
        };
        let ready = runner("", "http://owui:8080", "")
            .expect("valid")
            .expect("a runner");
        assert_eq!(ready.chat.url(), "http://owui:8080/api/chat/completions");
        assert_eq!(ready.default_model, None, "an empty AI_MODEL is none");
        assert!(runner("", "", "m").expect("valid").is_none());
        assert!(runner("unset", " ", "m").expect("valid").is_none());
        for bad in ["owui:8080/v1/chat/completions", "ftp://x/y", "/api/chat"] {
            let refused = runner(bad, "unset", "m").err().unwrap_or_default();
            assert!(refused.contains("not an http(s) URL"), "{bad}: {refused}");
        }
        // Credentials in a refused URL are not repeated; Open WebUI's address takes no query.
        let refused = runner("htps://u:CHATPW@x/v1?api-key=QKEY", "unset", "m")
            .err()
            .unwrap_or_default();
        assert!(
            !refused.contains("CHATPW") && !refused.contains("QKEY"),
            "{refused}"
        );
        let refused = runner("", "http://owui:8080?x=1", "m")
            .err()
            .unwrap_or_default();
        assert!(refused.starts_with("OPENWEBUI_URL"), "{refused}");
        assert!(runner("http://gw/v1/chat?api-version=1", "unset", "m").is_ok());
    }

    #[test]
    fn a_login_in_the_chat_url_is_refused_beside_a_key_and_taken_alone() {
        let runner = |url: &str, key: Option<&str>| {
            let mut config = Config::for_tests("unused.db".into());
            config.agents.openwebui_url = Some(url.to_string());
            config.agents.openwebui_api_key = key.map(str::to_string);
            Runner::from_config(&config)
        };
        let refused = runner("http://u:CHATPW@owui:8080", Some("sk-1"))
            .err()
            .unwrap_or_default();
        assert!(
            refused.contains("OPENWEBUI_API_KEY") && refused.contains("u:***@owui"),
            "{refused}"
        );
        assert!(
            !refused.contains("CHATPW") && !refused.contains("  "),
            "{refused}"
        );
        assert!(runner("http://u:CHATPW@owui:8080", None).is_ok_and(|r| r.is_some()));
        assert!(runner("http://u:CHATPW@owui:8080", Some(" ")).is_ok_and(|r| r.is_some()));
        assert!(runner("http://owui:8080", Some("sk-1")).is_ok_and(|r| r.is_some()));
    }
}
