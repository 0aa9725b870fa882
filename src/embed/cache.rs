//! On-disk embedding cache keyed by (embedder id, text hash), for embedders slow enough
//! that re-embedding unchanged text on every ingest would hurt (transformer, remote API).
//!
//! One append-only file per embedder: records of a 32-byte SHA-256 of the text followed
//! by `dim` little-endian f32s. A torn last record (a crash mid-append) is dropped on load.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder};

type Key = [u8; 32];

pub struct CachedEmbedder {
    inner: Arc<dyn Embedder>,
    path: PathBuf,
    state: Mutex<CacheState>,
}

struct CacheState {
    vectors: HashMap<Key, Vec<f32>>,
    file: BufWriter<File>,
}

impl CachedEmbedder {
    pub fn open(inner: Arc<dyn Embedder>, dir: &Path) -> Result<Self, EmbedError> {
        let safe_id: String =
            inner.id().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
        let path = dir.join(format!("{safe_id}.bin"));
        let err = |e: std::io::Error| EmbedError::Cache { path: path.display().to_string(), message: e.to_string() };
        std::fs::create_dir_all(dir).map_err(err)?;
        let dim = inner.dim();
        let record_len = 32 + dim * 4;
        let mut vectors = HashMap::new();
        let mut valid_len = 0u64;
        if path.exists() {
            let mut bytes = vec![];
            File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(err)?;
            for rec in bytes.chunks_exact(record_len) {
                let key: Key = rec[..32].try_into().expect("32 bytes");
                let v = rec[32..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
                vectors.insert(key, v);
                valid_len += record_len as u64;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(err)?;
        if file.metadata().map_err(err)?.len() != valid_len {
            file.set_len(valid_len).map_err(err)?;
        }
        Ok(Self { inner, path, state: Mutex::new(CacheState { vectors, file: BufWriter::new(file) }) })
    }

    pub fn len(&self) -> usize {
        self.state.lock().expect("cache lock").vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(text: &str) -> Key {
        Sha256::digest(text.as_bytes()).into()
    }
}

#[async_trait::async_trait]
impl Embedder for CachedEmbedder {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn worth_caching(&self) -> bool {
        false
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let keys: Vec<Key> = texts.iter().map(|t| Self::key(t)).collect();
        let mut out: Vec<Option<Vec<f32>>> = {
            let state = self.state.lock().expect("cache lock");
            keys.iter().map(|k| state.vectors.get(k).cloned()).collect()
        };
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let batch: Vec<String> = missing.iter().map(|&i| texts[i].clone()).collect();
            let fresh = self.inner.embed(&batch).await?;
            if fresh.len() != batch.len() {
                return Err(EmbedError::Count { expected: batch.len(), got: fresh.len() });
            }
            let mut state = self.state.lock().expect("cache lock");
            let err = |e: std::io::Error| EmbedError::Cache { path: self.path.display().to_string(), message: e.to_string() };
            for (&i, v) in missing.iter().zip(fresh) {
                if v.len() != self.inner.dim() {
                    return Err(EmbedError::Dimension { expected: self.inner.dim(), got: v.len() });
                }
                state.file.write_all(&keys[i]).map_err(err)?;
                for x in &v {
                    state.file.write_all(&x.to_le_bytes()).map_err(err)?;
                }
                state.vectors.insert(keys[i], v.clone());
                out[i] = Some(v);
            }
            state.file.flush().map_err(err)?;
        }
        Ok(out.into_iter().map(|v| v.expect("every slot filled")).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts how many texts reach the wrapped embedder.
    struct Counting(AtomicUsize);

    #[async_trait::async_trait]
    impl Embedder for Counting {
        fn id(&self) -> &str {
            "counting/3"
        }
        fn dim(&self) -> usize {
            3
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0, 2.0]).collect())
        }
    }

    #[tokio::test]
    async fn unchanged_text_is_never_embedded_twice_even_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(Counting(AtomicUsize::new(0)));
        let texts: Vec<String> = vec!["alpha".into(), "beta".into()];
        let cache = CachedEmbedder::open(inner.clone(), dir.path()).unwrap();
        let first = cache.embed(&texts).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);
        drop(cache);

        let cache = CachedEmbedder::open(inner.clone(), dir.path()).unwrap();
        assert_eq!(cache.len(), 2);
        let again = cache.embed(&[texts[1].clone(), "gamma".into(), texts[0].clone()]).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 3, "only the new text reached the embedder");
        assert_eq!(again[0], first[1]);
        assert_eq!(again[2], first[0]);
        assert_eq!(again[1], vec![5.0, 1.0, 2.0]);
    }

    #[tokio::test]
    async fn a_torn_last_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(Counting(AtomicUsize::new(0)));
        let cache = CachedEmbedder::open(inner.clone(), dir.path()).unwrap();
        cache.embed(&["alpha".to_string()]).await.unwrap();
        let path = cache.path.clone();
        drop(cache);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[7u8; 10]).unwrap();
        drop(f);
        let cache = CachedEmbedder::open(inner, dir.path()).unwrap();
        assert_eq!(cache.len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (32 + 12) as u64);
    }
}
