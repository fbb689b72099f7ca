//! `WEBHOOK_MCP_CONFIG_DIR`: webhook configurations kept as files, each the body
//! `POST /api/webhooks` takes, applied when `serve` starts: a webhook not there yet is created
//! as that POST creates it, one that is there is put as `PUT /api/webhooks/{id}` puts it (its
//! commands replaced as a set, those unchanged keeping their ids). A file that is refused
//! stops the start, naming the file and the field.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ServiceError;
use super::webhooks::{self, WebhookIn, WebhookOut, WebhookPatch};
use crate::app::AppState;

/// Applies every `*.json` file in `dir`, in name order; the first refused stops it (those
/// before it stay applied).
pub async fn apply(state: &AppState, dir: &Path) -> anyhow::Result<()> {
    for path in files(dir)? {
        apply_file(state, &path).await?;
    }
    Ok(())
}

/// The `*.json` files in `dir`, sorted by name.
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("WEBHOOK_MCP_CONFIG_DIR: read {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("WEBHOOK_MCP_CONFIG_DIR: read {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

async fn apply_file(state: &AppState, path: &Path) -> anyhow::Result<()> {
    let file = path.display().to_string();
    let refused = |why: String| anyhow::anyhow!("config file {file}: {why}");
    let text = std::fs::read_to_string(path).map_err(|e| refused(format!("cannot read: {e}")))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| refused(format!("not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(refused(
            "not a JSON object: a configuration is the body POST /api/webhooks takes".into(),
        ));
    }
    let input: WebhookIn = shaped(&value).map_err(&refused)?;
    let id = webhooks::named_id(&input)
        .map_err(|e| refused(said(e)))?
        .ok_or_else(|| {
            refused(
                "field `webhook_id`: missing: a configuration file names its webhook \
                 (`webhook_id`, or `endpoint`), or each start would create another"
                    .into(),
            )
        })?;
    let stored = match webhooks::load(state, &id).await {
        Ok(stored) => Some(stored),
        Err(ServiceError::NotFound { .. }) => None,
        Err(e) => return Err(refused(said(e))),
    };
    if let Some(stored) = stored {
        let mut patch: WebhookPatch = shaped(&value).map_err(&refused)?;
        // A secret rotated over the API since the file was written is kept, not a reason to
        // refuse the start: the file's is left out, and the log says so.
        let rotated = patch.secret.as_deref().is_some_and(|given| {
            !crate::providers::ct_eq(given.as_bytes(), stored.secret.as_bytes())
        });
        if rotated {
            patch.secret = None;
            tracing::warn!(
                "config file {file}: webhook `{id}` has another secret than the file's (rotated \
                 since, say): it keeps its own; put the one it has in the file, or rotate it to \
                 the file's with POST /api/webhooks/{id}/rotate-secret"
            );
        }
        let out = webhooks::update(state, &id, patch)
            .await
            .map_err(|e| refused(said(e)))?;
        tracing::info!(
            "config file {file}: webhook `{id}` applied: {} command(s) added, {} removed, {} \
             kept",
            out.added_commands.len(),
            out.removed_commands.as_ref().map_or(0, Vec::len),
            out.kept_commands.unwrap_or_default(),
        );
        log_warnings(&file, &out);
        return Ok(());
    }
    let generated = input.secret.is_none();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = webhooks::create(state, input, Some(format!("config file {name}")))
        .await
        .map_err(|e| refused(said(e)))?;
    // The secret is never logged: a generated one is set or shown by a rotation.
    let secret = if generated && out.secret_placeholder {
        format!(
            "; its secret is a placeholder until the sender's own is set with POST \
             /api/webhooks/{id}/rotate-secret {{\"secret\": \"...\", \"grace_period_secs\": 0}}"
        )
    } else if generated {
        format!(
            "; its secret was generated and is not logged: give the sender's own (or one of \
             yours) with POST /api/webhooks/{id}/rotate-secret {{\"secret\": \"...\", \
             \"grace_period_secs\": 0}}, or post {{}} there to have a new one generated and \
             shown"
        )
    } else {
        String::new()
    };
    tracing::info!(
        "config file {file}: webhook `{id}` created at {}, with {} command(s){secret}",
        out.url,
        out.added_commands.len(),
    );
    log_warnings(&file, &out);
    Ok(())
}

/// `value` read as `T`, or what is wrong with it, naming the field.
fn shaped<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = super::field_error::in_json_words(&e.inner().to_string());
        if path == "." {
            message
        } else {
            format!("field `{path}`: {message}")
        }
    })
}

/// A refusal of the service, naming its field.
fn said(refused: ServiceError) -> String {
    match refused {
        ServiceError::Invalid {
            field: Some(field),
            message,
        } => format!("field `{field}`: {message}"),
        other => other.to_string(),
    }
}

/// The warnings of the answer (the webhook's, and its added commands'), which never hold the
/// secret.
fn log_warnings(file: &str, out: &WebhookOut) {
    for warning in &out.warnings {
        tracing::warn!("config file {file}: webhook `{}`: {warning}", out.id);
    }
    for command in &out.added_commands {
        for warning in &command.warnings {
            tracing::warn!(
                "config file {file}: webhook `{}`, command `{}` ({}): {warning}",
                out.id,
                command.id,
                command.trigger
            );
        }
    }
}
