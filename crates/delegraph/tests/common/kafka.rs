//! A real broker (tansu, started by the project's script), the independent
//! Python client, and `delegraph serve` as a child process.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{bin, repo};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script(name: &str) -> Command {
    Command::new(repo().join("scripts").join(name))
}

fn check(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A tansu broker on 127.0.0.1, stopped on drop.
pub struct Broker {
    dir: PathBuf,
    /// Its port.
    pub port: u16,
    storage: String,
}

impl Broker {
    /// Start one storing in `storage` (`memory://tansu/` or `sqlite://FILE`).
    pub fn start(dir: &Path, storage: &str) -> Self {
        let b = Self {
            dir: dir.to_owned(),
            port: free_port(),
            storage: storage.to_owned(),
        };
        b.up();
        b
    }

    /// (Re)start the broker process on the same port and storage.
    pub fn up(&self) {
        check(script("broker").args([
            "start",
            self.dir.to_str().unwrap(),
            &self.port.to_string(),
            &self.storage,
        ]));
    }

    /// Kill the broker process, as a crash or power loss would (its
    /// storage stays). A graceful tansu 0.6 stop answers produce requests
    /// in flight with a non-retriable error while it shuts down.
    pub fn crash(&self) {
        check(script("broker").args(["crash", self.dir.to_str().unwrap()]));
    }

    /// `host:port`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Create a topic.
    pub fn topic(&self, name: &str, partitions: u32) {
        check(script("broker").args([
            "topic",
            &self.port.to_string(),
            name,
            &partitions.to_string(),
        ]));
    }

    fn client(&self) -> Command {
        let python = check(&mut script("python-env")).trim().to_owned();
        let mut c = Command::new(python);
        c.arg(repo().join("scripts/kafka_client.py"))
            .args(["--bootstrap", &self.bootstrap()]);
        c
    }

    /// Produce `files` to `topic` with the Python client, in order; returns
    /// the number of messages.
    pub fn produce(&self, topic: &str, files: &[PathBuf]) -> u64 {
        let out = check(
            self.client()
                .args(["produce", "--topic", topic])
                .args(files),
        );
        out.trim().parse().unwrap()
    }

    /// The same, in the background at `rate` messages per second.
    pub fn produce_slowly(&self, topic: &str, files: &[PathBuf], rate: u32) -> Child {
        self.client()
            .args([
                "produce",
                "--topic",
                topic,
                "--timeout",
                "600",
                "--rate",
                &rate.to_string(),
            ])
            .args(files)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Read `expect` messages of `topic` from the start.
    pub fn consume(&self, topic: &str, expect: usize) -> Vec<Value> {
        self.read(topic, &["--expect", &expect.to_string()])
    }

    /// Read all of `topic` (until it is quiet for 3 s).
    pub fn consume_all(&self, topic: &str) -> Vec<Value> {
        self.read(topic, &[])
    }

    fn read(&self, topic: &str, extra: &[&str]) -> Vec<Value> {
        let out = check(
            self.client()
                .args(["consume", "--topic", topic, "--timeout", "60"])
                .args(extra),
        );
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// `{partition: {committed, end}}` of a group on a topic.
    pub fn committed(&self, group: &str, topic: &str) -> Value {
        let out = check(
            self.client()
                .args(["committed", "--topic", topic, "--group", group]),
        );
        serde_json::from_str(&out).unwrap()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = script("broker")
            .args(["stop", self.dir.to_str().unwrap()])
            .status();
    }
}

/// `delegraph serve --config`, killed on drop.
pub struct Service {
    child: Child,
    /// API address.
    pub addr: String,
    /// Engineer token.
    pub token: String,
}

/// The token every test service accepts.
pub const TOKEN: &str = "test-token-0123456789";

impl Service {
    /// Write `delegraph.toml` into `dir` (Kafka section `kafka_toml`) and start.
    pub fn start(dir: &Path, data: &Path, kafka_toml: &str, pipeline_toml: &str) -> Self {
        Self::start_with(dir, data, "", kafka_toml, pipeline_toml)
    }

    /// [`start`](Self::start) with more lines in the `[api]` section.
    pub fn start_with(
        dir: &Path,
        data: &Path,
        api_toml: &str,
        kafka_toml: &str,
        pipeline_toml: &str,
    ) -> Self {
        let port = free_port();
        let config = dir.join("delegraph.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {data:?}\n\n[api]\nlisten = \"127.0.0.1:{port}\"\ntoken_env = \"DELEGRAPH_TEST_TOKEN\"\n{api_toml}\n\n{kafka_toml}\n\n[pipeline]\n{pipeline_toml}\n"
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("serve.log"))
            .unwrap();
        let child = bin()
            .args(["serve", "--config"])
            .arg(&config)
            .env("DELEGRAPH_TEST_TOKEN", TOKEN)
            .env("DELEGRAPH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Self {
            child,
            addr: format!("127.0.0.1:{port}"),
            token: TOKEN.into(),
        };
        let until = Instant::now() + Duration::from_secs(60);
        while get(&s.addr, "/healthz", None).is_none() {
            assert!(
                Instant::now() < until,
                "serve did not come up: {}",
                s.log(dir)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// The service's log so far.
    pub fn log(&self, dir: &Path) -> String {
        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    }

    /// GET with the token; (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        get(&self.addr, path, Some(&self.token)).expect("API answers")
    }

    /// SIGKILL: no shutdown work at all.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited with {status}");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.0 GET (no client library needed for a test); `None` when
/// nothing answers.
pub fn get(addr: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Poll `f` until it returns `Some`, or fail after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
