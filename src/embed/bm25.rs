//! BM25 sparse vectors, computed on our side with Qdrant Edge's own BM25 model (its
//! tokenizer, English stop words and stemmer), for both store backends. The collection's
//! `bm25` vector carries the IDF modifier, so the store supplies the IDF at query time.

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::external::ordered_float::NotNan;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

pub struct Bm25Encoder {
    model: EdgeBm25,
}

impl Bm25Encoder {
    /// `avg_len` is the corpus's mean document length in words; BM25's length
    /// normalisation is only fair when it matches the documents actually indexed.
    pub fn new(avg_len: f64) -> Self {
        let avg_len = NotNan::new(avg_len.max(1.0)).unwrap_or_else(|_| NotNan::new(1.0).expect("1 is a number"));
        let config = EdgeBm25Config { avg_len, ..Default::default() };
        Self { model: EdgeBm25::new(config).expect("English BM25 with a positive length is valid") }
    }

    pub fn document(&self, text: &str) -> SparseVec {
        let v = self.model.embed_document(text);
        SparseVec { indices: v.indices, values: v.values }
    }

    pub fn query(&self, text: &str) -> SparseVec {
        let v = self.model.embed_query(text);
        SparseVec { indices: v.indices, values: v.values }
    }
}

/// Mean length in words of the documents, the statistic `Bm25Encoder::new` wants.
pub fn average_words<'a>(texts: impl Iterator<Item = &'a str>) -> f64 {
    let (mut words, mut docs) = (0usize, 0usize);
    for t in texts {
        words += t.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).count();
        docs += 1;
    }
    if docs == 0 {
        1.0
    } else {
        words as f64 / docs as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_document_share_indices() {
        let enc = Bm25Encoder::new(12.0);
        let doc = enc.document("Laparoscopic cholecystectomy, removal of the gallbladder");
        let query = enc.query("gallbladder removal");
        assert!(query.indices.iter().all(|i| doc.indices.contains(i)), "{query:?} vs {doc:?}");
        assert!(enc.query("the of and").indices.is_empty(), "stop words carry no weight");
    }

    #[test]
    fn average_words_counts_words() {
        assert_eq!(average_words(["a b c", "d e f g h"].into_iter()), 4.0);
        assert_eq!(average_words(std::iter::empty()), 1.0);
    }
}
