//! Wiring: open the store, load the API keys, bind the listener, serve until told to stop,
//! then finish requests in flight and close the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::service::auth::ApiKeys;
use crate::store::Store;

/// What every handler and service function gets.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// `PUBLIC_BASE_URL` without a trailing slash, or `http://{bound address}`.
    pub public_base_url: Arc<str>,
    pub api_keys: Arc<ApiKeys>,
}

/// A built, bound application, not yet serving.
pub struct App {
    listener: TcpListener,
    state: AppState,
    generated_api_key: Option<String>,
}

pub async fn build(config: Config) -> anyhow::Result<App> {
    let store = Store::open(&config.database)
        .with_context(|| format!("open database {}", config.database.display()))?;
    let (api_keys, generated_api_key) = ApiKeys::bootstrap(&store, config.api_key.as_deref())
        .await
        .context("load API keys")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    let addr = listener.local_addr().context("read bound address")?;
    let public_base_url = match &config.public_base_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{addr}"),
    };
    let state = AppState {
        store,
        config: Arc::new(config),
        public_base_url: public_base_url.into(),
        api_keys: Arc::new(api_keys),
    };
    Ok(App {
        listener,
        state,
        generated_api_key,
    })
}

impl App {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("listener has an address")
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The API key generated on this (first) start, to be shown once.
    pub fn generated_api_key(&self) -> Option<&str> {
        self.generated_api_key.as_deref()
    }

    /// Serves until `shutdown` resolves, then stops accepting, waits for requests in flight
    /// (at most the configured grace) and closes the store after its queued writes.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let state = self.state.clone();
        let grace = Duration::from_secs(state.config.shutdown_grace_secs);
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let router = crate::http::router(state.clone());
        let server = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = stopping_tx.send(());
        });
        let deadline = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = server => result.context("serve HTTP")?,
            () = deadline => tracing::warn!("requests still in flight after the shutdown grace; stopping anyway"),
        }
        let store = state.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .context("close store")?;
        tracing::info!("stopped");
        Ok(())
    }
}
