//! The ingest pipeline: diff the corpus against the store by content hash, embed and write
//! only what changed, delete what disappeared, then mirror the code tables into SQL.
//!
//! Embedding (dense + BM25) of the next batch runs on a blocking thread while the previous
//! batch is written, so both cores work. Each batch is durable when written, so an
//! interrupted ingest resumes where it stopped: the next run's diff skips what landed.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::chunk::{code_chunks, note_chunks, Chunk};
use super::corpus::{apply_overlay, load_corpus};
use crate::codes::reference::{find_reference, version_label, REFERENCE_FILES};
use crate::codes::{CodeRecord, CodeTable};
use crate::embed::{average_words, Bm25Encoder, Embedder};
use crate::store::{ChunkPoint, StoreMeta, VectorStore, LAYOUT_VERSION};

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Drop the store and rebuild it (needed after changing the embedder).
    pub reset: bool,
    /// Points per write.
    pub batch: usize,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
    /// Build the vector index after writing (Qdrant Edge); off when the caller will.
    pub optimize: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self { reset: false, batch: 1000, progress: false, optimize: true }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IngestSummary {
    pub added: usize,
    pub changed: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Code-table rows written and removed.
    pub codes_written: usize,
    pub codes_deleted: usize,
    /// Rows of CMS reference tables (validity, add-on edits, NCCI) rewritten.
    pub reference_rows: usize,
    pub records: usize,
    pub notes: usize,
    pub chunks: usize,
    /// Wall time until every point and row was written.
    pub seconds: f64,
    /// The vector index build, which starts once the vectors are written and may overlap
    /// the SQL writes.
    pub optimize_seconds: f64,
    /// Wall time of the whole ingest, index build included.
    pub total_seconds: f64,
    pub phases: Phases,
}

/// Seconds per phase of an ingest. Embedding and the vector writes are sums over batches:
/// they overlap each other (the next batch is embedded while one is written).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Phases {
    /// Read and validate the corpus and the overlay.
    pub load: f64,
    /// Chunk (tokenize) and hash, on every core.
    pub chunk: f64,
    /// Read and parse the reference files that changed.
    pub parse_reference: f64,
    /// Dense and BM25 vectors.
    pub embed: f64,
    /// Vector store writes (upserts and deletes).
    pub vector_writes: f64,
    /// Wall time of the vector side, chunking to the last write (before the index build).
    pub vectors: f64,
    /// Code tables, then reference tables: the SQL side, beside the vector side.
    pub code_tables: f64,
    pub reference_tables: f64,
}

impl Phases {
    /// Each phase with what it covers, in order.
    pub fn rows(&self) -> [(&'static str, f64); 8] {
        [
            ("read and validate the corpus", self.load),
            ("chunk and tokenize", self.chunk),
            ("parse the changed reference files", self.parse_reference),
            ("embed, dense + BM25 (summed over batches)", self.embed),
            ("vector store writes (summed over batches)", self.vector_writes),
            ("vector side, wall", self.vectors),
            ("code tables", self.code_tables),
            ("reference tables", self.reference_tables),
        ]
    }
}

impl std::fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} chunks from {} code records and {} guideline notes: {} added, {} changed, {} deleted, {} unchanged; \
             code tables: {} written, {} deleted; reference rows: {} (written in {:.1} s, index build {:.1} s, {:.1} s in all)",
            self.chunks,
            self.records,
            self.notes,
            self.added,
            self.changed,
            self.deleted,
            self.unchanged,
            self.codes_written,
            self.codes_deleted,
            self.reference_rows,
            self.seconds,
            self.optimize_seconds,
            self.total_seconds
        )
    }
}

/// Ingests the corpus in `corpus_dir`. The whole corpus is read and validated before
/// anything is written, so a bad file changes nothing. Then the SQL tables and the vector
/// store are written side by side: the code and reference tables from the records and the
/// reference files, the vectors from the chunks (cut meanwhile), and the vector index is
/// built as soon as the vectors are written, while the SQL writes may still run.
pub async fn ingest(
    corpus_dir: &Path,
    overlay: &Path,
    store: &dyn VectorStore,
    embedder: Arc<dyn Embedder>,
    codes: &CodeTable,
    options: &IngestOptions,
) -> anyhow::Result<IngestSummary> {
    let started = Instant::now();
    let dir = corpus_dir.to_path_buf();
    let overlay = overlay.to_path_buf();
    // Reference files that changed since the last ingest are parsed up front too, so that a
    // bad line in any file stops the ingest before anything is written.
    let mut known = std::collections::HashMap::new();
    for (name, _, _) in REFERENCE_FILES {
        known.insert(name, codes.reference_hash(name).await?);
    }
    let (corpus, references, mut phases) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut phases = Phases::default();
        let t = Instant::now();
        let mut corpus = load_corpus(&dir)?;
        apply_overlay(&mut corpus, &overlay)?;
        phases.load = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut references = vec![];
        for (name, stem, parse) in REFERENCE_FILES {
            let Some(path) = find_reference(&overlay, stem).or_else(|| find_reference(&dir, stem)) else { continue };
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            if known.get(name).cloned().flatten().as_deref() != Some(hash.as_str()) {
                references.push((name, version_label(&path), hash, parse(&path)?));
            }
        }
        phases.parse_reference = t.elapsed().as_secs_f64();
        Ok((Arc::new(corpus), references, phases))
    })
    .await??;
    // A store built by another embedder stops the ingest before the SQL side writes.
    let kept = match store.meta().await? {
        Some(meta) if !options.reset => {
            meta.check(&store.location(), embedder.id(), embedder.dim())?;
            Some(meta)
        }
        _ => None,
    };

    let vectors = async {
        let t = Instant::now();
        let chunked = corpus.clone();
        let chunks = tokio::task::spawn_blocking(move || {
            let mut chunks: Vec<Chunk> = code_chunks(&chunked.records);
            chunks.extend(chunked.notes.iter().flat_map(note_chunks));
            chunks
        })
        .await?;
        phases.chunk = t.elapsed().as_secs_f64();
        let mut summary = write_chunks(chunks, kept, store, embedder, options, &mut phases).await?;
        phases.vectors = t.elapsed().as_secs_f64();
        let written = started.elapsed().as_secs_f64();
        if options.optimize && (summary.added + summary.changed + summary.deleted) > 0 {
            let t = Instant::now();
            store.optimize().await?;
            summary.optimize_seconds = t.elapsed().as_secs_f64();
        }
        anyhow::Ok((summary, written))
    };
    let tables = async {
        let t = Instant::now();
        let (written, deleted) = sync_code_tables(codes, &corpus.records).await?;
        let code_seconds = t.elapsed().as_secs_f64();
        let mut rows = 0;
        for (name, version, hash, parsed) in &references {
            rows += codes
                .replace_reference(name, version, hash, parsed)
                .await
                .with_context(|| format!("writing the {name} reference table"))?;
        }
        codes.record_count("guideline_notes", corpus.notes.len()).await?;
        anyhow::Ok((written, deleted, rows, code_seconds, t.elapsed().as_secs_f64(), started.elapsed().as_secs_f64()))
    };
    // Both sides run to their end, so a failure of one never leaves the other cut off midway.
    let (vectors, tables) = tokio::join!(vectors, tables);
    let (mut summary, vectors_written) = vectors?;
    let (written, deleted, rows, code_seconds, sql_seconds, tables_written) = tables?;
    phases.code_tables = code_seconds;
    phases.reference_tables = sql_seconds - code_seconds;
    summary.phases = phases;
    summary.reference_rows = rows;
    summary.records = corpus.records.len();
    summary.notes = corpus.notes.len();
    summary.codes_written = written;
    summary.codes_deleted = deleted;
    summary.total_seconds = started.elapsed().as_secs_f64();
    summary.seconds = vectors_written.max(tables_written);
    Ok(summary)
}

/// Diffs `chunks` against the store and writes the difference.
async fn write_chunks(
    chunks: Vec<Chunk>,
    kept: Option<StoreMeta>,
    store: &dyn VectorStore,
    embedder: Arc<dyn Embedder>,
    options: &IngestOptions,
    phases: &mut Phases,
) -> anyhow::Result<IngestSummary> {
    let mut summary = IngestSummary { chunks: chunks.len(), ..Default::default() };
    let meta = match kept {
        Some(meta) => meta,
        None => {
            let meta = StoreMeta {
                embedder: embedder.id().to_string(),
                dim: embedder.dim(),
                bm25_avg_len: average_words(chunks.iter().map(|c| c.sparse_text.as_str())),
                layout: LAYOUT_VERSION,
            };
            store.create(&meta).await.context("creating the vector store")?;
            meta
        }
    };
    let existing = store.key_hashes().await?;
    let wanted: HashSet<&str> = chunks.iter().map(|c| c.payload.key.as_str()).collect();
    let stale: Vec<String> = existing.keys().filter(|k| !wanted.contains(k.as_str())).cloned().collect();
    let mut todo = vec![];
    for chunk in chunks {
        match existing.get(&chunk.payload.key) {
            Some(h) if *h == chunk.payload.hash => summary.unchanged += 1,
            Some(_) => {
                summary.changed += 1;
                todo.push(chunk);
            }
            None => {
                summary.added += 1;
                todo.push(chunk);
            }
        }
    }

    let bar = if options.progress && !todo.is_empty() {
        let bar = ProgressBar::new(todo.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} chunks, {per_sec}, eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message("ingesting");
        bar
    } else {
        ProgressBar::hidden()
    };

    // Producer: embeds batches ahead of the writer, at most two in flight.
    let bm25 = Arc::new(Bm25Encoder::new(meta.bm25_avg_len));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<(Vec<ChunkPoint>, f64)>>(2);
    let batch = options.batch.max(1);
    let producer = tokio::spawn(async move {
        let mut todo = todo.into_iter().peekable();
        while todo.peek().is_some() {
            let part: Vec<Chunk> = todo.by_ref().take(batch).collect();
            let t = Instant::now();
            let texts: Vec<String> = part.iter().map(|c| c.dense_text.clone()).collect();
            let dense = match embedder.embed(&texts).await {
                Ok(d) if d.len() == part.len() => d,
                Ok(d) => {
                    let _ = tx.send(Err(anyhow::anyhow!("embedder returned {} vectors for {} texts", d.len(), part.len()))).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            let bm25 = bm25.clone();
            let points = tokio::task::spawn_blocking(move || {
                part.into_iter()
                    .zip(dense)
                    .map(|(c, d)| ChunkPoint { sparse: bm25.document(&c.sparse_text), dense: d, payload: c.payload })
                    .collect::<Vec<_>>()
            })
            .await;
            let sent = match points {
                Ok(p) => tx.send(Ok((p, t.elapsed().as_secs_f64()))).await,
                Err(e) => tx.send(Err(e.into())).await,
            };
            if sent.is_err() {
                return;
            }
        }
    });
    while let Some(points) = rx.recv().await {
        let (points, embed_seconds) = points?;
        phases.embed += embed_seconds;
        let n = points.len() as u64;
        let t = Instant::now();
        store.upsert(points).await?;
        phases.vector_writes += t.elapsed().as_secs_f64();
        bar.inc(n);
        metrics::counter!(crate::telemetry::INGEST_CHUNKS).increment(n);
    }
    producer.await?;
    bar.finish_and_clear();

    let t = Instant::now();
    store.delete(&stale).await?;
    phases.vector_writes += t.elapsed().as_secs_f64();
    summary.deleted = stale.len();
    Ok(summary)
}

/// Mirrors the code records into the SQL tables, writing only changed rows.
async fn sync_code_tables(codes: &CodeTable, records: &[CodeRecord]) -> anyhow::Result<(usize, usize)> {
    let existing = codes.hashes().await?;
    let hashed: Vec<(&CodeRecord, String)> = records
        .iter()
        .map(|r| {
            let json = serde_json::to_vec(r).expect("records serialize");
            (r, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&json)))
        })
        .collect();
    let wanted: HashMap<&str, &str> = hashed.iter().map(|(r, h)| (r.code.as_str(), h.as_str())).collect();
    let upserts: Vec<(&CodeRecord, &str)> = hashed
        .iter()
        .filter(|(r, h)| existing.get(&r.code) != Some(h))
        .map(|(r, h)| (*r, h.as_str()))
        .collect();
    let deletes: Vec<String> = existing.keys().filter(|c| !wanted.contains_key(c.as_str())).cloned().collect();
    codes.apply(&upserts, &deletes).await.context("writing the code tables")?;
    codes.sync_icd_categories(&icd_categories(records)).await.context("writing the ICD-10-CM categories")?;
    Ok((upserts.len(), deletes.len()))
}

/// ICD-10-CM categories and subcategories from the records' classification paths
/// (`"E11 Type 2 diabetes mellitus"` → `E11`), leaving out chapters and blocks.
fn icd_categories(records: &[CodeRecord]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for r in records.iter().filter(|r| r.system == crate::codes::CodeSystem::Icd10Cm) {
        for step in &r.path {
            let Some((code, title)) = step.split_once(' ') else { continue };
            let shaped = code.len() >= 3
                && code.as_bytes()[0].is_ascii_uppercase()
                && code.as_bytes()[1].is_ascii_digit()
                && !code.contains('-');
            if shaped && code != r.code {
                out.entry(code.to_string()).or_insert_with(|| title.to_string());
            }
        }
    }
    out
}
