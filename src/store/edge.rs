//! The embedded backend: a Qdrant Edge shard in process, under the data directory.
//!
//! Qdrant Edge is blocking, so every call runs on a blocking thread. Its `flush` panics if an
//! `update` runs at the same time, and its write-ahead log is not replayed on load, so one
//! mutex owns all writes and every write is flushed before it returns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use qdrant_edge::{
    Condition, CreateIndex, EdgeConfig, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder,
    FieldCondition, FieldIndexOperations, Filter, Fusion, JsonPath, Match, Modifier, NamedQuery, Payload,
    PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStruct, Prefetch,
    QueryEnum, QueryRequest, ScoringQuery, ScrollRequest, SparseVector, UpdateOperation, VectorInternal, Vectors,
    WithPayloadInterface, WithVector,
};

use super::{
    overfetch, point_id, rank_hits, ChunkPayload, ChunkPoint, StoreError, StoreHit, StoreMeta, VectorQuery,
    VectorStore, DENSE, HEADER_FIELDS, INDEXED_FIELDS, SPARSE,
};
use crate::codes::CodeSystem;

const META_FILE: &str = "codecite-store.json";

/// Header payloads kept in memory: reading one from the shard (decompressing and parsing its
/// JSON) costs more than scoring the point, and the same codes come back search after search.
const HEADER_CACHE: usize = 20_000;

pub struct EdgeStore {
    dir: PathBuf,
    shard: RwLock<Option<Arc<EdgeShard>>>,
    meta: RwLock<Option<StoreMeta>>,
    /// Serialises update + flush (see the module doc).
    writer: Arc<Mutex<()>>,
    headers: Arc<Mutex<Headers>>,
}

/// The [`HEADER_FIELDS`] of the points searches found lately. Every write empties it and moves
/// `generation` on, and a read started before a write keeps nothing of what it read.
struct Headers {
    generation: u64,
    payloads: lru::LruCache<PointId, ChunkPayload>,
}

impl Headers {
    fn new() -> Self {
        Self { generation: 0, payloads: lru::LruCache::new(std::num::NonZeroUsize::new(HEADER_CACHE).expect("non-zero")) }
    }

    fn clear(&mut self) {
        self.payloads.clear();
        self.generation += 1;
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl EdgeStore {
    /// Opens the shard in `dir` if one was created there; otherwise the store is empty until
    /// [`VectorStore::create`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let store = Self {
            dir: dir.to_path_buf(),
            shard: RwLock::new(None),
            meta: RwLock::new(None),
            writer: Arc::new(Mutex::new(())),
            headers: Arc::new(Mutex::new(Headers::new())),
        };
        let meta_path = dir.join(META_FILE);
        if meta_path.exists() {
            let text = std::fs::read_to_string(&meta_path).map_err(backend)?;
            let meta: StoreMeta = serde_json::from_str(&text)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", meta_path.display())))?;
            let shard = EdgeShard::load(dir, None).map_err(|e| {
                if e.to_string().contains("WouldBlock") {
                    StoreError::Backend(format!("{} is in use by another codecite process", dir.display()))
                } else {
                    StoreError::Backend(format!("{}: {e}", dir.display()))
                }
            })?;
            // A shard built before a field was indexed gets the index now (the links, "codes",
            // since 2026-12-03): filtering on an unindexed field reads every payload.
            let schema = shard.info().payload_schema;
            let missing: Vec<&str> = INDEXED_FIELDS.into_iter().filter(|f| !schema.keys().any(|k| k.to_string() == *f)).collect();
            for field in &missing {
                index(&shard, field)?;
            }
            if !missing.is_empty() {
                shard.flush();
            }
            *store.shard.write().expect("lock") = Some(Arc::new(shard));
            *store.meta.write().expect("lock") = Some(meta);
        }
        Ok(store)
    }

    fn shard(&self) -> Result<Arc<EdgeShard>, StoreError> {
        self.shard.read().expect("lock").clone().ok_or(StoreError::NotInitialized)
    }

    /// Runs a write and its flush under the writer lock on a blocking thread.
    async fn write(&self, op: UpdateOperation) -> Result<(), StoreError> {
        let shard = self.shard()?;
        let writer = self.writer.clone();
        let headers = self.headers.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = writer.lock().expect("writer lock");
            let done = shard.update(op).map_err(backend);
            if done.is_ok() {
                shard.flush();
            }
            headers.lock().expect("header cache").clear();
            done
        })
        .await
        .map_err(backend)?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EdgeShard) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shard = self.shard()?;
        tokio::task::spawn_blocking(move || f(&shard)).await.map_err(backend)?
    }
}

fn path(field: &str) -> JsonPath {
    field.parse().expect("static field names are valid JSON paths")
}

fn index(shard: &EdgeShard, field: &str) -> Result<(), StoreError> {
    let op = UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(CreateIndex {
        field_name: path(field),
        field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
    }));
    shard.update(op).map_err(backend)
}

fn keyword(field: &str, m: Match) -> Condition {
    Condition::Field(FieldCondition::new_match(path(field), m))
}

fn system_filter(systems: &[CodeSystem]) -> Option<Filter> {
    let names: Vec<String> = systems.iter().map(|s| s.as_str().to_string()).collect();
    (!names.is_empty()).then(|| Filter::new_must(keyword("system", Match::from(names))))
}

fn payload_of(payload: Option<Payload>) -> Result<ChunkPayload, StoreError> {
    let map = payload.ok_or_else(|| StoreError::Payload("point without payload".into()))?.0;
    serde_json::from_value(serde_json::Value::Object(map.into_iter().collect()))
        .map_err(|e| StoreError::Payload(e.to_string()))
}

/// The payloads (as `selector` selects) of the points of `ids` that exist, by id.
fn retrieve(
    shard: &EdgeShard,
    ids: &[PointId],
    selector: WithPayloadInterface,
) -> Result<HashMap<PointId, ChunkPayload>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let records = shard.retrieve(ids, Some(selector), Some(WithVector::Bool(false))).map_err(backend)?;
    records.into_iter().map(|r| Ok((r.id, payload_of(r.payload)?))).collect()
}

/// [`retrieve`] of the header fields through the cache: only the points it lacks are read.
fn retrieve_headers(
    shard: &EdgeShard,
    ids: &[PointId],
    headers: &Mutex<Headers>,
) -> Result<HashMap<PointId, ChunkPayload>, StoreError> {
    let mut found = HashMap::with_capacity(ids.len());
    let mut missing = vec![];
    let generation = {
        let mut cache = headers.lock().expect("header cache");
        for id in ids {
            match cache.payloads.get(id) {
                Some(payload) => drop(found.insert(*id, payload.clone())),
                None => missing.push(*id),
            }
        }
        cache.generation
    };
    let read = retrieve(shard, &missing, WithPayloadInterface::Fields(HEADER_FIELDS.iter().map(|f| path(f)).collect()))?;
    let mut cache = headers.lock().expect("header cache");
    let current = cache.generation == generation;
    for (id, payload) in read {
        if current {
            cache.payloads.put(id, payload.clone());
        }
        found.insert(id, payload);
    }
    Ok(found)
}

fn sparse(v: &crate::embed::SparseVec) -> VectorInternal {
    VectorInternal::Sparse(SparseVector { indices: v.indices.clone(), values: v.values.clone() })
}

#[async_trait::async_trait]
impl VectorStore for EdgeStore {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    async fn meta(&self) -> Result<Option<StoreMeta>, StoreError> {
        Ok(self.meta.read().expect("lock").clone())
    }

    async fn create(&self, meta: &StoreMeta) -> Result<(), StoreError> {
        // Drop (and so flush) any previous shard before its files are removed.
        let old = self.shard.write().expect("lock").take();
        drop(old);
        *self.meta.write().expect("lock") = None;
        let dir = self.dir.clone();
        let dim = meta.dim;
        let shard = tokio::task::spawn_blocking(move || -> Result<EdgeShard, StoreError> {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(backend)?;
            }
            std::fs::create_dir_all(&dir).map_err(backend)?;
            let config = EdgeConfig::builder()
                .on_disk_payload(false)
                .vector(DENSE, EdgeVectorParamsBuilder::new(dim, qdrant_edge::Distance::Cosine).build())
                .sparse_vector(SPARSE, EdgeSparseVectorParamsBuilder::new().modifier(Modifier::Idf).build())
                .build();
            let shard = EdgeShard::new(&dir, config).map_err(backend)?;
            for field in INDEXED_FIELDS {
                index(&shard, field)?;
            }
            shard.flush();
            Ok(shard)
        })
        .await
        .map_err(backend)??;
        let text = serde_json::to_string_pretty(meta).expect("meta serializes");
        std::fs::write(self.dir.join(META_FILE), text).map_err(backend)?;
        *self.shard.write().expect("lock") = Some(Arc::new(shard));
        *self.meta.write().expect("lock") = Some(meta.clone());
        self.headers.lock().expect("header cache").clear();
        Ok(())
    }

    async fn key_hashes(&self) -> Result<HashMap<String, String>, StoreError> {
        self.read(|shard| {
            let mut out = HashMap::new();
            let mut offset = None;
            loop {
                let request = ScrollRequest {
                    offset,
                    limit: Some(10_000),
                    filter: None,
                    with_payload: Some(WithPayloadInterface::Fields(vec![path("key"), path("hash")])),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                };
                let (records, next) = shard.scroll(request).map_err(backend)?;
                for r in records {
                    let map = r.payload.map(|p| p.0).unwrap_or_default();
                    let get = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_string);
                    if let (Some(key), Some(hash)) = (get("key"), get("hash")) {
                        out.insert(key, hash);
                    }
                }
                match next {
                    Some(n) => offset = Some(n),
                    None => return Ok(out),
                }
            }
        })
        .await
    }

    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), StoreError> {
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let vectors = Vectors::new_named([
                (DENSE.to_string(), qdrant_edge::Vector::new_dense(p.dense)),
                (SPARSE.to_string(), qdrant_edge::Vector::from(sparse(&p.sparse))),
            ]);
            let payload = serde_json::to_value(&p.payload).expect("payload serializes");
            structs.push(PointStruct::new(PointId::Uuid(point_id(&p.payload.key)), vectors, payload).into());
        }
        self.write(UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(
            structs,
        ))))
        .await
    }

    async fn delete(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let ids = keys.iter().map(|k| PointId::Uuid(point_id(k))).collect();
        self.write(UpdateOperation::PointOperation(PointOperations::DeletePoints { ids })).await
    }

    async fn optimize(&self) -> Result<(), StoreError> {
        let shard = self.shard()?;
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = writer.lock().expect("writer lock");
            shard.optimize().map_err(backend)?;
            shard.flush();
            Ok(())
        })
        .await
        .map_err(backend)?
    }

    async fn search(&self, query: &VectorQuery) -> Result<Vec<StoreHit>, StoreError> {
        let dense = query.dense.clone().map(|v| NamedQuery::new(VectorInternal::Dense(v), DENSE));
        let sparse = query.sparse.as_ref().map(|v| NamedQuery::new(sparse(v), SPARSE));
        let nearest = |q: NamedQuery<VectorInternal>| ScoringQuery::Vector(QueryEnum::Nearest(q));
        let limit = overfetch(query.limit);
        // The filter goes into each prefetch as well as the fusion, so that each list the fusion
        // ranks is drawn from the filtered systems alone, whatever a backend does with a
        // top-level filter (on Edge it moved no case of the question sets).
        let filter = system_filter(&query.systems);
        let (prefetches, scoring) = match (dense, sparse) {
            (Some(d), Some(s)) => {
                let prefetch = |q| Prefetch {
                    prefetches: vec![],
                    query: Some(nearest(q)),
                    limit: query.prefetch.max(limit),
                    params: None,
                    filter: filter.clone(),
                    score_threshold: None,
                };
                (vec![prefetch(d), prefetch(s)], ScoringQuery::Fusion(Fusion::Rrf { k: query.rrf_k.max(1), weights: None }))
            }
            (Some(one), None) | (None, Some(one)) => (vec![], nearest(one)),
            (None, None) => return Ok(vec![]),
        };
        let request = QueryRequest {
            prefetches,
            query: Some(scoring),
            filter,
            score_threshold: None,
            limit,
            offset: 0,
            params: None,
            with_vector: WithVector::Bool(false),
            // Ids and scores only: reading a payload costs more than scoring the point, and
            // most of the points fetched for the tie-break never make the cut.
            with_payload: WithPayloadInterface::Bool(false),
        };
        let headers = query.headers_only.then(|| self.headers.clone());
        let final_limit = query.limit;
        self.read(move |shard| {
            let mut points = shard.query(request).map_err(backend)?;
            // The payloads of the points that can make the cut: those scoring at least as
            // high as the last one kept, whose ties `rank_hits` orders by code and key.
            points.sort_by(|a, b| b.score.total_cmp(&a.score));
            if let Some(cut) = points.get(final_limit.saturating_sub(1)).map(|p| p.score) {
                points.retain(|p| p.score >= cut);
            }
            let ids: Vec<PointId> = points.iter().map(|p| p.id).collect();
            let mut payloads = match &headers {
                Some(headers) => retrieve_headers(shard, &ids, headers)?,
                None => retrieve(shard, &ids, WithPayloadInterface::Bool(true))?,
            };
            let mut hits = points
                .into_iter()
                .filter_map(|p| payloads.remove(&p.id).map(|payload| StoreHit { score: p.score, payload }))
                .collect::<Vec<_>>();
            rank_hits(&mut hits);
            hits.truncate(final_limit);
            Ok(hits)
        })
        .await
    }

    async fn payloads(&self, keys: &[String]) -> Result<Vec<ChunkPayload>, StoreError> {
        let ids: Vec<PointId> = keys.iter().map(|k| PointId::Uuid(point_id(k))).collect();
        self.read(move |shard| Ok(retrieve(shard, &ids, WithPayloadInterface::Bool(true))?.into_values().collect())).await
    }

    async fn lookup_codes(&self, codes: &[String], system: Option<CodeSystem>) -> Result<Vec<StoreHit>, StoreError> {
        let mut must = vec![keyword("code", Match::from(codes.to_vec()))];
        if let Some(s) = system {
            must.push(keyword("system", Match::from(s.as_str().to_string())));
        }
        self.scroll(Filter { must: Some(must), ..Default::default() }, codes.len() * 2).await
    }

    async fn linking_to(&self, codes: &[String], limit: usize) -> Result<Vec<StoreHit>, StoreError> {
        let filter = Filter {
            must: Some(vec![keyword("codes", Match::from(codes.to_vec()))]),
            must_not: Some(vec![
                keyword("code", Match::from(codes.to_vec())),
                keyword("system", Match::from(CodeSystem::Guideline.as_str().to_string())),
            ]),
            ..Default::default()
        };
        self.scroll(filter, limit).await
    }

    async fn count(&self) -> Result<usize, StoreError> {
        if self.shard.read().expect("lock").is_none() {
            return Ok(0);
        }
        self.read(|shard| Ok(shard.info().points_count)).await
    }
}

impl EdgeStore {
    /// Up to `limit` points matching `filter`, with their payloads (score 1: no ranking).
    async fn scroll(&self, filter: Filter, limit: usize) -> Result<Vec<StoreHit>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        self.read(move |shard| {
            let request = ScrollRequest {
                offset: None,
                limit: Some(limit),
                filter: Some(filter),
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: WithVector::Bool(false),
                order_by: None,
            };
            let (records, _) = shard.scroll(request).map_err(backend)?;
            records.into_iter().map(|r| Ok(StoreHit { score: 1.0, payload: payload_of(r.payload)? })).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::SparseVec;
    use crate::store::LAYOUT_VERSION;

    fn point(title: &str) -> ChunkPoint {
        ChunkPoint {
            payload: ChunkPayload {
                key: "code:HCPCS:J1885".into(),
                system: CodeSystem::Hcpcs,
                code: Some("J1885".into()),
                codes: vec!["J1885".into()],
                title: title.into(),
                names: vec![],
                addon: false,
                text: title.into(),
                source: "test".into(),
                hash: title.into(),
            },
            dense: vec![1.0, 0.0, 0.0, 0.0],
            sparse: SparseVec { indices: vec![7], values: vec![1.0] },
        }
    }

    async fn titles_found(store: &EdgeStore) -> Vec<String> {
        let query = VectorQuery {
            dense: Some(vec![1.0, 0.0, 0.0, 0.0]),
            sparse: Some(SparseVec { indices: vec![7], values: vec![1.0] }),
            limit: 5,
            prefetch: 10,
            rrf_k: 60,
            headers_only: true,
            ..Default::default()
        };
        store.search(&query).await.unwrap().into_iter().map(|h| h.payload.title).collect()
    }

    /// A search reads the headers it found before from memory: a write that changes or removes
    /// the point shows in the next search, not what was read before it.
    #[tokio::test]
    async fn a_write_shows_in_the_next_search() {
        let dir = tempfile::tempdir().unwrap();
        let store = EdgeStore::open(dir.path()).unwrap();
        store.create(&StoreMeta { embedder: "test".into(), dim: 4, bm25_avg_len: 1.0, layout: LAYOUT_VERSION }).await.unwrap();
        store.upsert(vec![point("Ketorolac tromethamine inj")]).await.unwrap();
        assert_eq!(titles_found(&store).await, ["Ketorolac tromethamine inj"]);
        assert_eq!(titles_found(&store).await, ["Ketorolac tromethamine inj"], "read again, from the cache");

        store.upsert(vec![point("Ketorolac tromethamine injection per 15 mg")]).await.unwrap();
        assert_eq!(titles_found(&store).await, ["Ketorolac tromethamine injection per 15 mg"]);

        store.delete(&["code:HCPCS:J1885".to_string()]).await.unwrap();
        assert!(titles_found(&store).await.is_empty());
    }
}
