//! Several instances, one state: two `codecite serve` processes (the real binary) on one
//! PostgreSQL and one Qdrant server, as a site behind a load balancer runs them. Needs
//! `CODECITE_TEST_PG_URL` and `CODECITE_TEST_QDRANT_URL` (scripts/test.sh sets both).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{copy_dir, fixture_corpus, test_database};

struct Instance {
    child: Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn codecite(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codecite"));
    command.arg("--config").arg(config).env_remove("DATABASE_URL").env_remove("QDRANT_URL");
    command
}

async fn serve(config: &Path, data: &Path) -> Instance {
    let url = format!("http://127.0.0.1:{}", free_port());
    let child = codecite(config)
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--addr", url.trim_start_matches("http://")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start codecite serve");
    let mut instance = Instance { child, url };
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Some(status) = instance.child.try_wait().unwrap() {
            panic!("codecite serve exited: {status}");
        }
        if let Ok(r) = client.get(format!("{}/readyz", instance.url)).send().await {
            if r.status() == 200 {
                return instance;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} not ready after 60 s", instance.url);
}

/// `POST /api/chat`: `Some(true)` for an answer that ended with `done`, `Some(false)` for a
/// stream that ended otherwise, `None` for a refusal before the stream (402).
async fn ask(client: &reqwest::Client, url: &str, key: &str, question: &str) -> Option<bool> {
    let response = client
        .post(format!("{url}/api/chat"))
        .bearer_auth(key)
        .json(&json!({ "question": question }))
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        200 => {
            let text = response.text().await.unwrap();
            Some(text.contains("event: done"))
        }
        402 => {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "quota_exhausted", "{body}");
            None
        }
        other => panic!("{url}: {other} {}", response.text().await.unwrap_or_default()),
    }
}

#[tokio::test]
async fn two_instances_share_one_quota_and_one_index() {
    let (Some(_), Some(qdrant)) = (
        std::env::var("CODECITE_TEST_PG_URL").ok().filter(|v| !v.is_empty()),
        std::env::var("CODECITE_TEST_QDRANT_URL").ok().filter(|v| !v.is_empty()),
    ) else {
        eprintln!("SKIPPED: two instances need CODECITE_TEST_PG_URL and CODECITE_TEST_QDRANT_URL");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    copy_dir(&fixture_corpus(), &corpus);
    let database = test_database(dir.path()).await;
    let collection = format!("codecite_test_{}", uuid::Uuid::new_v4().simple());
    let config = dir.path().join("codecite.toml");
    std::fs::write(
        &config,
        format!(
            r#"corpus_dir = {corpus:?}
qdrant_url = {qdrant:?}
collection = {collection:?}
database_url = {database:?}

[rate_limits]
per_ip_per_minute = 0
auth_per_ip_per_minute = 0
per_account_per_minute = 0

[plans.five]
questions = 5
code_views = "unlimited"
period = "month"
"#
        ),
    )
    .unwrap();

    // The first instance ingests the corpus into the shared collection; the second finds it.
    let a = serve(&config, &dir.path().join("a")).await;
    let b = serve(&config, &dir.path().join("b")).await;
    let output = codecite(&config)
        .args(["account", "create", "--email", "five@codecite.test", "--plan", "five"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = String::from_utf8(output.stdout).unwrap().lines().last().unwrap().trim().to_string();

    // 200 questions at once, alternating between the instances, against a quota of 5.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let asks = (0..200).map(|i| {
        let (client, key) = (client.clone(), key.clone());
        let url = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
        tokio::spawn(async move { ask(&client, &url, &key, "What is J1885?").await })
    });
    let outcomes: Vec<Option<bool>> = futures::future::join_all(asks).await.into_iter().map(Result::unwrap).collect();
    let answered = outcomes.iter().filter(|o| **o == Some(true)).count();
    let broken = outcomes.iter().filter(|o| **o == Some(false)).count();
    assert_eq!((answered, broken), (5, 0), "exactly the quota is answered, the rest refused");
    // Both instances read the same ledger: five used, none left, on either side.
    for url in [&a.url, &b.url] {
        let me: Value = client.get(format!("{url}/api/me")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["meters"]["questions"]["used"], 5, "{me}");
    }

    // An ingest from one side while the other serves: searches on b never fail, and b sees
    // the new text once the ingest is done.
    let records = corpus.join("codes/hcpcs.jsonl");
    let text = std::fs::read_to_string(&records).unwrap();
    let changed = text.replacen("\"title\": \"", "\"title\": \"Zanzibarite ", 1);
    assert_ne!(changed, text);
    std::fs::write(&records, changed).unwrap();
    let mut ingest = codecite(&config).args(["ingest", "--data-dir"]).arg(dir.path().join("a")).spawn().unwrap();
    let mut searches = 0;
    let status = loop {
        let r = client.get(format!("{}/api/search?q=ketorolac%20injection", b.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "b answers while a ingests: {}", r.text().await.unwrap_or_default());
        searches += 1;
        if let Some(status) = ingest.try_wait().unwrap() {
            break status;
        }
    };
    assert!(status.success(), "ingest from the first instance's side");
    assert!(searches > 0);
    let r: Value = client.get(format!("{}/api/search?q=zanzibarite", b.url)).send().await.unwrap().json().await.unwrap();
    assert!(
        r["hits"][0]["title"].as_str().unwrap_or("").starts_with("Zanzibarite"),
        "the second instance serves what the first ingested: {r}"
    );
}
