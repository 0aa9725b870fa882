//! The pages through the real router: code pages metered as code views (a new visitor gets a
//! guest session), the 402 and 404 pages, the search page, hashed assets, the widget script
//! and the CORS policy for the origins that embed it. The browser tests (tests/browser)
//! drive the same pages in Chromium.

use axum::http::StatusCode;
use http_body_util::BodyExt;

use crate::helpers::TestApp;

async fn page(app: &TestApp, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.send("GET", uri, None, None, headers).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, headers, body)
}

#[tokio::test]
async fn a_code_page_is_a_metered_view_for_a_new_guest() {
    let app = TestApp::spawn().await;
    let (status, headers, body) = page(&app, "/codes/75946", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "private, no-store");
    let cookie = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("codecite_session=ccs_"), "{cookie}");
    assert!(body.contains("<h1>75946"), "{body}");
    assert!(body.contains("Deleted 2016") && body.contains("href=\"/codes/37253\""), "the replacement is linked");
    assert!(body.contains("0 code page views remaining"));

    let (status, headers, body) = page(&app, "/codes/99213", &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert!(headers.get("set-cookie").is_none(), "the same guest");
    assert!(body.contains("0 code page views remaining. Guest accounts are limited to 1 page view. Register a free account to get 5 more views a month."), "{body}");
    assert!(body.contains("href=\"/?register=1\""));

    // With the admin key: an add-on's primaries, NCCI pairs, an unknown code's close matches.
    let key = format!("Bearer {}", app.key);
    let (status, _, body) = page(&app, "/codes/99213", &[("authorization", &key)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("NCCI procedure-to-procedure edits"), "{body}");
    assert!(body.contains("Ask about this code") && body.contains("name=\"code\" value=\"99213\""));
    // Our everyday names for a code, apart from the official ones.
    let (status, _, body) = page(&app, "/codes/L3908", &[("authorization", &key)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<dt>Everyday names</dt><dd>wrist splint for carpal tunnel, off-the-shelf; cock-up wrist brace</dd>"), "{body}");
    let (status, _, body) = page(&app, "/codes/E11", &[("authorization", &key)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Category, not billable") && body.contains("href=\"/codes/E11.9\""), "{body}");
    let (status, _, body) = page(&app, "/codes/E11.99", &[("authorization", &key)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Close matches") && body.contains("href=\"/codes/E11.9\""), "{body}");
    let (status, _, _) = page(&app, "/codes/not%20a%20code", &[("authorization", &key)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_search_page_and_the_chat_page_render_without_credentials() {
    let app = TestApp::spawn().await;
    let (status, _, body) = page(&app, "/search?q=E11.9+diabetes", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let first = body.find("href=\"/codes/E11.9\"").expect("E11.9 is listed");
    assert!(body[first..].contains("exact"));
    let (status, _, body) = page(&app, "/search?q=colonoscopy&system=CPT", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("href=\"/codes/45378\"") && !body.contains("ICD-10-CM</span>"), "{body}");
    let (status, _, body) = page(&app, "/search?q=x&system=CDT", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("unknown code system"));
    let (status, _, body) = page(&app, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"chat\"") && body.contains("<noscript>"));
}

#[tokio::test]
async fn assets_are_hashed_and_the_widget_is_one_script() {
    let app = TestApp::spawn().await;
    let (_, _, body) = page(&app, "/", &[]).await;
    let at = body.find("/static/").or_else(|| body.find("&#x2f;static&#x2f;")).expect("an asset link");
    let link: String = body[at..].chars().take_while(|c| *c != '"').collect::<String>().replace("&#x2f;", "/");
    let (status, headers, css) = page(&app, &link, &[]).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
    assert!(css.contains("--cc-accent"), "{link}");
    let (status, _, _) = page(&app, "/static/000000000000/app.css", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, js) = page(&app, "/widget.js", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.contains("attachShadow") && js.contains("mountChat") && js.contains("CODECITE_CSS"));
}

#[tokio::test]
async fn only_configured_origins_may_call_the_api() {
    let app = TestApp::spawn_with(|c| c.web.cors_origins = vec!["https://clinic.example".into()]).await;
    let headers = |origin: &'static str| {
        [("origin", origin), ("access-control-request-method", "POST"), ("access-control-request-headers", "authorization,content-type")]
    };
    let allowed = app.send("OPTIONS", "/api/chat", None, None, &headers("https://clinic.example")).await;
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://clinic.example");
    assert!(allowed.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    let refused = app.send("OPTIONS", "/api/chat", None, None, &headers("https://elsewhere.example")).await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    // Without an allowlist, nothing cross-origin.
    let closed = TestApp::spawn().await;
    let response = closed.send("GET", "/api/stats", None, None, &[("origin", "https://clinic.example")]).await;
    assert!(response.headers().get("access-control-allow-origin").is_none());
}
