//! Which site of a self-hosted or per-customer provider (a GitLab instance, a Jira site) an
//! address belongs to, named alike however the address is written: comment ids are per site,
//! and a reply must go to the site the event came from.

/// The site an address names, normalised (scheme, host, port; a Jira address also its path
/// up to `/rest/`, which tells apart Jira sites that share `api.atlassian.com`, and keeps a
/// Data Center's context path). A Jira base URL (`https://acme.atlassian.net/`) names its
/// site as an issue's `self` on that site does.
pub fn site_of(provider: &str, address: &str) -> Option<String> {
    let url = reqwest::Url::parse(address).ok().filter(|u| u.has_host())?;
    let origin = url.origin().ascii_serialization();
    let path = match provider {
        "jira" => url.path().split("/rest/").next().unwrap_or_default(),
        _ => "",
    };
    Some(format!("{origin}{}", path.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::site_of;

    #[test]
    fn sites_are_named_alike_however_their_addresses_are_written() {
        let cases = [
            (
                "gitlab",
                "https://GitLab.Example.com:443/group/app",
                Some("https://gitlab.example.com"),
            ),
            (
                "gitlab",
                "http://10.0.0.5:8929/group/app",
                Some("http://10.0.0.5:8929"),
            ),
            (
                "jira",
                "https://acme.atlassian.net/rest/api/2/issue/10001",
                Some("https://acme.atlassian.net"),
            ),
            // A base URL, as configured, names the same site as its issues' addresses.
            (
                "jira",
                "https://bot:pw@ACME.atlassian.net/",
                Some("https://acme.atlassian.net"),
            ),
            (
                "jira",
                "https://jira.example.com/jira/rest/api/2/issue/1",
                Some("https://jira.example.com/jira"),
            ),
            // Jira sites reached through Atlassian's API gateway share its host.
            (
                "jira",
                "https://api.atlassian.com/ex/jira/11223344-a/rest/api/3/issue/1",
                Some("https://api.atlassian.com/ex/jira/11223344-a"),
            ),
            ("jira", "not an address", None),
        ];
        for (provider, address, want) in cases {
            assert_eq!(site_of(provider, address).as_deref(), want, "{address}");
        }
    }
}
