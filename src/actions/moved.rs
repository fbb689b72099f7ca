//! A redirect to where a resource moved on the same API, followed once. GitHub answers a
//! request on a renamed or transferred repository's old `repos/{owner}/{repo}/…` path with a
//! redirect to its new one on its own host (`/repositories/{id}/…`): 301 for a GET, 307 for
//! anything else. Redirects are otherwise never followed (`client::Clients`); this one is
//! safe to follow because it stays on the scheme, host and port the request was already
//! allowed to go to, so the token goes nowhere it was not sent and the SSRF guard's check of
//! the URL still holds (its resolver checks the address again when connecting).

use reqwest::header::LOCATION;
use reqwest::{Method, RequestBuilder, Url};

use super::ActionError;
use super::client::{self, Answer};

/// An answer, and the URL the request was sent again to when a move was followed for it.
pub(crate) struct Followed {
    pub answer: Answer,
    pub moved_to: Option<Url>,
}

impl Followed {
    fn unmoved(answer: Answer) -> Self {
        Followed {
            answer,
            moved_to: None,
        }
    }
}

/// `client::exchange`, sending the request again (same method, headers and body) where the
/// answer is a redirect [`moved_to`] takes. One only: a second redirect is answered as any is,
/// not followed (`client::status_error`).
pub(crate) async fn exchange(service: &str, req: RequestBuilder) -> Result<Followed, ActionError> {
    // A JSON body is bytes, so the request can be cloned; a stream could not be sent twice.
    let again = req.try_clone();
    let answer = client::exchange(service, req).await?;
    let Some((http, Ok(mut request))) = again.map(RequestBuilder::build_split) else {
        return Ok(Followed::unmoved(answer));
    };
    let Some(to) = moved_to(request.method(), &answer) else {
        return Ok(Followed::unmoved(answer));
    };
    *request.url_mut() = to.clone();
    let answer = client::exchange(service, RequestBuilder::from_parts(http, request)).await?;
    Ok(Followed {
        answer,
        moved_to: Some(to),
    })
}

/// Where `answer` says a request of `method` is to be sent again, when that is to be done:
/// a 307 or 308 (which keep the method and body, RFC 9110), or a 301 or 302 to a GET (after
/// which a client may send a POST as a GET, without its body), whose `Location` (read
/// against the URL asked) is on the same scheme, host and port. Anything else is answered as
/// the redirect it is.
fn moved_to(method: &Method, answer: &Answer) -> Option<Url> {
    let follows = match answer.status.as_u16() {
        307 | 308 => true,
        301 | 302 => *method == Method::GET,
        _ => false,
    };
    if !follows {
        return None;
    }
    let location = answer.headers.get(LOCATION)?.to_str().ok()?.trim();
    let mut to = answer.url.join(location).ok()?;
    let from = &answer.url;
    let same_origin = to.scheme() == from.scheme()
        && to.host() == from.host()
        && to.port_or_known_default() == from.port_or_known_default();
    if !same_origin {
        return None;
    }
    // A login written into it would go as a second `Authorization` beside the token.
    client::drop_login(&mut to);
    to.set_fragment(None);
    Some(to)
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    const ASKED: &str = "https://api.github.com/repos/octo/old/issues/5/comments";

    fn redirect(status: u16, location: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_str(location).unwrap());
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: String::new(),
            url: Url::parse(ASKED).unwrap(),
            whole: true,
        }
    }

    #[test]
    fn only_a_redirect_on_the_same_origin_that_keeps_the_method_is_followed() {
        let moved = "https://api.github.com/repositories/42/issues/5/comments";
        // (status, method, Location, followed to)
        let cases: &[(u16, Method, &str, Option<&str>)] = &[
            (307, Method::POST, moved, Some(moved)),
            (308, Method::PATCH, moved, Some(moved)),
            (301, Method::GET, moved, Some(moved)),
            (302, Method::GET, moved, Some(moved)),
            // A POST sent again after a 301 or 302 may be sent as a GET: not followed.
            (301, Method::POST, moved, None),
            (302, Method::POST, moved, None),
            (303, Method::POST, moved, None),
            (300, Method::GET, moved, None),
            // Relative: on the host asked.
            (
                307,
                Method::POST,
                "/repositories/42/issues/5/comments",
                Some(moved),
            ),
            (
                307,
                Method::POST,
                "https://API.github.com:443/repositories/42/issues/5/comments#x",
                Some(moved),
            ),
            // Another host, scheme or port: not followed.
            (307, Method::POST, "https://evil.example/x", None),
            (
                307,
                Method::POST,
                "https://api.github.com.evil.example/x",
                None,
            ),
            (
                307,
                Method::POST,
                "http://api.github.com/repositories/42",
                None,
            ),
            (307, Method::POST, "https://api.github.com:8443/x", None),
            (307, Method::POST, "https://127.0.0.1/x", None),
        ];
        for (status, method, location, want) in cases {
            let got = moved_to(method, &redirect(*status, location));
            assert_eq!(
                got.as_ref().map(Url::as_str),
                *want,
                "{status} {method} to {location}"
            );
        }
        // A login in the Location is not sent beside the token.
        let with_login = redirect(307, "https://bot:pw@api.github.com/repositories/42");
        let to = moved_to(&Method::POST, &with_login).unwrap();
        assert_eq!(to.as_str(), "https://api.github.com/repositories/42");
        // None named: nowhere to go.
        let mut bare = redirect(307, moved);
        bare.headers.clear();
        assert_eq!(moved_to(&Method::POST, &bare), None);
    }
}
