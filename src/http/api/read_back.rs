//! A `PUT` given back what a `GET` showed: the fields no update changes (`id`, `url`,
//! `created_at`, ...) are taken out where they still hold what the resource shows, so a client
//! that edits what it read and sends it whole (a dashboard's form, `GET | jq | PUT`) is not
//! refused for fields it left alone; `updated_at` then says which version it edited, and a copy
//! read before another change is refused rather than written over that change.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::clock;
use crate::http::error::ApiError;
use crate::http::extract::from_object;
use crate::service::ServiceError;

/// What a body held besides its changes.
pub struct ReadBack<T> {
    pub changes: T,
    /// The `updated_at` of the copy the body was edited from (unix ms), when it carried one.
    pub edited_from: Option<i64>,
}

/// Fields a `GET` shows that a `PUT` may carry back only as shown.
pub struct Shown<'a> {
    /// Compared with what `shown` holds now.
    pub fixed: &'a [&'a str],
    /// Taken whatever they hold: counts of other things and notes of an earlier answer.
    pub ignored: &'a [&'a str],
}

/// Splits `body` into its changes (`T`) and the version it was edited from. `shown` is the
/// resource as a `GET` shows it now; read only when the body carries a field of `fields`.
pub async fn split<T, F>(
    mut body: Map<String, Value>,
    fields: Shown<'_>,
    shown: F,
) -> Result<ReadBack<T>, ApiError>
where
    T: DeserializeOwned,
    F: AsyncFnOnce() -> Result<Value, ServiceError>,
{
    let edited_from = match body.remove("updated_at") {
        None | Some(Value::Null) => None,
        Some(given) => match given.as_str().and_then(clock::parse) {
            Some(at) => Some(at),
            None => {
                return Err(ServiceError::invalid(
                    "updated_at",
                    format!(
                        "`updated_at` is the time a GET showed (an RFC 3339 string), not \
                         {given}; leave it out to change the resource whatever its version"
                    ),
                )
                .into());
            }
        },
    };
    for field in fields.ignored {
        body.remove(*field);
    }
    if fields.fixed.iter().any(|f| body.contains_key(*f)) {
        let now = shown().await?;
        for field in fields.fixed {
            let Some(given) = body.remove(*field) else {
                continue;
            };
            let held = now.get(*field).unwrap_or(&Value::Null);
            if &given != held {
                return Err(ServiceError::invalid(
                    field,
                    format!(
                        "`{field}` cannot be changed by an update (it is {held} now); leave it \
                         out, or send it back as a GET shows it"
                    ),
                )
                .into());
            }
        }
    }
    Ok(ReadBack {
        changes: from_object(body)?,
        edited_from,
    })
}
