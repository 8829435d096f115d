//! A real browser for the web page tests: headless Chromium driven over WebDriver (Debian's
//! chromium and chromium-driver, installed by scripts/test.sh), and what those tests do with it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use super::web::outbox_links;
use super::{DEADLINE, Server};

/// A chromedriver process on a free port, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Driver {
    pub async fn start() -> (Driver, Client) {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|_| {
                // Straight to the process's stderr: the test harness would swallow eprintln!.
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    b"chromedriver is not installed: run the tests with scripts/test.sh, which installs it\n",
                );
                std::process::exit(2)
            });
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _profile: tempfile::tempdir().unwrap(),
        };
        let profile = driver._profile.path().display().to_string();
        // Flags as this machine needs them: no sandbox as root, and no background traffic,
        // which the closed network would refuse.
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=390,844",
                    "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                    format!("--user-data-dir={profile}"),
                ],
            }
        });
        let started = Instant::now();
        let client = loop {
            let connected = ClientBuilder::rustls()
                .unwrap()
                .capabilities(capabilities.as_object().unwrap().clone())
                .connect(&driver.url)
                .await;
            match connected {
                Ok(client) => break client,
                Err(e) if started.elapsed() > DEADLINE => panic!("chromedriver: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        (driver, client)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> &'static str {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("chromedriver")
}

/// Polls a script's JSON result until `ready` accepts it.
pub async fn until(
    client: &Client,
    what: &str,
    script: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if ready(&value) {
            return value;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting for {what}; last: {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element `locator` finds.
pub async fn click(client: &Client, locator: Locator<'_>) {
    client.find(locator).await.unwrap().click().await.unwrap();
}

/// The visible text of the element `locator` finds.
pub async fn text_of(client: &Client, locator: Locator<'_>) -> String {
    client.find(locator).await.unwrap().text().await.unwrap()
}

/// Signs in as `email` in the browser: asks for a link, follows the one the outbox got.
pub async fn sign_in(browser: &Client, server: &Server, email: &str) {
    browser.goto(&server.url("/")).await.unwrap();
    browser
        .find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    click(browser, Locator::Css("form[action='/signin'] button")).await;
    browser
        .wait()
        .for_element(Locator::Css("p.notice"))
        .await
        .unwrap();
    let link = server
        .eventually("the sign-in link in the outbox", || async {
            outbox_links(server, email).pop()
        })
        .await;
    browser.goto(&server.url(&link)).await.unwrap();
    click(browser, Locator::Css("main form button")).await;
    // Signed in once the conference list shows: before that the session cookie may not be set.
    browser
        .wait()
        .for_element(Locator::Css("form.search input[name=q]"))
        .await
        .unwrap();
}
