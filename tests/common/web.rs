//! A web client with the page's cookies: the CSRF pair, and the session once signed in by
//! an emailed link (read from the outbox or from the SMTP server's mailbox).

use super::Server;

pub struct WebClient {
    pub http: reqwest::Client,
    pub csrf: String,
    pub session: Option<String>,
}

/// The value of cookie `name` set by a response.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    set_cookie_line(response, name)
        .map(|v| v.split(';').next().unwrap()[name.len() + 1..].to_owned())
}

/// The whole `Set-Cookie` line a response sent for cookie `name`.
pub fn set_cookie_line(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub fn hidden_csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// The path of the sign-in link in a message's text (`/signin/<token>`).
pub fn link_path(text: &str) -> Option<String> {
    let start = text.find("/signin/")?;
    let token: String = text[start + 8..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then(|| format!("/signin/{token}"))
}

/// The sign-in links mailed to `email` through the outbox so far.
pub fn outbox_links(server: &Server, email: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(server.dir.path().join("data/outbox")) else {
        return Vec::new();
    };
    // Named by the time they were written, so sorted by name they are in order. A message
    // still being written is a dot-file (`.N.tmp`) that would sort first: only `.eml` count.
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).unwrap_or_default();
        let Some(message) = mail_parser::MessageParser::default().parse(&bytes) else {
            continue;
        };
        let to_them = message.to().is_some_and(|to| {
            to.iter()
                .any(|a| a.address().is_some_and(|x| x.eq_ignore_ascii_case(email)))
        });
        if to_them && let Some(path) = message.body_text(0).and_then(|t| link_path(&t)) {
            found.push(path);
        }
    }
    found
}

impl WebClient {
    /// Opens the sign-in page, as a browser would first.
    pub async fn open(server: &Server) -> WebClient {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let first = http.get(server.url("/")).send().await.unwrap();
        let csrf = set_cookie(&first, "confvault_csrf").expect("a CSRF cookie");
        WebClient {
            http,
            csrf,
            session: None,
        }
    }

    pub fn cookies(&self) -> String {
        match &self.session {
            Some(s) => format!("confvault_session={s}; confvault_csrf={}", self.csrf),
            None => format!("confvault_csrf={}", self.csrf),
        }
    }

    pub async fn get(&self, server: &Server, path: &str) -> reqwest::Response {
        self.http
            .get(server.url(path))
            .header("Cookie", self.cookies())
            .send()
            .await
            .unwrap()
    }

    pub async fn text(&self, server: &Server, path: &str) -> String {
        self.get(server, path).await.text().await.unwrap()
    }

    pub async fn post(
        &self,
        server: &Server,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(server.url(path))
            .header("Cookie", self.cookies())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn ask_for_link(&self, server: &Server, email: &str) -> reqwest::Response {
        self.post(server, "/signin", &[("csrf", &self.csrf), ("email", email)])
            .await
    }

    /// Follows a link as a person would: opens it, then presses "Sign in". Keeps the session
    /// cookie it sets.
    pub async fn follow_link(&mut self, server: &Server, path: &str) -> reqwest::Response {
        let page = self.text(server, path).await;
        assert_eq!(hidden_csrf(&page), self.csrf, "{page}");
        let answer = self.post(server, path, &[("csrf", &self.csrf)]).await;
        if let Some(session) = set_cookie(&answer, "confvault_session") {
            self.session = Some(session);
        }
        answer
    }

    /// Signs in as `email` through the outbox.
    pub async fn sign_in(server: &Server, email: &str) -> WebClient {
        let mut client = WebClient::open(server).await;
        let before = outbox_links(server, email).len();
        assert_eq!(client.ask_for_link(server, email).await.status(), 200);
        let link = server
            .eventually("the sign-in link in the outbox", || async {
                outbox_links(server, email).get(before).cloned()
            })
            .await;
        assert_eq!(client.follow_link(server, &link).await.status(), 303);
        client
    }

    pub async fn sign_out(&self, server: &Server) -> reqwest::Response {
        self.post(server, "/signout", &[("csrf", &self.csrf)]).await
    }
}
