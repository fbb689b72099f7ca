//! A `PUT` given back what a `GET` showed: the fields no update changes (`id`, `url`,
//! `created_at`, ...) are taken out where they still hold what the resource shows, so a client
//! that edits what it read and sends it whole (a dashboard's form, `GET | jq | PUT`) is not
//! refused for fields it left alone; `updated_at` then says which version it edited, and a copy
//! read before another change is refused rather than written over that change.

use std::fmt;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::clock;
use crate::http::error::ApiError;
use crate::http::extract::from_object;
use crate::service::ServiceError;

/// A body read as a JSON object whose keys are each given once, as a typed body's are: of
/// `{"name": "a", "name": "b"}` neither is taken for the one meant.
pub struct Object(pub Map<String, Value>);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut read = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if read.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    let value = map.next_value()?;
                    read.insert(key, value);
                }
                Ok(Object(read))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// What a body held besides its changes.
pub struct ReadBack<T> {
    pub changes: T,
    /// The `updated_at` of the copy the body was edited from (unix ms), when it carried one.
    pub edited_from: Option<i64>,
}

/// The resource, and the fields its `GET` shows that a `PUT` may carry back only as shown.
pub struct ReadOnly<'a> {
    /// The resource as a refusal names it (`webhook `gh``).
    pub what: &'a str,
    /// Compared with what the resource shows now.
    pub fixed: &'a [&'a str],
    /// Taken whatever they hold: counts of other things, notes of an earlier answer, and
    /// what changes with the clock alone (when a rotation's grace ends).
    pub ignored: &'a [&'a str],
}

/// Splits `body` into its changes (`T`) and the version it was edited from. `shown` reads the
/// resource as a `GET` shows it now, when the body carries a field of `fields.fixed`.
pub async fn split<T, F>(
    Object(mut body): Object,
    fields: ReadOnly<'_>,
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
        // A copy older than the resource differs from it for that reason first: said as such,
        // not as a read-only field it did not touch (the secret's hint, after a rotation).
        let now_at = now
            .get("updated_at")
            .and_then(Value::as_str)
            .and_then(clock::parse);
        if let (Some(edited_from), Some(now_at)) = (edited_from, now_at)
            && edited_from != now_at
        {
            return Err(ServiceError::stale(fields.what, edited_from, now_at).into());
        }
        for field in fields.fixed {
            let Some(given) = body.remove(*field) else {
                continue;
            };
            match now.get(*field) {
                Some(held) if &given == held => {}
                // Left out of a GET when it holds its default: `null`, or `false`.
                None if matches!(given, Value::Null | Value::Bool(false)) => {}
                held => {
                    let held = held.unwrap_or(&Value::Null);
                    return Err(ServiceError::invalid(
                        field,
                        format!(
                            "`{field}` cannot be changed by an update (it is {held} now); leave \
                             it out, or send it back as a GET shows it"
                        ),
                    )
                    .into());
                }
            }
        }
    }
    Ok(ReadBack {
        changes: from_object(body)?,
        edited_from,
    })
}
