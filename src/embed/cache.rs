//! On-disk embedding cache keyed by (embedder id, text hash), for embedders slow enough
//! that re-embedding unchanged text on every ingest would hurt (transformer, remote API).
//!
//! One append-only file per embedder: records of a 32-byte SHA-256 of the text followed
//! by `dim` little-endian f32s. A torn last record (a crash mid-append) is dropped on load.
//! Memory stays bounded: an index of every key's file offset, and at most `capacity`
//! vectors in a least-recently-used set; others are read back from the file. Every file
//! read and write runs on a blocking thread, never on an async worker.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder};

type Key = [u8; 32];

pub struct CachedEmbedder {
    inner: Arc<dyn Embedder>,
    path: PathBuf,
    state: Arc<Mutex<CacheState>>,
}

struct CacheState {
    /// Where each key's vector starts in the file.
    index: HashMap<Key, u64>,
    hot: LruCache<Key, Vec<f32>>,
    file: File,
    /// The file's length: where the next record goes.
    end: u64,
    dim: usize,
}

impl CacheState {
    /// The vector of `key`, from memory or the file.
    fn get(&mut self, key: &Key) -> std::io::Result<Option<Vec<f32>>> {
        if let Some(v) = self.hot.get(key) {
            return Ok(Some(v.clone()));
        }
        let Some(&offset) = self.index.get(key) else { return Ok(None) };
        let mut bytes = vec![0u8; self.dim * 4];
        self.file.read_exact_at(&mut bytes, offset)?;
        let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        self.hot.put(*key, v.clone());
        Ok(Some(v))
    }

    fn append(&mut self, key: Key, v: Vec<f32>) -> std::io::Result<()> {
        let mut record = Vec::with_capacity(32 + v.len() * 4);
        record.extend_from_slice(&key);
        for x in &v {
            record.extend_from_slice(&x.to_le_bytes());
        }
        self.file.write_all_at(&record, self.end)?;
        self.index.insert(key, self.end + 32);
        self.end += record.len() as u64;
        self.hot.put(key, v);
        Ok(())
    }
}

impl CachedEmbedder {
    /// Opens (or creates) the cache file of `inner` in `dir`, keeping at most `capacity`
    /// vectors in memory.
    pub fn open(inner: Arc<dyn Embedder>, dir: &Path, capacity: usize) -> Result<Self, EmbedError> {
        let safe_id: String =
            inner.id().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
        let path = dir.join(format!("{safe_id}.bin"));
        let err = |e: std::io::Error| EmbedError::Cache { path: path.display().to_string(), message: e.to_string() };
        std::fs::create_dir_all(dir).map_err(err)?;
        let dim = inner.dim();
        let record_len = (32 + dim * 4) as u64;
        let file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path).map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        // Read the keys only, skipping the vectors.
        let mut index = HashMap::new();
        let mut reader = BufReader::new(&file);
        let mut at = 0u64;
        while at + record_len <= len {
            let mut key: Key = [0; 32];
            reader.read_exact(&mut key).map_err(err)?;
            reader.seek_relative((dim * 4) as i64).map_err(err)?;
            index.insert(key, at + 32);
            at += record_len;
        }
        drop(reader);
        if len != at {
            file.set_len(at).map_err(err)?;
        }
        let hot = LruCache::new(NonZeroUsize::new(capacity.max(1)).expect("at least 1"));
        let state = CacheState { index, hot, file, end: at, dim };
        Ok(Self { inner, path, state: Arc::new(Mutex::new(state)) })
    }

    pub fn len(&self) -> usize {
        self.state.lock().expect("cache lock").index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vectors held in memory right now.
    pub fn in_memory(&self) -> usize {
        self.state.lock().expect("cache lock").hot.len()
    }

    fn key(text: &str) -> Key {
        Sha256::digest(text.as_bytes()).into()
    }

    fn io_error(&self, e: impl std::fmt::Display) -> EmbedError {
        EmbedError::Cache { path: self.path.display().to_string(), message: e.to_string() }
    }

    /// Runs `work` on the cache state on a blocking thread.
    async fn with_state<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut CacheState) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, EmbedError> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || work(&mut state.lock().expect("cache lock")))
            .await
            .map_err(|e| self.io_error(e))?
            .map_err(|e| self.io_error(e))
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
        let lookup = keys.clone();
        let mut out: Vec<Option<Vec<f32>>> = self.with_state(move |state| lookup.iter().map(|k| state.get(k)).collect()).await?;
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let batch: Vec<String> = missing.iter().map(|&i| texts[i].clone()).collect();
            let fresh = self.inner.embed(&batch).await?;
            if fresh.len() != batch.len() {
                return Err(EmbedError::Count { expected: batch.len(), got: fresh.len() });
            }
            if let Some(v) = fresh.iter().find(|v| v.len() != self.inner.dim()) {
                return Err(EmbedError::Dimension { expected: self.inner.dim(), got: v.len() });
            }
            let records: Vec<(Key, Vec<f32>)> = missing.iter().map(|&i| keys[i]).zip(fresh.iter().cloned()).collect();
            self.with_state(move |state| records.into_iter().try_for_each(|(k, v)| state.append(k, v))).await?;
            for (&i, v) in missing.iter().zip(fresh) {
                out[i] = Some(v);
            }
        }
        Ok(out.into_iter().map(|v| v.expect("every slot filled")).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
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
        let cache = CachedEmbedder::open(inner.clone(), dir.path(), 100).unwrap();
        let first = cache.embed(&texts).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);
        drop(cache);

        let cache = CachedEmbedder::open(inner.clone(), dir.path(), 100).unwrap();
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
        let cache = CachedEmbedder::open(inner.clone(), dir.path(), 100).unwrap();
        cache.embed(&["alpha".to_string()]).await.unwrap();
        let path = cache.path.clone();
        drop(cache);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[7u8; 10]).unwrap();
        drop(f);
        let cache = CachedEmbedder::open(inner, dir.path(), 100).unwrap();
        assert_eq!(cache.len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (32 + 12) as u64);
    }

    #[tokio::test]
    async fn memory_holds_at_most_its_capacity_and_the_rest_comes_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(Counting(AtomicUsize::new(0)));
        let cache = CachedEmbedder::open(inner.clone(), dir.path(), 2).unwrap();
        let texts: Vec<String> = ["one", "three", "fifteen", "seventy"].iter().map(|t| t.to_string()).collect();
        let first = cache.embed(&texts).await.unwrap();
        assert_eq!(cache.in_memory(), 2);
        assert_eq!(cache.len(), 4);
        let again = cache.embed(&texts).await.unwrap();
        assert_eq!(again, first, "evicted vectors are read back from the file");
        assert_eq!(inner.0.load(Ordering::SeqCst), 4, "nothing was embedded twice");
        assert!(cache.in_memory() <= 2);
    }
}
