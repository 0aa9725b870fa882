//! The pages people open: the chat page at `/`, code pages, the search page, the widget
//! script and the static assets. Pages are rendered on the server (`web`), so code pages and
//! search work with JavaScript off. A code page is a metered code view, like
//! `/api/codes/{code}`; a visitor without a session gets a guest session (and its cookie)
//! on the first one.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{optional_caller, session_cookie, ClientIp};
use super::routes::view_code;
use super::ApiError;
use crate::app::AppState;
use crate::codes::{icd_form, shape, CodeSystem};
use crate::metering::{Action, Caller, Exhausted};
use crate::retrieval::{MatchKind, SearchHit, SearchMode, SearchRequest};

/// An HTML response; metered pages are never stored by caches.
fn html(status: StatusCode, body: String, private: bool) -> Response {
    let cache = if private { "private, no-store" } else { "no-cache" };
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static(cache))],
        body,
    )
        .into_response()
}

fn render(state: &AppState, status: StatusCode, template: &str, context: Value, private: bool) -> Response {
    match state.web.render(template, context) {
        Ok(body) => html(status, body, private),
        Err(e) => {
            tracing::error!(error = %e, template, "rendering a page failed");
            html(StatusCode::INTERNAL_SERVER_ERROR, "<!doctype html><title>Error</title><p>An internal error occurred; it has been logged.</p>".into(), false)
        }
    }
}

/// A page with a heading and a message, for errors and refusals.
fn notice(state: &AppState, status: StatusCode, heading: &str, message: &str, extra: Value) -> Response {
    let mut context = json!({"heading": heading, "message": message, "bad": status.is_server_error()});
    if let (Value::Object(c), Value::Object(e)) = (&mut context, extra) {
        c.extend(e);
    }
    render(state, status, "notice.html", context, true)
}

/// An API error as a page: the same status and message.
fn error_page(state: &AppState, e: ApiError) -> Response {
    let heading = match e.status {
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        StatusCode::SERVICE_UNAVAILABLE => "Starting up",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let mut response = notice(state, e.status, heading, &e.message, json!({}));
    for (name, value) in e.headers {
        response.headers_mut().insert(name, value);
    }
    response
}

pub async fn chat_page(State(state): State<AppState>) -> Response {
    render(&state, StatusCode::OK, "chat.html", json!({}), false)
}

/// The caller, or a new guest with the cookie that names it.
async fn page_caller(state: &AppState, headers: &HeaderMap, ip: std::net::IpAddr) -> Result<(Caller, Option<HeaderValue>), ApiError> {
    let metering = &state.services.metering;
    let caller = match optional_caller(state, headers).await? {
        Some(caller) => (caller, None),
        None => {
            state.limits.check_auth_ip(ip).map_err(ApiError::rate_limited)?;
            let session = metering.create_guest().await?;
            let caller = metering.identify(&session.token).await?.ok_or_else(|| ApiError::internal("a new guest session is missing"))?;
            (caller, Some(session_cookie(metering, &session)))
        }
    };
    state.limits.check_account(&caller.0.account.id).map_err(ApiError::rate_limited)?;
    Ok(caller)
}

/// The product's words for a spent code-view quota.
fn exhausted_message(e: &Exhausted) -> String {
    match e.action {
        Action::Register => match e.offer {
            Some(n) => format!(
                "0 code page views remaining. Guest accounts are limited to {} page view{}. Register a free account to get {n} more views a month.",
                e.limit,
                if e.limit == 1 { "" } else { "s" }
            ),
            None => e.message(),
        },
        Action::Upgrade => e.message(),
    }
}

pub async fn code_page(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, Path(code): Path<String>) -> Response {
    if !shape::plausible(&code) {
        return notice(&state, StatusCode::BAD_REQUEST, "Not a code", &format!("{code:?} is not shaped like a CPT, HCPCS or ICD-10-CM code."), json!({}));
    }
    if !state.is_ready() {
        return error_page(&state, ApiError::not_ready());
    }
    let (caller, cookie) = match page_caller(&state, &headers, ip).await {
        Ok(c) => c,
        Err(e) => return error_page(&state, e),
    };
    let mut response = match code_view(&state, &caller, &headers, &code).await {
        Ok(r) => r,
        Err(e) => error_page(&state, e),
    };
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn code_view(state: &AppState, caller: &Caller, headers: &HeaderMap, code: &str) -> Result<Response, ApiError> {
    let (record, remaining) = match view_code(state, caller, headers, code).await {
        Ok(Ok(viewed)) => viewed,
        Ok(Err(exhausted)) => {
            let register = exhausted.action == Action::Register;
            let message = exhausted_message(&exhausted);
            return Ok(notice(state, StatusCode::PAYMENT_REQUIRED, "No code page views left", &message, json!({"register": register})));
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            let matches = close_matches(state, code).await;
            let message = format!("{code} is not in codecite's code tables (CPT summaries, HCPCS Level II, ICD-10-CM, modifiers) nor among the CMS valid code numbers. It may be mistyped, or a code that was never issued.");
            return Ok(notice(state, StatusCode::NOT_FOUND, &format!("No code {code}"), &message, json!({"matches": matches})));
        }
        Err(e) => return Err(e),
    };
    let context = code_context(state, record, remaining).await?;
    Ok(render(state, StatusCode::OK, "code.html", context, true))
}

/// What the code template shows: the record, its relationships, guideline notes and NCCI pairs.
async fn code_context(state: &AppState, record: Value, remaining: Option<i64>) -> Result<Value, ApiError> {
    let code = record["code"].as_str().unwrap_or_default().to_string();
    let system: Option<CodeSystem> = serde_json::from_value(record["system"].clone()).ok();
    let title = record["title"].as_str().unwrap_or_default().to_string();
    let deleted = record["deleted_year"].is_number() || record["validity"]["last_valid"].is_string();
    let deleted_label = record["deleted_year"].as_i64().map(|y| y.to_string()).or_else(|| record["validity"]["last_valid"].as_str().map(|d| format!("after {d}")));
    let mut primaries: Vec<String> = serde_json::from_value(record["primary_codes"].clone()).unwrap_or_default();
    for c in serde_json::from_value::<Vec<String>>(record["cms_primary_codes"].clone()).unwrap_or_default() {
        if !primaries.contains(&c) {
            primaries.push(c);
        }
    }
    let procedure = matches!(system, Some(CodeSystem::Cpt | CodeSystem::Hcpcs));
    let (ncci, ncci_total) = if procedure { state.services.codes.ncci_pairs(&code, 50).await? } else { (vec![], 0) };
    let ncci_version = state.services.codes.reference_version("ncci").await?.unwrap_or_default();
    let guidelines = if title.is_empty() {
        vec![]
    } else {
        let request = SearchRequest { query: format!("{code} {title}"), limit: Some(3), system: Some(CodeSystem::Guideline), mode: SearchMode::Hybrid, ..Default::default() };
        state.services.retriever.search(&request).await?
    };
    let children: Vec<Value> = if record["category"] == true {
        state.services.codes.codes_under(&code, 100).await?.into_iter().map(|(c, t)| json!({"code": c, "title": t})).collect()
    } else {
        vec![]
    };
    let licensed = record["source"].as_str().is_some_and(|s| s.contains("licensed"));
    Ok(json!({
        "code": record,
        "system_label": system.map(CodeSystem::label).unwrap_or("Code"),
        "deleted": deleted,
        "deleted_label": deleted_label,
        "primaries": primaries,
        "guidelines": guidelines.iter().map(|g| json!({"title": g.title, "snippet": after_title(&g.snippet, &g.title)})).collect::<Vec<_>>(),
        "ncci": ncci,
        "ncci_total": ncci_total,
        "ncci_version": ncci_version,
        "remaining": remaining,
        "licensed": licensed,
        "children": children,
        "note": record["note"],
        "query": "",
    }))
}

/// Codes near an unknown one: what search finds for it and for its parent.
async fn close_matches(state: &AppState, code: &str) -> Vec<Value> {
    let bare: String = code.trim().chars().filter(|c| *c != '.').collect::<String>().to_ascii_uppercase();
    let mut queries = vec![code.to_string()];
    if bare.len() > 3 && bare.is_ascii() {
        queries.push(icd_form(&bare[..bare.len() - 1]));
    }
    let mut seen: Vec<Value> = vec![];
    for query in queries {
        let request = SearchRequest { query, limit: Some(6), ..Default::default() };
        let Ok(hits) = state.services.retriever.search(&request).await else { continue };
        for hit in hits.iter().filter(|h| h.code.is_some()) {
            let shown = hit_json(hit);
            if !seen.iter().any(|s| s["code"] == shown["code"]) && seen.len() < 8 {
                seen.push(shown);
            }
        }
    }
    seen
}

fn hit_json(hit: &SearchHit) -> Value {
    json!({
        "code": hit.code,
        "label": hit.system.label(),
        "title": hit.title,
        "snippet": after_title(&hit.snippet, &hit.title),
        "exact": hit.match_kind == MatchKind::Exact,
    })
}

/// A snippet without the "SYSTEM CODE: title" lead the page already shows.
fn after_title<'a>(snippet: &'a str, title: &str) -> &'a str {
    match snippet.find(title) {
        Some(at) if !title.is_empty() && at <= 40 => snippet[at + title.len()..].trim_start_matches([' ', ':', '.', '—']),
        _ => snippet,
    }
}

#[derive(Deserialize)]
pub struct SearchPageParams {
    q: Option<String>,
    system: Option<String>,
}

pub async fn search_page(State(state): State<AppState>, Query(params): Query<SearchPageParams>) -> Response {
    let query = params.q.unwrap_or_default().trim().to_string();
    let system_value = params.system.unwrap_or_default();
    let systems: Vec<Value> = CodeSystem::ALL.iter().map(|s| json!({"value": s.as_str(), "label": s.label()})).collect();
    let mut context = json!({"query": query, "system": system_value, "systems": systems, "hits": []});
    if query.is_empty() {
        return render(&state, StatusCode::OK, "search.html", context, false);
    }
    let system = match system_value.as_str() {
        "" => None,
        s => match s.parse::<CodeSystem>() {
            Ok(s) => Some(s),
            Err(e) => {
                context["error"] = json!(e.to_string());
                return render(&state, StatusCode::BAD_REQUEST, "search.html", context, false);
            }
        },
    };
    context["system_label"] = json!(system.map(CodeSystem::label));
    let request = SearchRequest { query, limit: Some(25), system, mode: SearchMode::Hybrid, ..Default::default() };
    let retriever = &state.services.retriever;
    if let Err(e) = retriever.validate(&request) {
        context["error"] = json!(e.to_string());
        return render(&state, StatusCode::BAD_REQUEST, "search.html", context, false);
    }
    if !state.is_ready() {
        return error_page(&state, ApiError::not_ready());
    }
    match retriever.search(&request).await {
        Ok(hits) => {
            context["hits"] = json!(hits.iter().map(hit_json).collect::<Vec<_>>());
            render(&state, StatusCode::OK, "search.html", context, false)
        }
        Err(e) => error_page(&state, e.into()),
    }
}

/// A stylesheet or script, by content hash: cached for a year, since its URL changes with it.
pub async fn asset(State(state): State<AppState>, Path((hash, name)): Path<(String, String)>) -> Response {
    match state.web.asset(&hash, &name) {
        Some(a) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type)), (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"))],
            a.body.clone(),
        )
            .into_response(),
        None => ApiError::not_found("no such asset").into_response(),
    }
}

/// The embeddable widget, at a fixed URL (so sites can link it): revalidated every 5 minutes.
pub async fn widget(State(state): State<AppState>) -> Response {
    let w = state.web.widget();
    let etag = HeaderValue::from_str(&format!("\"{}\"", w.hash)).expect("hex is a valid header");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(w.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
            (header::ETAG, etag),
        ],
        w.body.clone(),
    )
        .into_response()
}
