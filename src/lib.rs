//! webhook-mcp: lets AI agents and people in Open WebUI own webhooks. Receives events from
//! GitHub, GitLab, Jira, Slack, Sentry, Linear, Stripe, Standard Webhooks senders, Open WebUI
//! and custom sources, verifies and keeps every one, and matches them to commands.
#![forbid(unsafe_code)]

pub mod actions;
pub mod agents;
pub mod app;
pub mod clock;
pub mod config;
pub mod engine;
pub mod http;
pub mod invisible;
pub mod lone_surrogates;
pub mod mcp;
pub mod nfc;
pub mod providers;
pub mod quote;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod text_cut;
pub mod worker;
