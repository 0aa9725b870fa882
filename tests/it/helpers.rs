//! `TestApp`: the real application with a fresh data dir, a copy of the fixture corpus and,
//! when configured, a fresh PostgreSQL database.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use codecite::app::{prepare, AppState, Services};
use codecite::config::{default_static_model_dir, Config, RateLimitConfig};
use codecite::metering::{Clock, SystemClock};
use codecite::embed::{Embedder, StaticEmbedder};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The static model is loaded once per test binary; every app shares it.
pub fn embedder() -> Arc<dyn Embedder> {
    static EMBEDDER: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| Arc::new(StaticEmbedder::load(&default_static_model_dir()).expect("the bundled model loads")))
        .clone()
}

pub fn fixture_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A database URL for one test: a new PostgreSQL database when `CODECITE_TEST_PG_URL`
/// names a server, else a SQLite file in `dir`.
pub async fn test_database(dir: &Path) -> String {
    match std::env::var("CODECITE_TEST_PG_URL").ok().filter(|s| !s.is_empty()) {
        Some(admin) => {
            use sqlx::{Connection, Executor};
            let name = format!("codecite_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL");
            conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            format!("{base}/{name}")
        }
        None => format!("sqlite://{}?mode=rwc", dir.join("codecite.db").display()),
    }
}

/// Fields drop in order: the stores close (and flush) before their directory is removed.
/// A config over `dir`: a private copy of the fixture corpus, a data dir and a fresh database,
/// and a private collection on a Qdrant server when `CODECITE_TEST_STORE=server` (with the
/// server's URL in `CODECITE_TEST_QDRANT_URL`), else a Qdrant Edge shard in the data dir.
pub async fn test_config(dir: &Path) -> Config {
    copy_dir(&fixture_corpus(), &dir.join("corpus"));
    let on_server = std::env::var("CODECITE_TEST_STORE").is_ok_and(|s| s == "server");
    Config {
        data_dir: dir.join("data"),
        corpus_dir: dir.join("corpus"),
        qdrant_url: on_server.then(|| std::env::var("CODECITE_TEST_QDRANT_URL").expect("CODECITE_TEST_QDRANT_URL")),
        collection: format!("codecite_test_{}", uuid::Uuid::new_v4().simple()),
        database_url: Some(test_database(dir).await),
        // Tests fire hundreds of requests from one process; the rate-limit test turns them on.
        rate_limits: RateLimitConfig {
            per_ip_per_minute: 0,
            auth_per_ip_per_minute: 0,
            per_account_per_minute: 0,
            ..RateLimitConfig::default()
        },
        ..Config::default()
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub config: Config,
    pub dir: tempfile::TempDir,
    /// An API key of an account on the unlimited admin plan, sent by [`TestApp::get`] and
    /// [`TestApp::post_json`].
    pub key: String,
}

impl TestApp {
    /// A ready app over a private copy of the fixture corpus.
    pub async fn spawn() -> Self {
        let app = Self::unprepared().await;
        prepare(&app.state, false).await.expect("the fixture corpus ingests");
        app
    }

    /// An app whose store has not been ingested yet.
    pub async fn unprepared() -> Self {
        Self::unprepared_with(|_| {}).await
    }

    /// A ready app whose config `adjust` changed first (an LLM URL, timeouts, …).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let app = Self::unprepared_with(adjust).await;
        prepare(&app.state, false).await.expect("the fixture corpus ingests");
        app
    }

    pub async fn unprepared_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path()).await;
        adjust(&mut config);
        Self::with_config(dir, config).await
    }

    pub async fn with_config(dir: tempfile::TempDir, config: Config) -> Self {
        Self::with_clock(dir, config, Arc::new(SystemClock)).await
    }

    /// An app whose metering reads `clock`.
    pub async fn with_clock(dir: tempfile::TempDir, config: Config, clock: Arc<dyn Clock>) -> Self {
        let services = Arc::new(Services::open_with_clock(&config, embedder(), clock).await.expect("services open"));
        let email = format!("operator-{}@codecite.test", uuid::Uuid::new_v4().simple());
        let admin = services.metering.create_account(&email, "admin").await.expect("admin account");
        let key = services.metering.create_key(&admin, "tests").await.expect("admin key").key;
        let state = AppState::new(services);
        let router = codecite::http::router(state.clone());
        Self { router, state, config, dir, key }
    }

    /// Reopens the same data dir and corpus, as a restart would.
    pub async fn restart(self) -> Self {
        let (config, dir) = self.close();
        let app = Self::with_config(dir, config).await;
        prepare(&app.state, false).await.expect("reopened store is ready");
        app
    }

    /// Closes the stores, keeping the data dir (and its temporary directory) for reuse.
    pub fn close(self) -> (Config, tempfile::TempDir) {
        let TestApp { router, state, config, dir, .. } = self;
        drop(router);
        drop(state);
        (config, dir)
    }

    pub fn services(&self) -> &Services {
        &self.state.services
    }

    pub fn corpus(&self) -> PathBuf {
        self.config.corpus_dir.clone()
    }

    /// `GET` with the admin key.
    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.get_as(uri, Some(&self.key)).await
    }

    /// `GET` with `token` as the bearer credential (or none), as JSON.
    pub async fn get_as(&self, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let response = self.send("GET", uri, token, None, &[]).await;
        let (status, _, json) = json_of(response).await;
        (status, json)
    }

    /// `POST` of a JSON body with the admin key.
    pub async fn post_json(&self, uri: &str, body: &str) -> axum::response::Response {
        self.send("POST", uri, Some(&self.key), Some(body), &[]).await
    }

    /// Any request through the router: a bearer `token`, a JSON `body`, more `headers`.
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> axum::response::Response {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap()
    }

    /// Codes of the hits of `/api/search`, in order.
    pub async fn search_codes(&self, query: &str) -> Vec<String> {
        let uri = format!("/api/search?q={}", urlencode(query));
        let (status, body) = self.get(&uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        codes_of(&body)
    }
}

/// A response's status, headers and JSON body (panics on a body that is not JSON).
pub async fn json_of(response: axum::response::Response) -> (StatusCode, axum::http::HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("answered {status} with non-JSON {:?}", String::from_utf8_lossy(&bytes)));
    (status, headers, json)
}

/// One Server-Sent Event: its name and JSON data.
#[derive(Debug, Clone)]
pub struct Ev {
    pub name: String,
    pub data: Value,
}

pub fn parse_sse(text: &str) -> Vec<Ev> {
    let mut out = vec![];
    for block in text.split("\n\n") {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if let Some(name) = name {
            out.push(Ev { name, data: serde_json::from_str(&data).unwrap_or(Value::Null) });
        }
    }
    out
}

pub fn codes_of(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .expect("hits array")
        .iter()
        .map(|h| h["code"].as_str().unwrap_or("-").to_string())
        .collect()
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The Python with the `openai` and `aiosmtpd` packages (`scripts/python-env.sh` makes it;
/// `scripts/test.sh` sets `CODECITE_TEST_PYTHON`), or `None`: the caller says it skipped.
pub fn python(test: &str) -> Option<PathBuf> {
    match std::env::var("CODECITE_TEST_PYTHON").ok().filter(|p| !p.is_empty()) {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("SKIPPED: {test} needs CODECITE_TEST_PYTHON (a Python with openai and aiosmtpd: scripts/python-env.sh makes one; scripts/test.sh sets it)");
            None
        }
    }
}

/// A script of `tests/python/`.
pub fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name)
}

impl TestApp {
    /// Serves the app over real HTTP on a loopback port, as `codecite serve` does; gives its
    /// base URL. The server lives as long as the test's runtime.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = self.router.clone().into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }
}

/// Reads a streamed body into `seen` until it holds `marker` (an `event: delta`, say), so that a
/// test can act mid-answer; panics if the stream ends first.
pub async fn read_until(body: &mut Body, seen: &mut String, marker: &str) {
    while !seen.contains(marker) {
        let frame = body.frame().await.expect("the stream ended first").unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

/// `NAME`'s value in the `NAME=value` lines a script printed (`scripts/qdrant.sh`,
/// `scripts/llm.sh`), without surrounding quotes.
pub fn env_value(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no {name}= in {text:?}"))
}
