mod commands_api;
mod events_api;
mod helpers;
mod mcp;
mod receiver;
mod store;
mod webhooks_api;
