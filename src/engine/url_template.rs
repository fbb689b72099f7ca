//! A forward's URL as a template (`https://api.github.com/repos/{{ repository.owner.login }}/…`):
//! checked when its command is saved, rendered over each event when it is planned. Its scheme
//! and host are the author's, written out; the event's values (hostile: a sender writes them)
//! only ever fill path segments and query values, each percent-encoded whole
//! ([`template::Escape::Url`]), and a rendering that would leave the author's host, or climb
//! or fold the path (`..`, `.`, an empty segment), is refused rather than sent.

use percent_encoding::percent_decode_str;

use super::template;

/// Whether a target URL is a template, rendered over each event.
pub fn is_template(url: &str) -> bool {
    url.contains("{{") || url.contains("{%")
}

/// Why a templated URL cannot be saved, if it cannot.
pub fn check(url: &str) -> Result<(), String> {
    literal_origin(url)?;
    // It would turn the encoding of every value after it off.
    if url.contains("autoescape") {
        return Err(
            "a URL template takes no `autoescape`: every value in it is percent-encoded, which \
             is what keeps a sender's `../` or `?` inside one segment"
                .into(),
        );
    }
    template::validate(url)
}

/// The URL rendered over `context`: its values encoded, its origin the one written, its path
/// neither climbed nor folded by them.
pub fn render(url: &str, context: &minijinja::Value) -> Result<String, String> {
    let origin = literal_origin(url)?;
    let rendered = template::render_as(url, context, template::Escape::Url)
        .map_err(|e| format!("the target URL's template: {e}"))?;
    let rendered = rendered.trim();
    let shown = || crate::actions::mask_forward_url(rendered);
    let parsed = reqwest::Url::parse(rendered).map_err(|e| {
        format!(
            "the target URL rendered as `{}`, which is not a URL: {e}",
            shown()
        )
    })?;
    if !same_origin(&parsed, &origin) {
        return Err(format!(
            "the target URL rendered as `{}`, which is not on the host it names, written out \
             (`{}`): nothing is sent",
            shown(),
            origin.origin().ascii_serialization()
        ));
    }
    check_path(rendered).map_err(|why| {
        format!(
            "the target URL rendered as `{}`, whose path {why}: a value the event gave would \
             move the forward to another path of its host, so nothing is sent",
            shown()
        )
    })?;
    Ok(parsed.to_string())
}

/// The scheme, user and host the author wrote before any template: everything up to the end
/// of the authority (the first `/`, `?` or `#` after `://`), which must name a host.
fn literal_origin(url: &str) -> Result<reqwest::Url, String> {
    let refused = || {
        "a templated URL writes out its scheme and host, and fills only its path and query \
         from the event (e.g. https://api.github.com/repos/{{ repository.owner.login }}/\
         {{ repository.name }}/issues/{{ issue.number }}/labels): the event must not choose the \
         host a forward goes to"
            .to_string()
    };
    let authority = url.find("://").ok_or_else(refused)? + 3;
    let end = url[authority..]
        .find(['/', '?', '#'])
        .map(|at| authority + at)
        .ok_or_else(refused)?;
    if url[..end].contains('{') || url[authority..end].trim().is_empty() {
        return Err(refused());
    }
    let origin = reqwest::Url::parse(&url[..end]).map_err(|_| refused())?;
    if origin.host_str().is_none_or(str::is_empty) {
        return Err(refused());
    }
    Ok(origin)
}

fn same_origin(rendered: &reqwest::Url, origin: &reqwest::Url) -> bool {
    rendered.scheme() == origin.scheme()
        && rendered.host_str() == origin.host_str()
        && rendered.port_or_known_default() == origin.port_or_known_default()
        && rendered.username() == origin.username()
        && rendered.password() == origin.password()
}

/// Why the rendered URL's path would not be the one its template lays out: a segment that is
/// `.` or `..` however it is encoded (URL parsing resolves `%2e%2e` too), or an empty one
/// inside it (`/base//end`, which some servers fold into `/base/end`).
fn check_path(rendered: &str) -> Result<(), String> {
    let after_scheme = rendered.find("://").map_or(0, |at| at + 3);
    let rest = &rendered[after_scheme..];
    let Some(start) = rest.find('/') else {
        return Ok(());
    };
    let path = &rest[start..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        if decoded == "." || decoded == ".." {
            return Err(format!("has a `{segment}` segment"));
        }
        if segment.is_empty() && i + 1 < segments.len() {
            return Err("has an empty segment".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_template_must_write_out_its_host() {
        let cases = [
            ("https://api.github.com/repos/{{ x }}/labels", true),
            ("https://host:8080/{{ x }}", true),
            ("http://host?q={{ x }}", true),
            ("https://user@host/{{ x }}", true),
            ("http://[::1]:9/{{ x }}", true),
            ("https://{{ x }}.example.com/hook", false),
            ("https://{{ x }}@example.com/hook", false),
            ("https://host:{{ x }}/hook", false),
            ("http:///{{ x }}:80/hook", false),
            ("http://\t/{{ x }}", false),
            ("http:{{ x }}/hook", false),
            ("{{ x }}://host/hook", false),
            (
                "https://host/p/{% autoescape false %}{{ x }}{% endautoescape %}",
                false,
            ),
            ("https://host/{{ x", false),
        ];
        for (url, ok) in cases {
            assert_eq!(check(url).is_ok(), ok, "{url}: {:?}", check(url));
        }
    }

    #[test]
    fn a_rendering_that_would_climb_or_fold_the_path_is_refused() {
        let ctx = template::json_context(&json!({
            "dots": "..", "dot": ".", "empty": "", "none": null, "x": "a", "long": "..x",
            "slashed": "a/b?c",
            "list": ["..", ".."],
        }));
        let cases = [
            ("http://h/base/{{ x }}/end", Ok("http://h/base/a/end")),
            ("http://h/base/{{ dots }}/end", Err("`%2E%2E` segment")),
            ("http://h/base/{{ dot }}/end", Err("`%2E` segment")),
            (
                "http://h/base/{{ dot }}{{ dot }}/end",
                Err("`%2E%2E` segment"),
            ),
            ("http://h/base/{{ dot }}./end", Err("`%2E.` segment")),
            ("http://h/base/{{ long[:2] }}/end", Err("segment")),
            (
                "http://h/b/{% for d in list %}{{ d }}/{% endfor %}end",
                Err("segment"),
            ),
            ("http://h/base/{{ empty }}/end", Err("empty segment")),
            ("http://h/base/{{ none }}/end", Err("empty segment")),
            // The query is no path: an empty value there is a value.
            ("http://h/base?q={{ empty }}", Ok("http://h/base?q=")),
            ("http://h/base/{{ x }}/", Ok("http://h/base/a/")),
            // No tag turns the encoding off.
            (
                "http://h/p/{% autoescape false %}{{ slashed }}{% endautoescape %}/e",
                Ok("http://h/p/a%2Fb%3Fc/e"),
            ),
        ];
        for (url, want) in cases {
            let got = render(url, &ctx);
            match want {
                Ok(sent) => assert_eq!(got.as_deref(), Ok(sent), "{url}"),
                Err(said) => {
                    let error = got.expect_err(url);
                    assert!(error.contains(said), "{url}: {error}");
                }
            }
        }
    }
}
