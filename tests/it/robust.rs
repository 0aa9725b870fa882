//! Odd input and internal failures never cost a response: the inputs that once broke a
//! request, and answers whose generator panics before or during the stream.

use std::sync::Arc;

use axum::http::StatusCode;
use codecite::chat::{ChatEvent, ChatRequest, ChatService};
use codecite::llm::{GenError, GenerationContext, Generator, Piece, PieceStream};
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::json;

use crate::helpers::{parse_sse, TestApp};

#[tokio::test]
async fn a_folding_character_after_a_code_shape_is_answered() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/search?q=A1%C5%BF").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for question in ["what is A1ſ", "E1\u{212A}.9 or ſ11.9?", "99213ſ and J1885"] {
        let response = app.post_json("/api/chat", &json!({ "question": question }).to_string()).await;
        assert_eq!(response.status(), StatusCode::OK, "{question}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let events = parse_sse(&String::from_utf8_lossy(&bytes));
        assert_eq!(events.last().map(|e| e.name.as_str()), Some("done"), "{question}: {events:?}");
    }
    let (status, _) = app.get("/api/codes/A1%C5%BF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Panics when asked, or after its first piece.
struct Panicking {
    after_first_piece: bool,
}

#[async_trait::async_trait]
impl Generator for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }

    async fn generate(&self, _: &GenerationContext) -> Result<PieceStream, GenError> {
        if !self.after_first_piece {
            panic!("a bug before the first piece");
        }
        let first = futures::stream::iter([Ok(Piece::Text("E11.9 is ".into()))]);
        let then = futures::stream::once(async { panic!("a bug in the middle of the stream") });
        Ok(first.chain(then).boxed())
    }
}

#[tokio::test]
async fn an_answer_that_panics_still_ends_with_one_error() {
    let app = TestApp::spawn().await;
    let services = app.services();
    let config = &services.config;
    for after_first_piece in [false, true] {
        let chat = Arc::new(ChatService::new(
            services.retriever.clone(),
            services.codes.clone(),
            Arc::new(Panicking { after_first_piece }),
            config.chat.clone(),
            &config.llm,
        ));
        let mut rx = chat.start(ChatRequest::new("What is E11.9?"), None).await.unwrap();
        let mut names = vec![];
        while let Some(event) = rx.recv().await {
            names.push(event.name());
            if let ChatEvent::Error(e) = &event {
                assert_eq!(e.code, "internal");
                assert!(!e.message.contains("bug"), "panic text stays in the log: {}", e.message);
            }
        }
        assert_eq!(names.last(), Some(&"error"), "{names:?}");
        assert_eq!(names.iter().filter(|n| **n == "error" || **n == "done").count(), 1, "{names:?}");
        assert_eq!(names.contains(&"delta"), after_first_piece, "{names:?}");
    }
}
