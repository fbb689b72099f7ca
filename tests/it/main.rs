mod commands_api;
mod events_api;
mod helpers;
mod receiver;
mod store;
mod webhooks_api;
