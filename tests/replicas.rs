//! Three replicas on one PostgreSQL database and one S3 bucket behind a real HAProxy, with one
//! replica killed (-9) and another stopped (SIGTERM) while signed callbacks for 200 conferences
//! pour in, both started again: nothing acknowledged is lost, every recording is archived once,
//! every summary is sent once, and no job is left behind.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::callbacks::{end, enter, exit};
use common::database::fresh_postgres_database;
use common::media::{AUTH_ID, Answer, MediaServer};
use common::proxy::Proxy;
use common::{AUTH_TOKEN, PUBLIC_URL, S3, Server, Smtp, fresh_nonce, unique_address};
use confvault::vobiz::signature::{Scheme, sign};

const CONFERENCES: usize = 200;
const SENDERS: usize = 8;
/// Between one sender's callbacks: spreads the run over about a minute.
const PACE: Duration = Duration::from_millis(450);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// HAProxy on `port` in front of `replicas`, checking each one's `/readyz`.
struct Balancer {
    child: Child,
    origin: String,
}

impl Balancer {
    fn start(dir: &std::path::Path, port: u16, replicas: &[u16]) -> Balancer {
        let servers: String = replicas
            .iter()
            .enumerate()
            .map(|(i, p)| format!("    server r{i} 127.0.0.1:{p} check\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 2000\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
             \x20   retries 3\n    option redispatch\n    retry-on conn-failure empty-response\n\
             frontend callbacks\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
             backend replicas\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n\
             \x20   default-server inter 200ms fall 1 rise 2\n{servers}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let haproxy = std::env::var("CV_TEST_HAPROXY").unwrap_or_else(|_| "haproxy".into());
        let child = Command::new(haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("haproxy.log")).unwrap())
            .spawn()
            .expect("haproxy runs (scripts/test.sh installs it)");
        Balancer {
            child,
            origin: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs a callback through the balancer, signed as Vobiz signs, until it is acknowledged;
/// returns the statuses of the attempts that were not.
async fn deliver(client: &reqwest::Client, origin: &str, body: &str) -> Vec<u16> {
    let mut refused = Vec::new();
    let started = Instant::now();
    loop {
        let nonce = fresh_nonce();
        let path = "/vobiz/conference";
        let signature = sign(
            AUTH_TOKEN,
            &format!("{PUBLIC_URL}{path}"),
            &nonce,
            Scheme::V3,
        );
        let status = client
            .post(format!("{origin}{path}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Vobiz-Signature-V3", signature)
            .header("X-Vobiz-Signature-V3-Nonce", &nonce)
            .body(body.to_owned())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        if status == 200 {
            return refused;
        }
        refused.push(status);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never acknowledged: {body} ({refused:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_lose_nothing_and_do_nothing_twice_while_two_of_them_die() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let store = Proxy::start(s3.endpoint.trim_start_matches("http://"));
    let smtp = Smtp::from_env();
    let team = unique_address("replicas");
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(common::fixture("standup.mp3")).unwrap();
    let sha256 = common::sha256_hex(&mp3);
    store.watch(&format!("x-amz-meta-sha256: {sha256}"));
    for i in 0..CONFERENCES {
        media.script(
            &format!("/r{i:03}.mp3"),
            vec![Answer::file("audio/mpeg", mp3.clone())],
        );
    }
    let database = fresh_postgres_database();
    let settings = format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{media}\"]\n\
         [jobs]\nlease_seconds = 5\npoll_interval_seconds = 0.5\nretry_base_seconds = 0.2\nretry_max_seconds = 1\nshutdown_grace_seconds = 2\n\
         [health]\ncheck_interval_seconds = 0.2\n\
         [storage]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\nforce_path_style = true\nprefix = \"calls\"\n\
         [mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://localhost:{smtp_port}\"\ntls = \"none\"\n\
         from = \"confvault <confvault@example.test>\"\nto = [\"{team}\"]\n\
         [database]\nurl = \"{database}\"\n",
        media = media.origin,
        endpoint = store.origin,
        smtp_port = smtp.plain_port,
    );
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut replicas: Vec<Server> = ports
        .iter()
        .map(|p| Server::start_listening_on(&format!("127.0.0.1:{p}"), &settings, s3.server_env()))
        .collect();
    let lb_dir = tempfile::tempdir().unwrap();
    let balancer = Balancer::start(lb_dir.path(), free_port(), &ports);
    let client = reqwest::Client::new();
    wait_until(
        "the balancer passes a request",
        Duration::from_secs(20),
        || async {
            client
                .get(format!("{}/readyz", balancer.origin))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;

    // Senders: each takes conferences in turn and plays their callbacks in order.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let refusals: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (client, origin, media) = (client.clone(), balancer.origin.clone(), media.clone());
        let (acknowledged, refusals, next) = (
            Arc::clone(&acknowledged),
            Arc::clone(&refusals),
            Arc::clone(&next),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= CONFERENCES {
                    return;
                }
                let conf = format!("replica-{i:03}");
                let name = format!("Replica {i:03}");
                let bodies = [
                    enter(&conf, &format!("{conf}-a")).name(&name).body(),
                    enter(&conf, &format!("{conf}-b"))
                        .name(&name)
                        .from("919000000001")
                        .body(),
                    exit(&conf, &format!("{conf}-a")).name(&name).body(),
                    exit(&conf, &format!("{conf}-b")).name(&name).body(),
                    end(&conf)
                        .name(&name)
                        .recording(&media.url(&format!("/r{i:03}.mp3")))
                        .body(),
                ];
                for body in bodies {
                    for status in deliver(&client, &origin, &body).await {
                        *refusals.lock().unwrap().entry(status).or_default() += 1;
                    }
                    acknowledged.lock().unwrap().push(body);
                    tokio::time::sleep(PACE).await;
                }
            }
        }));
    }

    // Mid-run: one replica dies without warning, another is stopped; both come back.
    let survivor = replicas.pop().unwrap();
    let (mut stopped, mut killed) = (replicas.pop().unwrap(), replicas.pop().unwrap());
    let chaos = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(15));
        assert!(!killed.signal("KILL"));
        std::thread::sleep(Duration::from_secs(10));
        assert!(stopped.signal("TERM"), "a clean stop on SIGTERM");
        std::thread::sleep(Duration::from_secs(10));
        (killed.restart(), stopped.restart())
    });
    for sender in senders {
        sender.await.unwrap();
    }
    let (killed, stopped) = chaos.await.unwrap();
    let sent = acknowledged.lock().unwrap().clone();

    // Then every job runs to its end somewhere.
    let db = survivor.db.clone();
    wait_until("every job done", Duration::from_secs(90), || {
        let db = db.clone();
        async move { db.number("SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')") == 0 }
    })
    .await;
    wait_until(
        "every summary delivered",
        Duration::from_secs(20),
        || async { smtp.messages_to(&team).len() >= CONFERENCES },
    )
    .await;

    assert_eq!(sent.len(), CONFERENCES * 5);
    let stored: HashSet<String> = db
        .sql("SELECT raw_body FROM callback_events")
        .into_iter()
        .filter_map(|row| row[0].clone())
        .collect();
    let lost: Vec<&String> = sent.iter().filter(|b| !stored.contains(*b)).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(
        db.number("SELECT COUNT(*) FROM conferences"),
        CONFERENCES as i64
    );
    assert_eq!(
        db.number("SELECT COUNT(*) FROM participants"),
        2 * CONFERENCES as i64
    );
    assert_eq!(
        db.number("SELECT COUNT(*) FROM recordings WHERE archived_at IS NOT NULL"),
        CONFERENCES as i64
    );
    assert_eq!(
        db.number("SELECT COUNT(*) FROM jobs WHERE state = 'failed'"),
        0
    );
    let keys = s3.keys(&bucket).await;
    let objects = keys.iter().filter(|k| k.ends_with(".mp3")).count();
    let sidecars = keys.iter().filter(|k| k.ends_with(".json")).count();
    let uploads = store.completed(&format!("x-amz-meta-sha256: {sha256}"));
    assert_eq!((objects, sidecars), (CONFERENCES, CONFERENCES), "{keys:?}");
    assert_eq!(uploads, CONFERENCES, "one completed upload per recording");
    let messages = smtp.messages_to(&team);
    let mut per_conference: BTreeMap<String, usize> = BTreeMap::new();
    for message in &messages {
        let i = (0..CONFERENCES)
            .find(|i| message.subject.contains(&format!("Replica {i:03}")))
            .unwrap_or_else(|| panic!("a summary of no conference: {}", message.subject));
        *per_conference.entry(format!("{i:03}")).or_default() += 1;
    }
    assert_eq!(per_conference.len(), CONFERENCES);
    assert!(
        per_conference.values().all(|n| *n == 1),
        "one summary per conference and recipient: {per_conference:?}"
    );
    eprintln!(
        "replica test: {} callbacks acknowledged and stored; refused on the way (status: attempts, 0 = no answer): {:?}; \
         {} recordings, {} completed uploads ({} started), {} sidecars, {} summaries",
        sent.len(),
        refusals.lock().unwrap(),
        objects,
        uploads,
        store.seen(&format!("x-amz-meta-sha256: {sha256}")),
        sidecars,
        messages.len()
    );
    drop((killed, stopped, survivor, balancer));
}

async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
