//! Checks at start of the operator's outbound settings: the provider API URLs and the
//! `ALLOWED_TARGET_HOSTS` entries. A mistake there would otherwise show only later, as every
//! comment going dead with an error that does not name the setting.

use crate::config::Upstreams;

/// What is wrong with the provider API URLs, naming the first bad setting (its variable and
/// flag). Each must be an absolute http(s) URL with a host; `JIRA_BASE_URL` may be unset.
pub fn upstream_url_problem(upstreams: &Upstreams) -> Option<String> {
    let jira = upstreams
        .jira_base_url
        .as_deref()
        .filter(|u| !u.trim().is_empty());
    let settings = [
        (
            "GITHUB_API_URL",
            "--github-api-url",
            Some(upstreams.github_api_url.as_str()),
            "https://api.github.com",
        ),
        (
            "GITLAB_URL",
            "--gitlab-url",
            Some(upstreams.gitlab_url.as_str()),
            "https://gitlab.com",
        ),
        (
            "JIRA_BASE_URL",
            "--jira-base-url",
            jira,
            "https://your-domain.atlassian.net",
        ),
        (
            "SLACK_API_URL",
            "--slack-api-url",
            Some(upstreams.slack_api_url.as_str()),
            "https://slack.com/api",
        ),
        (
            "LINEAR_API_URL",
            "--linear-api-url",
            Some(upstreams.linear_api_url.as_str()),
            "https://api.linear.app/graphql",
        ),
        (
            "TELEGRAM_API_URL",
            "--telegram-api-url",
            Some(upstreams.telegram_api_url.as_str()),
            "https://api.telegram.org",
        ),
    ];
    settings.into_iter().find_map(|(env, flag, url, example)| {
        let url = url?;
        // A query or fragment would end up before the API path each request appends
        // (`…/api/v3?tenant=1/repos/…`), sending every request to the wrong place.
        let fine = reqwest::Url::parse(url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.has_host()
                && u.query().is_none()
                && u.fragment().is_none()
        });
        if !fine {
            return Some(format!(
                "{env} ({flag}): `{}` is not an absolute http(s) URL with a host and no query \
                 or fragment; give one such as {example}",
                super::mask_url_credentials(url)
            ));
        }
        let site = match env {
            "GITLAB_URL" => Site::Gitlab,
            "JIRA_BASE_URL" => Site::Jira,
            _ => return None,
        };
        site_address_problem(site, url).map(|why| format!("{env} ({flag}): {why}"))
    })
}

/// A base URL that is a site's address, to which each request adds the API's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// `GITLAB_URL`, `options.credentials.gitlab_url`: notes go to `{url}/api/v4/projects/…`.
    Gitlab,
    /// `JIRA_BASE_URL`, `options.credentials.jira_base_url`: comments go to
    /// `{url}/rest/api/2/issue/…`.
    Jira,
}

/// Why a GitLab or Jira base URL names more than the site, with the address to give
/// instead: the API's path, which each request adds itself (`…/gitlab/api/v4` would post to
/// `…/gitlab/api/v4/api/v4/projects/…`, and every post be a 404), or a page's address (a
/// Jira issue's `…/browse/TEST-1`; any path on gitlab.com or a Jira Cloud site, whose
/// address has none). A site under a path of its own (`https://host/gitlab`,
/// `https://host/jira`) is fine, as is Atlassian's API gateway (`/ex/jira/{cloudId}`).
pub fn site_address_problem(site: Site, url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let segments: Vec<String> = parsed
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let at = |i: usize| segments.get(i).map(String::as_str);
    let versioned = |s: Option<&str>| {
        s.and_then(|s| s.strip_prefix('v'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let api = (0..segments.len()).find_map(|i| match site {
        Site::Gitlab if at(i) == Some("api") && versioned(at(i + 1)) => Some((
            i,
            format!(
                "ends in GitLab's API path (`/api/{}`), which each note adds itself (it would \
                 post to …/api/{0}/api/v4/projects/…)",
                segments[i + 1]
            ),
        )),
        Site::Jira if at(i) == Some("rest") && at(i + 1) == Some("api") => Some((
            i,
            "ends in Jira's REST API path (`/rest/api/…`), which each comment adds itself (it \
             would post to …/rest/api/2/rest/api/2/issue/…)"
                .to_string(),
        )),
        Site::Jira if at(i) == Some("browse") => Some((
            i,
            "is an issue's page (`/browse/…`), not the site's address".to_string(),
        )),
        _ => None,
    });
    let whole_site = match site {
        Site::Gitlab if host == "gitlab.com" => Some("gitlab.com's address has no path"),
        Site::Jira if host.ends_with(".atlassian.net") => {
            Some("a Jira Cloud site's address has no path")
        }
        _ => None,
    };
    let (keep, why) = match (api, whole_site) {
        (Some((i, why)), _) => (i, why),
        (None, Some(why)) if !segments.is_empty() => (0, why.to_string()),
        _ => return None,
    };
    let mut fixed = parsed.clone();
    let kept: Vec<&str> = parsed
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .take(keep)
        .collect();
    fixed.set_path(&kept.join("/"));
    fixed.set_query(None);
    fixed.set_fragment(None);
    let fixed = super::mask_url_credentials(fixed.as_str());
    Some(format!(
        "`{}` {why}: give the site's address, `{}`",
        super::mask_url_credentials(url),
        fixed.trim_end_matches('/')
    ))
}

/// What is wrong with the `WEBHOOK_MCP_ALLOWED_HOSTS` entries, as with
/// [`allowlist_problems`]: a host name is compared (the port is not), so a scheme or path
/// around one is dropped with a warning, and a wildcard, which matches nothing, is refused.
pub fn mcp_host_problems(entries: &[String]) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let Some(host) = mcp_host(entry) else {
            return Err(format!(
                "WEBHOOK_MCP_ALLOWED_HOSTS (--mcp-allowed-hosts): `{entry}` is not a host name \
                 (e.g. webhook-mcp, localhost, host.docker.internal; no wildcards: list each)"
            ));
        };
        // `[::1]` and `::1` name one host, as rmcp reads them.
        let unbracketed = |h: &str| h.replace(['[', ']'], "");
        if !unbracketed(entry).eq_ignore_ascii_case(&unbracketed(&host)) {
            warnings.push(format!(
                "WEBHOOK_MCP_ALLOWED_HOSTS (--mcp-allowed-hosts): `{entry}` is read as `{host}`: \
                 entries are `host` or `host:port`, without a scheme or path"
            ));
        }
    }
    Ok(warnings)
}

/// The `host` or `host:port` a `WEBHOOK_MCP_ALLOWED_HOSTS` entry names, as rmcp matches it
/// against `Host`: without a scheme or path. None for what names no host (a wildcard).
pub fn mcp_host(entry: &str) -> Option<String> {
    let (host, port) = super::ssrf::parse_entry(entry)?;
    if host.contains('*') {
        return None;
    }
    Some(match port {
        Some(port) if host.contains(':') => format!("[{host}]:{port}"),
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// What is wrong with the `ALLOWED_TARGET_HOSTS` entries: `Err` names one that can never
/// match (refused at start); `Ok` carries warnings for entries read only in part (a scheme
/// or path around the host, which is dropped).
pub fn allowlist_problems(entries: &[String]) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let Some((host, port)) = super::ssrf::parse_entry(entry).filter(|(h, _)| !h.contains('*'))
        else {
            return Err(format!(
                "ALLOWED_TARGET_HOSTS (--allowed-target-hosts): `{entry}` is not `host` or \
                 `host:port` (e.g. open-webui:8080, 10.0.0.5, [::1]:9000; no wildcards: list \
                 each host)"
            ));
        };
        let bare = match port {
            Some(port) if host.contains(':') => format!("[{host}]:{port}"),
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        if bare != entry {
            warnings.push(format!(
                "ALLOWED_TARGET_HOSTS (--allowed-target-hosts): `{entry}` is read as `{bare}`: \
                 entries are `host` or `host:port`, without a scheme or path"
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_url_setting_is_an_absolute_http_url_named_when_it_is_not() {
        type Spoil = fn(&mut Upstreams);
        let cases: [(Spoil, Option<&str>); 11] = [
            (|_| {}, None),
            (|u| u.jira_base_url = Some(" ".into()), None),
            (
                |u| u.github_api_url = "http://ghe.local/api/v3".into(),
                None,
            ),
            (
                |u| u.github_api_url = "not-a-url".into(),
                Some("GITHUB_API_URL (--github-api-url)"),
            ),
            (
                |u| u.github_api_url = "ftp://api.github.com".into(),
                Some("GITHUB_API_URL"),
            ),
            (
                |u| u.slack_api_url = "slack".into(),
                Some("SLACK_API_URL (--slack-api-url)"),
            ),
            (
                |u| u.jira_base_url = Some("jira.example.com".into()),
                Some("JIRA_BASE_URL (--jira-base-url)"),
            ),
            (|u| u.gitlab_url = "https://".into(), Some("GITLAB_URL")),
            (
                |u| u.telegram_api_url = "mailto:x@y.z".into(),
                Some("TELEGRAM_API_URL"),
            ),
            (
                |u| u.github_api_url = "http://127.0.0.1:9/ghe/api/v3?tenant=1".into(),
                Some("GITHUB_API_URL"),
            ),
            (
                |u| u.slack_api_url = "https://slack.com/api#x".into(),
                Some("SLACK_API_URL"),
            ),
        ];
        for (spoil, named) in cases {
            let mut upstreams = Upstreams::default();
            spoil(&mut upstreams);
            let problem = upstream_url_problem(&upstreams);
            match named {
                None => assert_eq!(problem, None),
                Some(name) => {
                    let problem = problem.expect("refused");
                    assert!(problem.contains(name), "{problem}");
                }
            }
        }
        let with_password = Upstreams {
            linear_api_url: "linear:SECRETPW@".into(),
            ..Upstreams::default()
        };
        let problem = upstream_url_problem(&with_password).expect("refused");
        assert!(!problem.contains("SECRETPW"), "{problem}");
        // A site's address with the API's path each request adds, named with the fix.
        let doubled = Upstreams {
            gitlab_url: "http://host/gitlab/api/v4".into(),
            ..Upstreams::default()
        };
        let problem = upstream_url_problem(&doubled).expect("refused");
        assert!(
            problem.starts_with("GITLAB_URL (--gitlab-url): ")
                && problem.contains("`http://host/gitlab`"),
            "{problem}"
        );
        let jira = Upstreams {
            jira_base_url: Some("https://jira.example.com/rest/api/2".into()),
            ..Upstreams::default()
        };
        let problem = upstream_url_problem(&jira).expect("refused");
        assert!(problem.starts_with("JIRA_BASE_URL"), "{problem}");
    }

    #[test]
    fn mcp_host_entries_are_read_as_rmcp_matches_them() {
        for (entry, host) in [
            ("webhook-mcp", Some("webhook-mcp")),
            ("http://good.example", Some("good.example")),
            ("https://good.example:8443/mcp", Some("good.example:8443")),
            ("[::1]:8086", Some("[::1]:8086")),
            ("*.example.com", None),
        ] {
            assert_eq!(mcp_host(entry).as_deref(), host, "{entry}");
        }
        let list = |e: &[&str]| e.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        assert_eq!(
            mcp_host_problems(&list(&["localhost", "h:8086", "[::1]"])),
            Ok(vec![])
        );
        let warned = mcp_host_problems(&list(&["http://good.example"])).expect("read");
        assert!(
            warned[0].contains("is read as `good.example`"),
            "{warned:?}"
        );
        assert!(mcp_host_problems(&list(&["*.example.com"])).is_err());
        assert!(allowlist_problems(&list(&["*.example.com"])).is_err());
    }

    #[test]
    fn allowlist_entries_are_host_or_host_and_port() {
        let list = |entries: &[&str]| entries.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        assert_eq!(
            allowlist_problems(&list(&[
                "open-webui:8080",
                "10.0.0.5",
                "[::1]:9000",
                "::1",
                ""
            ])),
            Ok(vec![])
        );
        let warned = allowlist_problems(&list(&["http://x:80"])).expect("read in part");
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("read as `x:80`"), "{}", warned[0]);
        for bad in ["host:notaport", "[::1", "http://"] {
            let refused = allowlist_problems(&list(&[bad])).expect_err(bad);
            assert!(refused.contains("ALLOWED_TARGET_HOSTS"), "{refused}");
        }
    }

    #[test]
    fn a_site_address_with_the_api_path_or_a_page_is_named_with_the_address_to_give() {
        let cases = [
            (
                Site::Gitlab,
                "http://host/gitlab/api/v4",
                Some("http://host/gitlab"),
            ),
            (
                Site::Gitlab,
                "https://gitlab.example.com/api/v4/",
                Some("https://gitlab.example.com"),
            ),
            (
                Site::Gitlab,
                "https://bot:pw@gl.example.com/API/V4",
                Some("https://bot:***@gl.example.com"),
            ),
            (
                Site::Gitlab,
                "https://gitlab.com/acme/app",
                Some("https://gitlab.com"),
            ),
            (Site::Gitlab, "https://gitlab.com/", None),
            (Site::Gitlab, "https://git.example.com:8443/gitlab", None),
            (Site::Gitlab, "https://git.example.com/apis/v4", None),
            (
                Site::Jira,
                "https://jira.example.com/rest/api/2",
                Some("https://jira.example.com"),
            ),
            (
                Site::Jira,
                "https://host/jira/rest/api/latest/",
                Some("https://host/jira"),
            ),
            (
                Site::Jira,
                "https://acme.atlassian.net/browse/TEST-1",
                Some("https://acme.atlassian.net"),
            ),
            (
                Site::Jira,
                "https://acme.atlassian.net/jira/software/projects/TEST/boards/1",
                Some("https://acme.atlassian.net"),
            ),
            (Site::Jira, "https://acme.atlassian.net", None),
            (Site::Jira, "https://host/jira", None),
            (
                Site::Jira,
                "https://api.atlassian.com/ex/jira/1324a887-45db-1bf4",
                None,
            ),
            // Not where a Jira URL goes: a GitLab path rule is GitLab's only.
            (Site::Jira, "https://host/api/v4", None),
        ];
        for (site, url, fixed) in cases {
            let problem = site_address_problem(site, url);
            match fixed {
                None => assert_eq!(problem, None, "{url}"),
                Some(fixed) => {
                    let problem = problem.expect(url);
                    assert!(
                        problem.ends_with(&format!("give the site's address, `{fixed}`")),
                        "{problem}"
                    );
                    assert!(!problem.contains("pw@"), "{problem}");
                }
            }
        }
    }
}
