//! The dashboard: a page, its script, its stylesheet and its icon (`dashboard/`, compiled in),
//! served without a key, as they hold no data: the script reads everything from `/api` with
//! the key the user pastes into the page.

use std::sync::LazyLock;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::engine::command::ActionKind;
use crate::providers::Provider;

/// The page, script, stylesheet and icon as written in `dashboard/`.
const PAGE: &str = include_str!("../../dashboard/index.html");
const SCRIPT: &str = include_str!("../../dashboard/app.js");
const STYLE: &str = include_str!("../../dashboard/app.css");
const ICON: &str = include_str!("../../dashboard/favicon.svg");

/// Where the script, stylesheet and icon are served, as the page names them. The page names
/// its icon, so that browsers do not ask for a `/favicon.ico` this server does not have.
pub const SCRIPT_PATH: &str = "/dashboard/app.js";
pub const STYLE_PATH: &str = "/dashboard/app.css";
pub const ICON_PATH: &str = "/dashboard/favicon.svg";

/// Only this server's own files and `/api`: no inline script or style, no other origin (the
/// icon is one of its files: `img-src 'self'`), and no page may frame the dashboard (its
/// buttons delete webhooks).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                       img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                       form-action 'none'; frame-ancestors 'none'";

/// Where the page lists the choices the server knows: the providers a webhook may be
/// created as, and the actions a command may take.
const PROVIDERS_SLOT: &str = "<!--providers-->";
const ACTIONS_SLOT: &str = "<!--actions-->";

/// The page with its lists filled in, once.
static FILLED_PAGE: LazyLock<String> = LazyLock::new(|| {
    // `openai` is a Standard Webhooks sender, but issues its own secret: offered by its name.
    let mut providers: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
    providers.push("openai");
    let actions: Vec<&str> = ActionKind::ALL.iter().map(|a| a.as_str()).collect();
    PAGE.replace(PROVIDERS_SLOT, &options(&providers))
        .replace(ACTIONS_SLOT, &options(&actions))
});

/// `<option>`s for names the server defines (lowercase letters, `-` and `_`: nothing to escape).
fn options(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("<option value=\"{name}\">{name}</option>"))
        .collect()
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/dashboard", get(page))
        .route(SCRIPT_PATH, get(script))
        .route(STYLE_PATH, get(style))
        .route(ICON_PATH, get(icon))
}

async fn page() -> Response {
    file("text/html; charset=utf-8", FILLED_PAGE.as_str())
}

async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}

async fn icon() -> Response {
    file("image/svg+xml", ICON)
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (CONTENT_TYPE, content_type),
        (CONTENT_SECURITY_POLICY, CSP),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (X_FRAME_OPTIONS, "DENY"),
        (REFERRER_POLICY, "no-referrer"),
        // A new build's files are fetched again rather than mixed with an old page's.
        (CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_its_files_and_lists_every_provider_and_action() {
        let page = FILLED_PAGE.as_str();
        assert!(!page.contains(PROVIDERS_SLOT) && !page.contains(ACTIONS_SLOT));
        for provider in Provider::ALL {
            assert!(page.contains(&format!("<option value=\"{}\">", provider.as_str())));
        }
        for action in ActionKind::ALL {
            assert!(page.contains(&format!("<option value=\"{}\">", action.as_str())));
        }
        // Named relative to the page, so that a proxy serving it under a prefix serves them too.
        assert!(page.contains("src=\"dashboard/app.js\""));
        assert!(page.contains("href=\"dashboard/app.css\""));
        assert!(page.contains("<link rel=\"icon\" href=\"dashboard/favicon.svg\""));
        // No inline script or style: the CSP would refuse it.
        assert!(!page.contains("<script>") && !page.contains("style="));
        // Nor in the icon, drawn with attributes only, and nothing of another origin but
        // the SVG namespace's name.
        assert!(!ICON.contains("<style") && !ICON.contains("style=") && !ICON.contains("<script"));
        let outside = ICON.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!outside.contains("http"), "{ICON}");
    }
}
