//! The full MiniLM transformer through onnxruntime (`--features onnx`), with the files
//! `scripts/fetch_minilm.sh` installs; `scripts/test.sh` runs this with them.

use codecite::config::{Config, EmbedderKind};

fn minilm_dir() -> Option<std::path::PathBuf> {
    std::env::var("CODECITE_TEST_MINILM_DIR").ok().filter(|d| !d.is_empty()).map(Into::into)
}

#[cfg(feature = "onnx")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_embeds_like_a_sentence_transformer_and_ranks_e119() {
    use codecite::config::EmbedConfig;
    use codecite::embed::{Embedder, OnnxEmbedder};
    let Some(dir) = minilm_dir() else {
        eprintln!("skipped: set CODECITE_TEST_MINILM_DIR (scripts/fetch_minilm.sh makes it)");
        return;
    };
    let config = EmbedConfig { kind: EmbedderKind::Minilm, model_dir: Some(dir.clone()), ..Default::default() };
    let embedder = OnnxEmbedder::load(&config).unwrap();
    assert_eq!(embedder.dim(), 384);
    let texts: Vec<String> =
        ["heart attack", "acute myocardial infarction", "ingrown toenail"].iter().map(|s| s.to_string()).collect();
    let v = embedder.embed(&texts).await.unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4, "unit length");
    assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2, "{} vs {}", dot(&v[0], &v[1]), dot(&v[0], &v[2]));
    // Batching and padding do not change a text's vector.
    let alone = embedder.embed_one("acute myocardial infarction").await.unwrap();
    assert!(dot(&alone, &v[1]) > 0.9999);

    // The whole pipeline with it: ingest the fixture corpus, then search.
    let tmp = tempfile::tempdir().unwrap();
    crate::helpers::copy_dir(&crate::helpers::fixture_corpus(), &tmp.path().join("corpus"));
    let mut app_config = Config::default();
    app_config.data_dir = tmp.path().join("data");
    app_config.corpus_dir = tmp.path().join("corpus");
    app_config.embed = config;
    let services = codecite::app::Services::open(&app_config).await.unwrap();
    assert!(services.embedder.id().starts_with("minilm/"));
    services.ingest(&Default::default()).await.unwrap();
    let request = codecite::retrieval::SearchRequest {
        query: "type 2 diabetes without complications".into(),
        limit: Some(3),
        ..Default::default()
    };
    let hits = services.retriever.search(&request).await.unwrap();
    assert!(hits.iter().any(|h| h.code.as_deref() == Some("E11.9")), "{hits:?}");
}

#[cfg(not(feature = "onnx"))]
#[tokio::test]
async fn minilm_needs_the_onnx_feature() {
    let mut config = Config::default();
    let tmp = tempfile::tempdir().unwrap();
    config.data_dir = tmp.path().to_path_buf();
    config.embed.kind = EmbedderKind::Minilm;
    config.embed.model_dir = minilm_dir();
    let err = format!("{:#}", codecite::app::Services::open(&config).await.err().expect("no onnx in this build"));
    assert!(err.contains("--features onnx"), "{err}");
}
