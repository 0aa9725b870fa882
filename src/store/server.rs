//! The scale-out backend: a Qdrant server or cluster over gRPC through `qdrant-client`,
//! used when `QDRANT_URL` is set. Same layout, same payload, same query as the edge shard;
//! the store's build record lives in the collection's metadata.

use std::collections::HashMap;

use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter, Modifier, NamedVectors,
    PayloadIncludeSelector, PointId, PointStruct, PointsIdsList, PrefetchQueryBuilder, Query, QueryPointsBuilder,
    RrfBuilder, ScrollPointsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPointsBuilder, Vector,
    VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};

use super::{
    overfetch, point_id, rank_hits, ChunkPayload, ChunkPoint, StoreError, StoreHit, StoreMeta, VectorQuery,
    VectorStore, DENSE, HEADER_FIELDS, INDEXED_FIELDS, SPARSE,
};
use crate::codes::CodeSystem;
use crate::config::QdrantConfig;

pub struct ServerStore {
    client: Qdrant,
    url: String,
    collection: String,
    layout: QdrantConfig,
}

/// What a Qdrant node says when the replicas a request needs are on peers it cannot reach.
const PEERS_DOWN: [&str; 4] = ["currently unavailable", "No active replica", "Connection refused", "transport error"];

/// A server that cannot be reached, or a cluster that cannot serve the request right now (a
/// shard with no live replica, a lost leader), is `Unavailable`; anything else is `Backend`.
fn backend(e: QdrantError) -> StoreError {
    use tonic::Code;
    match &e {
        QdrantError::ResponseError { status }
            if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        // A node passes on what its peers' shards could not serve as an internal error.
        QdrantError::ResponseError { status } if PEERS_DOWN.iter().any(|m| status.message().contains(m)) => {
            StoreError::Unavailable(e.to_string())
        }
        QdrantError::ResourceExhaustedError { .. } | QdrantError::Io(_) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

const META_KEY: &str = "codecite";

impl ServerStore {
    pub fn connect(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        layout: &QdrantConfig,
    ) -> Result<Self, StoreError> {
        let mut builder = Qdrant::from_url(url).timeout(std::time::Duration::from_secs(30));
        if let Some(key) = api_key {
            builder = builder.api_key(key.to_string());
        }
        let client = builder.build().map_err(backend)?;
        Ok(Self { client, url: url.to_string(), collection: collection.to_string(), layout: layout.clone() })
    }

    /// A keyword index on a payload field, waited for.
    async fn index(&self, field: &str) -> Result<(), StoreError> {
        self.client
            .create_field_index(CreateFieldIndexCollectionBuilder::new(&self.collection, field, FieldType::Keyword).wait(true))
            .await
            .map_err(backend)?;
        Ok(())
    }

    fn system_filter(systems: &[CodeSystem]) -> Option<Filter> {
        let names: Vec<String> = systems.iter().map(|s| s.as_str().to_string()).collect();
        (!names.is_empty()).then(|| Filter::must([Condition::matches("system", names)]))
    }
}

fn payload_of(payload: HashMap<String, qdrant_client::qdrant::Value>) -> Result<ChunkPayload, StoreError> {
    let map: serde_json::Map<String, serde_json::Value> = payload.into_iter().map(|(k, v)| (k, v.into_json())).collect();
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| StoreError::Payload(e.to_string()))
}

#[async_trait::async_trait]
impl VectorStore for ServerStore {
    fn location(&self) -> String {
        format!("{} collection {}", self.url, self.collection)
    }

    async fn meta(&self) -> Result<Option<StoreMeta>, StoreError> {
        if !self.client.collection_exists(&self.collection).await.map_err(backend)? {
            return Ok(None);
        }
        let info = self.client.collection_info(&self.collection).await.map_err(backend)?.result;
        // A collection created before a field was indexed gets the index now (the links,
        // "codes", since 2026-12-03), as an Edge shard does on open.
        let schema = info.as_ref().map(|r| &r.payload_schema);
        for field in INDEXED_FIELDS.into_iter().filter(|f| schema.is_some_and(|s| !s.contains_key(*f))) {
            self.index(field).await?;
        }
        let value = info.and_then(|r| r.config).and_then(|c| c.metadata.get(META_KEY).cloned());
        match value {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.into_json())
                .map(Some)
                .map_err(|e| StoreError::Backend(format!("collection metadata: {e}"))),
        }
    }

    async fn create(&self, meta: &StoreMeta) -> Result<(), StoreError> {
        if self.client.collection_exists(&self.collection).await.map_err(backend)? {
            self.client.delete_collection(&self.collection).await.map_err(backend)?;
        }
        let mut vectors = VectorsConfigBuilder::default();
        vectors.add_named_vector_params(DENSE, VectorParamsBuilder::new(meta.dim as u64, Distance::Cosine));
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(SPARSE, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
        let metadata: HashMap<String, serde_json::Value> =
            HashMap::from([(META_KEY.to_string(), serde_json::to_value(meta).expect("meta serializes"))]);
        self.client
            .create_collection(
                CreateCollectionBuilder::new(&self.collection)
                    .vectors_config(vectors)
                    .sparse_vectors_config(sparse)
                    .shard_number(self.layout.shards)
                    .replication_factor(self.layout.replication_factor)
                    .write_consistency_factor(self.layout.write_consistency)
                    .metadata(metadata),
            )
            .await
            .map_err(backend)?;
        for field in INDEXED_FIELDS {
            self.index(field).await?;
        }
        Ok(())
    }

    async fn key_hashes(&self) -> Result<HashMap<String, String>, StoreError> {
        let mut out = HashMap::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .limit(10_000)
                .with_payload(PayloadIncludeSelector::new(vec!["key".to_string(), "hash".to_string()]));
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let response = self.client.scroll(request).await.map_err(backend)?;
            for point in response.result {
                let get = |k: &str| point.payload.get(k).and_then(|v| v.as_str().map(|s| s.to_string()));
                if let (Some(key), Some(hash)) = (get("key"), get("hash")) {
                    out.insert(key, hash);
                }
            }
            match response.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }

    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), StoreError> {
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let vectors = NamedVectors::default()
                .add_vector(DENSE, Vector::new_dense(p.dense))
                .add_vector(SPARSE, Vector::new_sparse(p.sparse.indices, p.sparse.values));
            let payload = Payload::try_from(serde_json::to_value(&p.payload).expect("payload serializes"))
                .map_err(|e| StoreError::Payload(e.to_string()))?;
            structs.push(PointStruct::new(point_id(&p.payload.key).to_string(), vectors, payload));
        }
        self.client
            .upsert_points(UpsertPointsBuilder::new(&self.collection, structs).wait(true))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let ids: Vec<PointId> = keys.iter().map(|k| PointId::from(point_id(k).to_string())).collect();
        self.client
            .delete_points(DeletePointsBuilder::new(&self.collection).points(PointsIdsList { ids }).wait(true))
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The server builds its indexes in the background; this waits until it has (the
    /// collection is green), so that an ingest returns when search runs at full speed.
    async fn optimize(&self) -> Result<(), StoreError> {
        use qdrant_client::qdrant::CollectionStatus;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        loop {
            let info = self.client.collection_info(&self.collection).await.map_err(backend)?;
            let status = info.result.map(|r| r.status()).unwrap_or(CollectionStatus::UnknownCollectionStatus);
            match status {
                CollectionStatus::Green | CollectionStatus::Grey => return Ok(()),
                CollectionStatus::Red => {
                    return Err(StoreError::Backend(format!("collection {} is red (an optimization failed)", self.collection)))
                }
                _ if std::time::Instant::now() > deadline => {
                    tracing::warn!(collection = %self.collection, "indexing still running after 600 s; not waiting longer");
                    return Ok(());
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    }

    async fn search(&self, query: &VectorQuery) -> Result<Vec<StoreHit>, StoreError> {
        let limit = overfetch(query.limit);
        let dense = query.dense.clone().map(VectorInput::new_dense);
        let sparse = query.sparse.as_ref().map(|s| VectorInput::new_sparse(s.indices.clone(), s.values.clone()));
        let mut request = QueryPointsBuilder::new(&self.collection).limit(limit as u64);
        request = if query.headers_only {
            request.with_payload(PayloadIncludeSelector::new(HEADER_FIELDS.iter().map(|f| f.to_string()).collect::<Vec<_>>()))
        } else {
            request.with_payload(true)
        };
        let filter = Self::system_filter(&query.systems);
        request = match (dense, sparse) {
            (Some(d), Some(s)) => {
                let prefetch_limit = query.prefetch.max(limit) as u64;
                // Each prefetch is filtered too, as on Edge (see `EdgeStore::search`).
                let prefetch = |q: Query, using: &str| {
                    let p = PrefetchQueryBuilder::default().query(q).using(using).limit(prefetch_limit);
                    match &filter {
                        Some(f) => p.filter(f.clone()),
                        None => p,
                    }
                };
                request
                    .add_prefetch(prefetch(Query::new_nearest(d), DENSE))
                    .add_prefetch(prefetch(Query::new_nearest(s), SPARSE))
                    .query(Query::new_rrf(RrfBuilder::with_k(query.rrf_k.max(1) as u32)))
            }
            (Some(d), None) => request.query(Query::new_nearest(d)).using(DENSE),
            (None, Some(s)) => request.query(Query::new_nearest(s)).using(SPARSE),
            (None, None) => return Ok(vec![]),
        };
        if let Some(filter) = filter {
            request = request.filter(filter);
        }
        let response = self.client.query(request).await.map_err(backend)?;
        let mut hits = response
            .result
            .into_iter()
            .map(|p| Ok(StoreHit { score: p.score, payload: payload_of(p.payload)? }))
            .collect::<Result<Vec<_>, StoreError>>()?;
        rank_hits(&mut hits);
        hits.truncate(query.limit);
        Ok(hits)
    }

    async fn payloads(&self, keys: &[String]) -> Result<Vec<ChunkPayload>, StoreError> {
        let filter = Filter::must([Condition::matches("key", keys.to_vec())]);
        Ok(self.scroll(filter, keys.len()).await?.into_iter().map(|h| h.payload).collect())
    }

    async fn lookup_codes(&self, codes: &[String], system: Option<CodeSystem>) -> Result<Vec<StoreHit>, StoreError> {
        let mut must = vec![Condition::matches("code", codes.to_vec())];
        if let Some(s) = system {
            must.push(Condition::matches("system", s.as_str().to_string()));
        }
        self.scroll(Filter::must(must), codes.len() * 2).await
    }

    async fn linking_to(&self, codes: &[String], limit: usize) -> Result<Vec<StoreHit>, StoreError> {
        let filter = Filter {
            must: vec![Condition::matches("codes", codes.to_vec())],
            must_not: vec![
                Condition::matches("code", codes.to_vec()),
                Condition::matches("system", CodeSystem::Guideline.as_str().to_string()),
            ],
            ..Default::default()
        };
        self.scroll(filter, limit).await
    }

    async fn count(&self) -> Result<usize, StoreError> {
        if !self.client.collection_exists(&self.collection).await.map_err(backend)? {
            return Ok(0);
        }
        let response =
            self.client.count(CountPointsBuilder::new(&self.collection).exact(true)).await.map_err(backend)?;
        Ok(response.result.map(|r| r.count as usize).unwrap_or(0))
    }
}

impl ServerStore {
    /// Up to `limit` points matching `filter`, with their payloads (score 1: no ranking).
    async fn scroll(&self, filter: Filter, limit: usize) -> Result<Vec<StoreHit>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let request = ScrollPointsBuilder::new(&self.collection).filter(filter).limit(limit as u32).with_payload(true);
        let response = self.client.scroll(request).await.map_err(backend)?;
        response.result.into_iter().map(|p| Ok(StoreHit { score: 1.0, payload: payload_of(p.payload)? })).collect()
    }
}
