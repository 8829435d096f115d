//! `vobiz.recording_hosts`: the origins recordings may come from, parsed once when the
//! settings are read.

use url::Url;

/// One entry of `vobiz.recording_hosts`: an origin, with a leading `*.` for subdomains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: String,
    subdomains: bool,
    port: u16,
}

impl OriginPattern {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or("must look like https://host[:port] or https://*.domain")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err("scheme must be https or http".into());
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err("an origin has no path, query or user".into());
        }
        let (subdomains, rest) = match rest.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, rest),
        };
        // Let the URL parser handle IPv6 brackets, ports and normalisation.
        let parsed = Url::parse(&format!("{scheme}://{rest}/")).map_err(|e| e.to_string())?;
        let host = parsed.host_str().ok_or("no host")?.to_ascii_lowercase();
        if subdomains && (host.contains('*') || !host.contains('.')) {
            return Err("a wildcard must name a domain, like *.vobiz.ai".into());
        }
        Ok(Self {
            port: parsed.port_or_known_default().ok_or("no port")?,
            scheme,
            host,
            subdomains,
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let host_ok = if self.subdomains {
            host.strip_suffix(&self.host)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        } else {
            host == self.host
        };
        host_ok && url.scheme() == self.scheme && url.port_or_known_default() == Some(self.port)
    }
}

/// The origins recordings may come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct AllowList {
    patterns: Vec<OriginPattern>,
    /// As configured, to show the settings back.
    entries: Vec<String>,
}

impl TryFrom<Vec<String>> for AllowList {
    type Error = String;
    fn try_from(entries: Vec<String>) -> Result<Self, String> {
        Self::parse(&entries)
    }
}

impl From<AllowList> for Vec<String> {
    fn from(list: AllowList) -> Self {
        list.entries
    }
}

impl AllowList {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| OriginPattern::parse(e).map_err(|why| format!("{e:?}: {why}")))
            .collect::<Result<_, _>>()
            .map(|patterns| Self {
                patterns,
                entries: entries.to_vec(),
            })
    }

    pub fn allows(&self, url: &Url) -> bool {
        self.patterns.iter().any(|p| p.matches(url))
    }

    /// Whether the URL's origin is listed exactly (no wildcard): the only origins that may be
    /// private addresses.
    pub fn lists_exactly(&self, url: &Url) -> bool {
        self.patterns
            .iter()
            .any(|p| !p.subdomains && p.matches(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_wildcard_origin_matches_subdomains_over_https_only() {
        let allow = list(&["https://*.vobiz.ai"]);
        assert!(allow.allows(&url("https://media.vobiz.ai/x.mp3")));
        assert!(allow.allows(&url("https://a.b.vobiz.ai:443/x.mp3")));
        assert!(!allow.allows(&url("https://vobiz.ai/x.mp3")));
        assert!(!allow.allows(&url("https://evilvobiz.ai/x.mp3")));
        assert!(!allow.allows(&url("https://media.vobiz.ai.evil.com/x.mp3")));
        assert!(!allow.allows(&url("http://media.vobiz.ai/x.mp3")));
        assert!(!allow.allows(&url("https://media.vobiz.ai:8443/x.mp3")));
    }

    #[test]
    fn an_http_origin_is_allowed_only_when_listed_with_its_port() {
        let allow = list(&["http://127.0.0.1:8081"]);
        assert!(allow.allows(&url("http://127.0.0.1:8081/r.mp3")));
        assert!(!allow.allows(&url("http://127.0.0.1:8082/r.mp3")));
        assert!(!allow.allows(&url("https://127.0.0.1:8081/r.mp3")));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "media.vobiz.ai",
            "ftp://x",
            "https://x/path",
            "https://*.ai",
            "https://u@x",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
