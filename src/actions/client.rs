//! The HTTP transport every connector shares (outbox worker → `actions::execute` → a
//! connector → here): picks the client for a URL (trusted or SSRF-guarded), sends, reads a
//! bounded body and turns the outcome into `Sent` or a classified `ActionError`, so retry
//! decisions are made in one place.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, Response, StatusCode, Url, redirect};
use serde_json::Value;

use super::scrub::{SentSecrets, UrlPath};
use super::ssrf::{self, GuardedResolver, Route};
use super::{ActionError, Endpoint, Sent};

const USER_AGENT: &str = concat!("webhook-mcp/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Enough for any API's JSON answer to a comment of common size, and all a forward target can
/// make us buffer.
const READ_LIMIT: usize = 256 * 1024;
/// The most read of an answer echoing a large request back (see [`read_limit`]).
const ECHO_LIMIT: usize = 16 * 1024 * 1024;
/// What `Sent::response` keeps for the event log.
const KEEP: usize = 2048;
/// Error messages quote this much of the answer: enough to see why, short enough to log.
const EXCERPT: usize = 300;

/// The HTTP clients the connectors send with. None follows redirects: a 302 to an internal
/// address would otherwise walk around the SSRF guard (and a redirected POST loses its body).
#[derive(Debug, Clone)]
pub struct Clients {
    /// Operator-configured endpoints (env): the system resolver and proxy settings.
    trusted: Client,
    /// User-given URLs whose host:port is allowlisted: the resolver lets allowlisted names
    /// resolve to private addresses.
    allowlisted: Client,
    /// Every other user-given URL: the resolver drops non-public addresses.
    strict: Client,
    allowlist: Arc<[String]>,
}

impl Clients {
    /// `allowed_hosts` is `ALLOWED_TARGET_HOSTS` split on commas (`host` or `host:port`);
    /// `timeout` bounds a whole request, connecting included (at most 5 s of it).
    pub fn new(allowed_hosts: Vec<String>, timeout: Duration) -> Self {
        let allowlist: Arc<[String]> = allowed_hosts
            .into_iter()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
        let base = || {
            Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(CONNECT_TIMEOUT.min(timeout))
                .timeout(timeout)
                .redirect(redirect::Policy::none())
        };
        // Guarded clients use no proxy: through a proxy the resolver would check the proxy's
        // address and the proxy would connect wherever the URL says.
        let guarded = |allowlist: Arc<[String]>| {
            base()
                .no_proxy()
                .dns_resolver(GuardedResolver { allowlist })
                .build()
                .expect("the HTTP client (TLS backend) failed to initialise")
        };
        Clients {
            trusted: base()
                .build()
                .expect("the HTTP client (TLS backend) failed to initialise"),
            allowlisted: guarded(Arc::clone(&allowlist)),
            strict: guarded(Arc::from(Vec::new())),
            allowlist,
        }
    }

    /// The allowlist, for checks that are stricter than the guard (Slack `response_url`).
    pub(crate) fn allowlist(&self) -> &[String] {
        &self.allowlist
    }

    /// Parses `url` and returns the client that may send to it: the trusted one for operator
    /// endpoints, else a guarded one after `ssrf::check_url`.
    pub(crate) fn for_url(&self, url: &str, trusted: bool) -> Result<(&Client, Url), ActionError> {
        let parsed = Url::parse(url).map_err(|e| {
            ActionError::permanent(format!(
                "invalid URL {}: {e}",
                super::redact_secret_path(url)
            ))
        })?;
        if trusted {
            return Ok((&self.trusted, parsed));
        }
        match ssrf::check_url(&parsed, &self.allowlist) {
            Ok(Route::Allowlisted) => Ok((&self.allowlisted, parsed)),
            Ok(Route::Strict) => Ok((&self.strict, parsed)),
            Err(refused) => Err(ActionError::permanent(refused.message)),
        }
    }

    /// `for_url` for `{endpoint}{path}`, with the endpoint's trailing slash tolerated.
    pub(crate) fn for_endpoint(
        &self,
        endpoint: &Endpoint,
        path: &str,
    ) -> Result<(&Client, Url), ActionError> {
        let url = format!("{}{path}", endpoint.url.trim_end_matches('/'));
        self.for_url(&url, endpoint.trusted)
    }
}

/// Takes a user name and password out of `url`, for an API whose token goes in
/// `Authorization`: the HTTP client would send them there too, as a second header no server
/// reads as meant. (New ones are refused when saved; this is for those saved before.)
pub(crate) fn drop_login(url: &mut Url) {
    // Cannot fail on an http(s) URL, the only kind an endpoint holds.
    let _ = url.set_username("");
    let _ = url.set_password(None);
}

/// A 2xx answer: the status and the (bounded) body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    /// A wait the answer names (`Retry-After`), for APIs that refuse with a 2xx (Slack's
    /// `ok: false` with `ratelimited`).
    pub retry_after: Option<Duration>,
    /// Whether `body` is all of the answer (see [`Answer::whole`]).
    pub whole: bool,
    content_type: Option<String>,
    /// Where the request went.
    url: Url,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Why a 2xx answer to a post that names the `what` it made when it makes one (a GitLab
    /// note, a Jira comment: the created object, with its `id`) shows nothing made, when it
    /// came whole and is no such object: a sign-in page (a base URL that is a web front end,
    /// or behind SSO), an empty `{}` or `204` (a proxy, a mock). It comes back the same on
    /// every try, so it is final, and names where the post went, what came back and the
    /// `setting` to check. A body cut off on its way is not this: the post may well be
    /// there, its answer lost (delivered with no id, known by its words when it comes back).
    pub fn not_the_post(&self, service: &str, what: &str, setting: &str) -> ActionError {
        let body = self.body.trim();
        let excerpt = truncate(body, EXCERPT);
        let labelled = self
            .content_type
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let came = if body.is_empty() {
            format!("an empty answer{labelled}")
        } else if crate::agents::chat::is_page(self.content_type.as_deref(), body.as_bytes()) {
            format!("a web page{labelled}, not the {what} it made: {excerpt}")
        } else if serde_json::from_str::<Value>(body).is_ok() {
            format!("JSON naming no {what} it made: {excerpt}")
        } else {
            format!("an answer that is not JSON{labelled}: {excerpt}")
        };
        ActionError {
            status: Some(self.status),
            ..ActionError::permanent(format!(
                "{service} answered {} to the {what} posted to {} with {came} — nothing shows \
                 the {what} was made. Check that {setting} is {service}'s own address, with no \
                 sign-in page or proxy answering in its place, and that the credentials are \
                 right",
                self.status,
                super::redact_url(self.url.as_str()),
            ))
        }
    }

    pub fn sent(self, remote_id: Option<String>) -> Sent {
        Sent {
            status: self.status,
            response: (!self.body.is_empty()).then(|| truncate(&self.body, KEEP).to_owned()),
            remote_id,
            thread: None,
            author: None,
            note: None,
        }
    }
}

/// `err` naming the URL a post was sent to when it was a 404 (without its login or query,
/// where credentials hide): a base URL that already held the API's path (`…/api/v4`) doubles
/// it in every request, and a 404 that shows only the API's `Not Found` does not show that.
/// `setting` names where the base URL is set.
pub(crate) fn naming_a_404s_url(mut err: ActionError, url: &Url, setting: &str) -> ActionError {
    if err.status == Some(404) {
        err.message = format!(
            "{} — posted to {}: check that {setting} is the site's address (the API path is \
             added to it) and that the token can see what was posted to",
            err.message,
            super::redact_url(url.as_str())
        );
    }
    err
}

/// Sends `req` and classifies the outcome; `service` names the other side in messages
/// ("GitHub", "forward target"). Only 2xx comes back as `Ok`.
pub(crate) async fn send(service: &str, req: RequestBuilder) -> Result<Reply, ActionError> {
    send_to(service, req, UrlPath::Plain).await
}

/// `send` to an incoming webhook, whose URL's path is its key: what its target hides of the
/// path is scrubbed from the answer as a credential (see `scrub::UrlPath`).
pub(crate) async fn send_to_webhook(
    service: &str,
    req: RequestBuilder,
) -> Result<Reply, ActionError> {
    send_to(service, req, UrlPath::Secret).await
}

/// `send` a forward: what its target hides of the receiver's path (a token-like segment, a
/// known incoming webhook's key) is scrubbed from the answer (see `scrub::UrlPath`).
pub(crate) async fn send_forward(service: &str, req: RequestBuilder) -> Result<Reply, ActionError> {
    send_to(service, req, UrlPath::Forward).await
}

async fn send_to(service: &str, req: RequestBuilder, path: UrlPath) -> Result<Reply, ActionError> {
    let answer = exchange_to(service, req, path).await?;
    if answer.status.is_success() {
        return Ok(answer.reply());
    }
    Err(status_error(service, &answer))
}

/// Any answer, whatever its status, for APIs whose error bodies say more than the status.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// With every credential the request carried taken out (see `scrub`).
    pub body: String,
    /// Where the request went: a relative `Location` is read against it.
    pub url: Url,
    /// Whether `body` is all of the answer: read to its end, not cut off on its way (the
    /// send's timeout, a dropped connection) nor at the read limit.
    pub whole: bool,
}

impl Answer {
    pub fn reply(self) -> Reply {
        Reply {
            status: self.status.as_u16(),
            retry_after: retry_after(&self.headers, SystemTime::now()),
            body: self.body,
            whole: self.whole,
            content_type: header_str(&self.headers, "content-type").map(str::to_owned),
            url: self.url,
        }
    }
}

/// Sends `req`; only a request that got no answer is an error here. The body comes back
/// with the credentials the request carried scrubbed out, before any of it can be quoted in
/// an error, kept as the response or logged: this is where every connector reads an answer.
pub(crate) async fn exchange(service: &str, req: RequestBuilder) -> Result<Answer, ActionError> {
    exchange_to(service, req, UrlPath::Plain).await
}

async fn exchange_to(
    service: &str,
    req: RequestBuilder,
    path: UrlPath,
) -> Result<Answer, ActionError> {
    let (client, request) = req.build_split();
    let request = request.map_err(|e| transport_error(service, e))?;
    let secrets = SentSecrets::of(&request, path);
    let url = request.url().clone();
    let limit = match path {
        // A provider's API, whose answer names the post it made.
        UrlPath::Plain => read_limit(
            request
                .body()
                .and_then(|b| b.as_bytes())
                .map_or(0, <[u8]>::len),
        ),
        UrlPath::Secret | UrlPath::Forward => READ_LIMIT,
    };
    let resp = client
        .execute(request)
        .await
        .map_err(|e| transport_error(service, e))?;
    let status = resp.status();
    let mut headers = resp.headers().clone();
    // A redirect's `Location` is quoted in the error (`shown_location`): a secret it carries
    // where the target would not mask it (no longer last in the path) is scrubbed too.
    let location = headers.get(reqwest::header::LOCATION);
    if let Some(scrubbed) = location
        .and_then(|v| v.to_str().ok())
        .map(|l| secrets.scrub(l))
        .and_then(|l| reqwest::header::HeaderValue::from_str(&l).ok())
    {
        headers.insert(reqwest::header::LOCATION, scrubbed);
    }
    let (body, whole) = read_body(resp, limit).await;
    let body = secrets.scrub(&body);
    Ok(Answer {
        status,
        headers,
        body,
        url,
        whole,
    })
}

/// How much of an answer to a request of `sent` bytes is read: [`READ_LIMIT`], or more for
/// a large request, whose answer may echo it back (GitHub and GitLab return the comment they
/// made, text and all, with its id and author around it, which are how our own posts are
/// known when they come back as events), JSON escapes and all; never past [`ECHO_LIMIT`].
fn read_limit(sent: usize) -> usize {
    sent.saturating_mul(8).clamp(READ_LIMIT, ECHO_LIMIT)
}

/// Reads at most `limit` bytes, and whether that was all of it. A body that breaks off
/// midway still gives what arrived: the status already decided the outcome.
async fn read_body(mut resp: Response, limit: usize) -> (String, bool) {
    let mut buf = Vec::new();
    let whole = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                buf.extend_from_slice(&chunk);
                if buf.len() > limit {
                    buf.truncate(limit);
                    break false;
                }
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&buf).into_owned(), whole)
}

/// A request that never got an answer. Network trouble and timeouts are worth retrying; an
/// SSRF refusal from the resolver is not.
fn transport_error(service: &str, err: reqwest::Error) -> ActionError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<ssrf::Refused>() {
            return ActionError::permanent(refused.message.clone());
        }
        source = e.source();
    }
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_builder() {
        "the request could not be built"
    } else {
        "request failed"
    };
    let unbuildable = err.is_builder();
    // A request that never connected was never sent; any other (a timeout, a connection lost
    // mid-request) may have reached the other side, which may have done what it asked.
    let unanswered = !unbuildable && !err.is_connect();
    // The URL is left out: a Telegram URL carries the bot token.
    let detail = root_cause(&err.without_url());
    let message = format!("{service}: {what}: {detail}");
    // A request that cannot be built fails the same way on every try.
    if unbuildable {
        ActionError::permanent(message)
    } else {
        ActionError {
            unanswered,
            ..ActionError::retryable(message)
        }
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// A non-2xx answer. 408, 429, 5xx and GitHub's rate-limit 403s are retried, after the
/// `Retry-After` any of them names (429s and 503s may name it in the body instead; GitHub's
/// limits by their reset, see `github_wait`); redirects, 410 and other 4xx are final, since
/// sending the same request again gets the same answer.
pub(crate) fn status_error(service: &str, answer: &Answer) -> ActionError {
    let Answer {
        status,
        headers,
        body,
        url,
        ..
    } = answer;
    let (status, code) = (*status, status.as_u16());
    let mut message = format!("{service} answered {status}");
    // 304 (and 300) point nowhere to go: only a redirect with a `Location` is named as one.
    if status.is_redirection() && !matches!(code, 300 | 304) {
        message.push_str(&format!(
            " (redirect to {} not followed; configure the final URL)",
            shown_location(url, headers)
        ));
    }
    let excerpt = truncate(body.trim(), EXCERPT);
    if !excerpt.is_empty() {
        message.push_str(": ");
        message.push_str(excerpt);
    }
    let now = SystemTime::now();
    // GitHub answers a rate limit (primary or secondary) with 403 as often as with 429; a
    // secondary limit may come with neither header, only its message. Anyone else's 403 is a
    // refusal, final.
    let github = service == "GitHub";
    let github_403 = github && code == 403;
    let secondary = github && (code == 403 || code == 429) && {
        let said = body.to_ascii_lowercase();
        said.contains("secondary rate limit") || said.contains("abuse detection")
    };
    let github_403_limit = github_403
        && (secondary
            || headers.contains_key(RETRY_AFTER)
            || header_str(headers, "x-ratelimit-remaining") == Some("0"));
    let rate_limited = code == 429 || github_403_limit;
    let retryable = code == 408 || rate_limited || status.is_server_error();
    // A wait the answer names counts on any answer worth retrying (a 502 or 504 from a proxy
    // in front of a restarting service says `Retry-After` as well as a 503 does).
    let named_in_body = matches!(code, 429 | 503);
    let github_limit = github && rate_limited;
    let retry_after = if retryable {
        retry_after(headers, now)
            .or_else(|| body_retry_after(body).filter(|_| named_in_body))
            // A 429 with no word of when is a secondary limit to GitHub's rules.
            .or_else(|| {
                github_wait(headers, secondary || code == 429, now).filter(|_| github_limit)
            })
            .or_else(|| limit_reset(headers, now).filter(|_| code == 429 && !github))
    } else {
        None
    };
    ActionError {
        retryable,
        status: Some(code),
        retry_after,
        message,
        // A server that failed while handling the request, or a gateway that lost its answer,
        // may have done it first: GitHub answers a 500 or 502 for comments it made. A 503 is
        // a server that took nothing in.
        unanswered: matches!(code, 500 | 502 | 504),
        rate_limited,
    }
}

/// GitHub's rule for a rate limit that names no `Retry-After` (read before this): when the
/// limit is spent (`x-ratelimit-remaining: 0`), until its reset; else, for a secondary limit,
/// at least a minute. A limit that is not spent names a reset too, which is no wait; so is a
/// reset already past (a clock behind GitHub's, a window just rolled over), and a secondary
/// limit then still waits its minute.
fn github_wait(headers: &HeaderMap, secondary: bool, now: SystemTime) -> Option<Duration> {
    let spent = header_str(headers, "x-ratelimit-remaining") == Some("0");
    spent
        .then(|| rate_limit_reset(headers, now))
        .flatten()
        .filter(|wait| !wait.is_zero())
        .or(secondary.then_some(SECONDARY_LIMIT_WAIT))
}

/// The `Location` of a redirect as it may be shown: read against the request's URL (a
/// relative one names the same server), then masked as a target is (`redact_secret_path`),
/// since a redirect to the same place carries the same secret path or token.
fn shown_location(request: &Url, headers: &HeaderMap) -> String {
    let Some(location) = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return "an unnamed place".into();
    };
    match request.join(location.trim()) {
        Ok(to) => super::redact_secret_path(to.as_str()),
        Err(_) => "an unreadable Location".into(),
    }
}

/// How long to wait after a GitHub secondary rate limit that names no time.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// `Retry-After` as delay-seconds or an HTTP date, relative to `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after_named(headers, RETRY_AFTER.as_str(), now)
}

/// [`retry_after`] read from a header of another name that carries the same values.
pub(crate) fn retry_after_named(
    headers: &HeaderMap,
    name: &str,
    now: SystemTime,
) -> Option<Duration> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // Too large for a u64 is a very long wait (the schedule caps it), not none.
        return Some(
            value
                .parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
    }
    // All three forms a recipient must accept (RFC 9110): IMF-fixdate, RFC 850 and asctime.
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// GitHub's `x-ratelimit-reset`: the Unix time, in seconds, at which the limit lifts.
fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let at = header_str(headers, "x-ratelimit-reset")?
        .parse::<u64>()
        .ok()?;
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(at))?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// When a spent limit lifts, as APIs that send no `Retry-After` with their 429 name it:
/// `RateLimit-Reset` (GitLab: a Unix time; the IETF draft: seconds from now),
/// `X-RateLimit-Reset-After` (Discord: seconds, with a fraction) or `X-RateLimit-Reset` (Jira:
/// an ISO 8601 time; others a Unix time). GitHub's reset, on every answer, is read apart.
fn limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    let wait_until = |at: f64| {
        Duration::try_from_secs_f64(at)
            .ok()
            .map(|at| at.saturating_sub(since_epoch))
    };
    // A number this large is a time, not seconds to wait (over 31 years).
    let seconds_or_time = |n: f64| {
        if n >= 1e9 {
            wait_until(n)
        } else {
            Duration::try_from_secs_f64(n).ok()
        }
    };
    let number = |name: &str| {
        header_str(headers, name)?
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    if let Some(n) = number("ratelimit-reset") {
        return seconds_or_time(n);
    }
    if let Some(n) = number("x-ratelimit-reset-after") {
        return Duration::try_from_secs_f64(n).ok();
    }
    let reset = header_str(headers, "x-ratelimit-reset")?;
    match reset.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => seconds_or_time(n),
        Ok(_) => None,
        Err(_) => {
            let at = time::OffsetDateTime::parse(
                reset,
                &time::format_description::well_known::Iso8601::DEFAULT,
            )
            .ok()?;
            wait_until(at.unix_timestamp_nanos() as f64 / 1e9)
        }
    }
}

/// Telegram (and a few others) put the delay in the JSON body instead of the header.
fn body_retry_after(body: &str) -> Option<Duration> {
    let v: Value = serde_json::from_str(body).ok()?;
    let secs = v
        .pointer("/parameters/retry_after")
        .or_else(|| v.get("retry_after"))?;
    // Discord sends fractional seconds. Any target can send any number: one too large for a
    // Duration means "a very long time" (the retry schedule caps it), not a panic.
    secs.as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A missing credential: permanent, naming the setting that supplies it.
pub(crate) fn missing(what: &str, settings: &str) -> ActionError {
    ActionError::permanent(format!(
        "no {what} configured: set {settings} on the server, or the webhook's \
         options.credentials ({})",
        settings.to_lowercase()
    ))
}

/// A missing token for `endpoint`. When the webhook named the endpoint itself, only its own
/// token goes there, so that is the one to set.
pub(crate) fn missing_token(
    endpoint: &Endpoint,
    what: &str,
    setting: &str,
    option: &str,
) -> ActionError {
    if endpoint.trusted {
        return missing(what, setting);
    }
    ActionError::permanent(format!(
        "no {what} for {}: a webhook with its own URL needs its own \
         options.credentials.{option} ({setting} is only sent to the server's configured URL)",
        super::redact_url(&endpoint.url)
    ))
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the connector tests share: clients that may reach the wiremock server on
    //! 127.0.0.1, and endpoints pointing at it.
    use super::*;

    pub fn clients() -> Clients {
        Clients::new(vec!["127.0.0.1".into()], Duration::from_secs(5))
    }

    /// An endpoint as a user would give it, so the tests also pass through the guard.
    pub fn endpoint(url: impl Into<String>) -> Endpoint {
        Endpoint {
            url: url.into(),
            trusted: false,
        }
    }

    /// Every `Authorization` header the first request `server` received carried: one, when a
    /// login in the URL and a token are not both sent.
    pub async fn authorization_sent(server: &wiremock::MockServer) -> Vec<String> {
        let requests = server.received_requests().await.expect("recorded requests");
        requests[0]
            .headers
            .get_all("authorization")
            .iter()
            .map(|v| v.to_str().expect("a text header").to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    /// `status_error` for an answer to a request to `REQUESTED`.
    fn status_error(
        service: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &str,
    ) -> ActionError {
        super::status_error(
            service,
            &Answer {
                status,
                headers: headers.clone(),
                body: body.into(),
                url: Url::parse(REQUESTED).unwrap(),
                whole: true,
            },
        )
    }

    const REQUESTED: &str = "https://hooks.example/api/webhooks/123/AbCdEf123456GhIjKl7890mnop";

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        let date = "Sun, 06 Nov 1994 08:50:37 GMT";
        assert_eq!(
            retry_after(&headers(date), now),
            Some(Duration::from_secs(60))
        );
        for other_form in ["Sunday, 06-Nov-94 08:50:37 GMT", "Sun Nov  6 08:50:37 1994"] {
            assert_eq!(
                retry_after(&headers(other_form), now),
                Some(Duration::from_secs(60)),
                "{other_form}"
            );
        }
        let past = "Sun, 06 Nov 1994 08:00:00 GMT";
        assert_eq!(retry_after(&headers(past), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        // Past a u64: a very long wait, which the schedule caps, not none.
        assert_eq!(
            retry_after(&headers("99999999999999999999"), now),
            Some(Duration::MAX)
        );
        assert_eq!(retry_after(&headers("-5"), now), None);
    }

    #[test]
    fn statuses_are_classified_for_the_retry_schedule() {
        let cases: &[(u16, bool)] = &[
            (500, true),
            (502, true),
            (503, true),
            (408, true),
            (429, true),
            (400, false),
            (401, false),
            (404, false),
            (410, false),
            (422, false),
            (302, false),
        ];
        for (code, retryable) in cases {
            let status = StatusCode::from_u16(*code).unwrap();
            let err = status_error("GitHub", status, &HeaderMap::new(), "{\"message\":\"x\"}");
            assert_eq!(err.retryable, *retryable, "{code}");
            assert_eq!(err.status, Some(*code));
            assert!(err.message.contains(&code.to_string()), "{}", err.message);
        }
        // A 304 names no place to go, so it is not called a redirect.
        let err = status_error("GitHub", StatusCode::NOT_MODIFIED, &HeaderMap::new(), "");
        assert!(!err.message.contains("redirect"), "{}", err.message);
    }

    #[test]
    fn a_telegram_style_body_supplies_the_delay_when_the_header_is_missing() {
        let body = r#"{"ok":false,"error_code":429,"parameters":{"retry_after":12}}"#;
        let err = status_error(
            "Telegram",
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            body,
        );
        assert_eq!(err.retry_after, Some(Duration::from_secs(12)));
    }

    #[test]
    fn a_huge_or_odd_delay_in_the_body_is_read_without_panicking() {
        let cases: &[(&str, Option<Duration>)] = &[
            (r#"{"retry_after":1.5}"#, Some(Duration::from_millis(1500))),
            (r#"{"retry_after":1e20}"#, Some(Duration::MAX)),
            (
                r#"{"retry_after":1.7976931348623157e308}"#,
                Some(Duration::MAX),
            ),
            (r#"{"retry_after":-3}"#, None),
            (r#"{"retry_after":"soon"}"#, None),
            ("not json", None),
        ];
        for (body, expected) in cases {
            assert_eq!(body_retry_after(body), *expected, "{body}");
        }
    }

    #[test]
    fn a_github_rate_limit_on_403_is_retried_after_its_reset() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut limited = HeaderMap::new();
        limited.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        limited.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&(now + 120).to_string()).unwrap(),
        );
        let secondary = headers("60");
        let forbidden = HeaderMap::new();

        let primary = status_error("GitHub", StatusCode::FORBIDDEN, &limited, "");
        let secondary = status_error("GitHub", StatusCode::FORBIDDEN, &secondary, "");
        let forbidden = status_error("GitHub", StatusCode::FORBIDDEN, &forbidden, "");

        assert!(primary.retryable);
        let wait = primary.retry_after.expect("the reset time");
        assert!(
            (Duration::from_secs(110)..=Duration::from_secs(120)).contains(&wait),
            "{wait:?}"
        );
        assert!(secondary.retryable);
        assert_eq!(secondary.retry_after, Some(Duration::from_secs(60)));
        assert!(!forbidden.retryable, "a plain 403 is final");
        // Only GitHub's 403 may be a rate limit: a forward target's is its refusal.
        for service in ["forward target", "Slack", "GitLab"] {
            let refused = status_error(service, StatusCode::FORBIDDEN, &limited, "");
            assert!(!refused.retryable, "{service}");
            let said = status_error(
                service,
                StatusCode::FORBIDDEN,
                &HeaderMap::new(),
                "secondary rate limit",
            );
            assert!(!said.retryable && said.retry_after.is_none(), "{service}");
        }

        // A secondary limit known by its message alone, its primary limit far from spent.
        let mut plenty = HeaderMap::new();
        plenty.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
        plenty.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&(now + 3000).to_string()).unwrap(),
        );
        let said = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest"}"#;
        let by_message = status_error("GitHub", StatusCode::FORBIDDEN, &plenty, said);
        assert!(by_message.retryable);
        assert_eq!(by_message.retry_after, Some(Duration::from_secs(60)));
        // A secondary limit that also spent the primary one waits for its reset (GitHub's
        // rule: `Retry-After`, else the reset when nothing remains, else a minute).
        let spent = status_error("GitHub", StatusCode::FORBIDDEN, &limited, said);
        let wait = spent.retry_after.expect("the reset time");
        assert!(
            (Duration::from_secs(110)..=Duration::from_secs(120)).contains(&wait),
            "{wait:?}"
        );
        let mut named = limited.clone();
        named.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        let named = status_error("GitHub", StatusCode::FORBIDDEN, &named, said);
        assert_eq!(named.retry_after, Some(Duration::from_secs(30)));
        // A reset already past (a clock behind GitHub's) is no wait: a secondary limit still
        // waits its minute.
        let mut past = HeaderMap::new();
        past.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        past.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&(now - 5).to_string()).unwrap(),
        );
        let past = status_error("GitHub", StatusCode::FORBIDDEN, &past, said);
        assert_eq!(past.retry_after, Some(Duration::from_secs(60)));
        let locked = r#"{"message":"Unable to create comment because issue is locked."}"#;
        assert!(!status_error("GitHub", StatusCode::FORBIDDEN, &plenty, locked).retryable);
    }

    #[test]
    fn a_github_primary_limit_on_429_waits_for_its_reset_a_limit_not_spent_does_not() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let reset = |remaining: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-remaining", HeaderValue::from_static(remaining));
            h.insert(
                "x-ratelimit-reset",
                HeaderValue::from_str(&(now + 120).to_string()).unwrap(),
            );
            h
        };
        let wait = |service: &str, status: StatusCode, headers: &HeaderMap| {
            status_error(service, status, headers, "").retry_after
        };

        let spent =
            wait("GitHub", StatusCode::TOO_MANY_REQUESTS, &reset("0")).expect("the reset time");
        assert!(
            (Duration::from_secs(110)..=Duration::from_secs(120)).contains(&spent),
            "{spent:?}"
        );
        // Every GitHub answer names a reset: only a spent limit's is a wait. A 429 with a
        // limit not spent and no `Retry-After` is a secondary limit: GitHub's minute.
        assert_eq!(
            wait("GitHub", StatusCode::TOO_MANY_REQUESTS, &reset("12")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            wait("GitHub", StatusCode::SERVICE_UNAVAILABLE, &reset("0")),
            None
        );
        // Another target's 429 that names a reset as a Unix time waits for it too.
        let other = wait("Slack", StatusCode::TOO_MANY_REQUESTS, &reset("0")).expect("a wait");
        assert!(
            (Duration::from_secs(110)..=Duration::from_secs(120)).contains(&other),
            "{other:?}"
        );
    }

    #[test]
    fn a_429_naming_its_reset_otherwise_than_by_retry_after_waits_for_it() {
        let now = SystemTime::now();
        let epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let in_25s = time::OffsetDateTime::from_unix_timestamp(epoch as i64 + 25)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        // (service, header, value, the wait in whole seconds from..to, or none)
        type Case<'a> = (&'a str, &'a str, String, Option<(u64, u64)>);
        let cases: Vec<Case> = vec![
            // GitLab: a Unix time.
            (
                "GitLab",
                "ratelimit-reset",
                (epoch + 25).to_string(),
                Some((23, 25)),
            ),
            // The IETF draft: seconds.
            ("GitLab", "ratelimit-reset", "25".into(), Some((25, 25))),
            // Discord: seconds with a fraction.
            (
                "Discord",
                "x-ratelimit-reset-after",
                "16.5".into(),
                Some((16, 17)),
            ),
            // Jira: an ISO 8601 time.
            ("Jira", "x-ratelimit-reset", in_25s, Some((23, 25))),
            ("Jira", "x-ratelimit-reset", "soon".into(), None),
            ("Jira", "x-ratelimit-reset", "-5".into(), None),
            // A time already past: no wait beyond the schedule's.
            (
                "GitLab",
                "ratelimit-reset",
                (epoch - 5).to_string(),
                Some((0, 0)),
            ),
        ];
        for (service, name, value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
            let wait = status_error(service, StatusCode::TOO_MANY_REQUESTS, &headers, "")
                .retry_after
                .map(|d| d.as_secs_f64());
            let within = match (wait, want) {
                (Some(w), Some((lo, hi))) => w >= lo as f64 - 0.01 && w <= hi as f64 + 0.01,
                (None, None) => true,
                _ => false,
            };
            assert!(within, "{service} {name}: {value}: {wait:?}, want {want:?}");
            // Only a 429 says a limit is spent.
            let other = status_error(service, StatusCode::SERVICE_UNAVAILABLE, &headers, "");
            assert_eq!(other.retry_after, None, "{service} {name} on a 503");
        }
        // GitHub's 429 with no word of when waits GitHub's minute.
        let bare = status_error(
            "GitHub",
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            "",
        );
        assert_eq!(bare.retry_after, Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_redirect_is_shown_masked_as_its_target_relative_or_not() {
        let located = |location: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                reqwest::header::LOCATION,
                HeaderValue::from_str(location).unwrap(),
            );
            status_error("openwebui channel webhook", StatusCode::FOUND, &h, "").message
        };
        let cases = [
            (
                "http://127.0.0.1:9/api/v1/channels/webhooks/abc/TOKENPATHSECRET",
                "http://127.0.0.1:9/api/v1/channels/webhooks/abc/***",
            ),
            (
                "https://hooks.slack.com/services/T000/B000/SECRET",
                "https://hooks.slack.com/services/T000/B000/***",
            ),
            (
                "https://u:pw@elsewhere.example/in/AbCdEf123456GhIjKl7890mnop/slack?token=SECRET",
                "https://elsewhere.example/in/***/***",
            ),
            // Relative: on the server the request went to.
            ("/r307/again", "https://hooks.example/r307/***"),
            (
                "../456/SECRETXYZ",
                "https://hooks.example/api/webhooks/456/***",
            ),
        ];
        for (location, shown) in cases {
            let message = located(location);
            assert!(
                message.contains(&format!("redirect to {shown} not followed")),
                "{location}: {message}"
            );
            assert!(!message.contains("SECRET"), "{message}");
        }
    }

    #[test]
    fn a_retry_after_on_any_retryable_answer_is_the_wait() {
        for code in [500, 502, 503, 504, 408, 429] {
            let status = StatusCode::from_u16(code).unwrap();
            let err = status_error("forward target", status, &headers("120"), "");
            assert_eq!(err.retry_after, Some(Duration::from_secs(120)), "{code}");
        }
        // A final answer waits for nothing, whatever it says.
        for code in [400, 404, 302] {
            let status = StatusCode::from_u16(code).unwrap();
            let err = status_error("forward target", status, &headers("120"), "");
            assert_eq!(err.retry_after, None, "{code}");
        }
    }

    /// Refuses every name, as the guarded resolver does for a private one.
    struct RefuseAll;

    impl reqwest::dns::Resolve for RefuseAll {
        fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
            let refused = ssrf::Refused {
                message: "refused: resolves to a private address".into(),
            };
            Box::pin(std::future::ready(Err(refused.into())))
        }
    }

    #[tokio::test]
    async fn a_refusal_from_the_resolver_is_permanent_not_a_network_error() {
        let http = Client::builder()
            .no_proxy()
            .dns_resolver(RefuseAll)
            .build()
            .unwrap();
        let err = send("forward target", http.post("http://rebinding.example/"))
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("private address"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_connection_failure_is_retryable() {
        // Port 1 on loopback: nothing listens, so the connection is refused at once.
        let http = testing::clients();
        let (client, url) = http.for_url("http://127.0.0.1:1/", false).unwrap();
        let err = send("forward target", client.post(url)).await.unwrap_err();
        assert!(err.retryable, "{}", err.message);
        assert_eq!(err.status, None);
        assert!(!err.unanswered, "never connected, so never sent");
    }

    #[tokio::test]
    async fn a_request_that_went_out_and_timed_out_is_unanswered() {
        // A loopback server that takes the request and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(socket);
        });
        let http = Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let err = send("GitHub", http.post(url)).await.unwrap_err();
        held.abort();
        assert!(err.retryable, "{}", err.message);
        assert!(err.unanswered, "{}", err.message);
    }

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("hi", 10), "hi");
    }
}
