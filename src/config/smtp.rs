//! `mail.smtp_url`, parsed once when the settings are read. Its errors never repeat the URL.

use secrecy::SecretString;

/// The host, port and credentials of `mail.smtp_url`. Shown, it is `[redacted]`: the URL may
/// hold a password.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct SmtpEndpoint {
    pub host: String,
    pub port: Option<u16>,
    pub credentials: Option<(String, SecretString)>,
}

impl SmtpEndpoint {
    pub fn parse(url: &str) -> Result<Self, String> {
        // The error never repeats the URL: it may hold a password.
        let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
        if parsed.scheme() != "smtp" {
            return Err("must start with smtp:// (choose TLS with mail.tls)".into());
        }
        let host = parsed.host_str().ok_or("has no host")?.to_owned();
        let user = percent_decode(parsed.username());
        let credentials = (!user.is_empty()).then(|| {
            let password = percent_decode(parsed.password().unwrap_or(""));
            (user, SecretString::from(password))
        });
        Ok(Self {
            host,
            port: parsed.port(),
            credentials,
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl TryFrom<String> for SmtpEndpoint {
    type Error = String;
    fn try_from(url: String) -> Result<Self, String> {
        Self::parse(&url)
    }
}

impl serde::Serialize for SmtpEndpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn an_smtp_url_yields_host_port_and_decoded_credentials() {
        let e = SmtpEndpoint::parse("smtp://ops%40example.com:p%40ss%2Bw@mail.example.com:2525")
            .unwrap();
        assert_eq!((e.host.as_str(), e.port), ("mail.example.com", Some(2525)));
        let (user, password) = e.credentials.unwrap();
        assert_eq!(
            (user.as_str(), password.expose_secret()),
            ("ops@example.com", "p@ss+w")
        );
        assert!(
            SmtpEndpoint::parse("smtp://relay")
                .unwrap()
                .credentials
                .is_none()
        );
    }

    #[test]
    fn a_bad_smtp_url_is_refused_without_echoing_it() {
        let err = SmtpEndpoint::parse("smtps://u:secret@h").err().unwrap();
        assert!(!err.contains("secret"), "{err}");
    }
}
