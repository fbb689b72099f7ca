//! A reply's text, checked before it is queued: it must say something and fit the thread it
//! goes to, as given or once its mentions are defused.

use super::Author;
use crate::actions::broadcasts::Mentions;
use crate::engine::plan;
use crate::providers::SourceRef;
use crate::service::ServiceError;

/// The longest reply sent by hand, in characters, wherever it goes (GitHub's limit for a
/// comment; the places whose limits are known check their own, see `plan::reply_limit`).
const MAX_REPLY_CHARS: usize = 65_536;

/// A reply's text must say something (something visible: see
/// [`crate::invisible::shows_nothing`]), and fit where it goes.
pub(super) fn check_text(field: &str, text: &str) -> Result<(), ServiceError> {
    // Invisible characters alone (`\u200B`, NUL) are empty too, to whoever reads the reply.
    if crate::invisible::shows_nothing(text) {
        return Err(ServiceError::invalid(
            field,
            "the text to send is empty (spaces, control or invisible characters only)",
        ));
    }
    // Longer than any place takes: refused before anything is looked up, so the place's own
    // (often lower) limit is not known yet, and the message may not suggest that this one
    // would go through.
    let chars = text.chars().count();
    if chars > MAX_ANY_REPLY_CHARS {
        return Err(ServiceError::invalid(
            field,
            format!(
                "the text is {chars} characters; no place a reply goes takes more than \
                 {MAX_ANY_REPLY_CHARS}"
            ),
        ));
    }
    Ok(())
}

/// The longest text any place takes (a GitLab note).
const MAX_ANY_REPLY_CHARS: usize = 1_000_000;

/// A reply by hand must say something and fit where it goes: on `source`, or anywhere a reply
/// goes when it names none.
pub(in crate::service) fn check_reply(
    field: &str,
    text: &str,
    source: Option<&SourceRef>,
) -> Result<(), ServiceError> {
    check_text(field, text)?;
    match source {
        Some(source) => check_fits(field, text, source),
        None => check_fits_limit(
            field,
            text,
            plan::Limit::chars(MAX_REPLY_CHARS, "a reply"),
            "",
        ),
    }
}

/// A reply by hand is refused, not cut, when it is longer than its thread takes.
fn check_fits(field: &str, text: &str, source: &SourceRef) -> Result<(), ServiceError> {
    check_fits_limit(field, text, reply_limit(source), "")
}

fn reply_limit(source: &SourceRef) -> plan::Limit {
    plan::reply_limit(&source.kind).unwrap_or(plan::Limit::chars(MAX_REPLY_CHARS, "a reply"))
}

/// A reply's text as it is sent on `source` ([`Author::shape`]), refused when longer than the
/// thread takes.
pub(in crate::service) fn shaped_to_fit(
    field: &str,
    author: Author,
    text: String,
    source: &SourceRef,
) -> Result<String, ServiceError> {
    let mentions = Mentions::of_source(&source.kind);
    shaped_within(field, author, text, mentions, reply_limit(source))
}

/// `text` as sent to a place with `mentions`, refused when longer than its `limit` takes: as
/// given, or (a model's words) once defused, which the refusal then says, as the text given
/// was shorter.
pub(in crate::service) fn shaped_within(
    field: &str,
    author: Author,
    text: String,
    mentions: Mentions,
    limit: plan::Limit,
) -> Result<String, ServiceError> {
    check_fits_limit(field, &text, limit, "")?;
    let sent = author.shape(mentions, text.clone());
    if sent != text {
        check_fits_limit(
            field,
            &sent,
            limit,
            " as sent (with its broadcast mentions and link labels written out as text, and for \
             Slack its `&`, `<` and `>` escaped, as they are from a model)",
        )?;
    }
    Ok(sent)
}

fn check_fits_limit(
    field: &str,
    text: &str,
    limit: plan::Limit,
    as_sent: &str,
) -> Result<(), ServiceError> {
    let len = limit.len(text);
    if len > limit.max {
        let (unit, what, max) = (limit.unit(), limit.what, limit.max);
        return Err(ServiceError::invalid(
            field,
            format!("the text is {len} {unit}{as_sent}; {what} takes at most {max}"),
        ));
    }
    Ok(())
}
