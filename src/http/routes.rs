//! Routes and their handlers. The metered routes (`/api/chat`, `/api/codes/{code}`) take
//! an [`Authed`] caller and reserve a unit before any work; everything else is open and
//! only rate-limited.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::error_handling::HandleErrorLayer;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::BoxError;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::StatusInRangeAsFailures;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::openapi::ErrorBody;
use serde_json::{json, Value};

use super::{accounts, email, openai, pages};
use super::auth::{limit_ip, Authed};
use super::ApiError;
use crate::app::AppState;
use crate::metering::{Caller, Exhausted, Meter, Reservation};
use crate::telemetry;
use crate::chat::{ChatEvent, ChatRequest};
use crate::codes::{lookup_forms, shape, CodeSystem};
use crate::store::StoreError;
use crate::retrieval::{SearchMode, SearchRequest};

pub fn router(state: AppState) -> Router {
    let limits = state.services.config.limits.clone();
    // Refused with a 413 past the configured size, read up to one byte more to know.
    let email_body_limit = state.services.config.email.max_message_bytes.saturating_add(1);
    let router = Router::new()
        .route("/", get(pages::chat_page))
        .route("/codes/{code}", get(pages::code_page))
        .route("/search", get(pages::search_page))
        .route("/widget.js", get(pages::widget))
        .route("/static/{hash}/{name}", get(pages::asset))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/api/openapi.json", get(super::openapi::document))
        .route("/readyz", get(readyz))
        .route("/api/search", get(search))
        .route("/api/codes/{code}", get(code))
        .route("/api/chat", post(chat))
        .route("/api/ncci", get(ncci))
        .route("/api/stats", get(stats))
        .route("/api/guest", post(accounts::guest))
        .route("/api/register", post(accounts::register))
        .route("/api/login", post(accounts::login))
        .route("/api/logout", post(accounts::logout))
        .route("/api/me", get(accounts::me))
        .route("/api/keys", get(accounts::list_keys).post(accounts::create_key))
        .route("/api/keys/{id}", delete(accounts::delete_key))
        .route("/api/conversations", get(accounts::conversations))
        .route("/api/conversations/{id}", get(accounts::conversation).delete(accounts::delete_conversation))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{model}", get(openai::model_by_id))
        .route("/v1/chat/completions", post(openai::completions).layer(DefaultBodyLimit::max(openai::MAX_BODY_BYTES)))
        .route("/api/inbound/email", post(email::inbound).layer(DefaultBodyLimit::max(email_body_limit)))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit_ip))
        .layer(axum::middleware::from_fn(record_metrics))
        // Requests are small JSON; anything larger is refused with a 413.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A handler that panics answers a JSON 500 instead of dropping the connection.
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("a request handler panicked").into_response()))
        // Bounded work: at most so many requests at once (the rest shed with a 503), each
        // answered within the request timeout.
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: BoxError| async move { shed(e) }))
                .load_shed()
                // Global: axum applies router layers to each route, and one budget is shared.
                .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight_requests.max(1)))
                .timeout(Duration::from_secs(limits.request_timeout_secs.max(1))),
        )
        // Every request gets an id (or keeps the one it came with): on its log lines, in the
        // `x-request-id` response header. Only 500–502 are logged as failures: a 503 while
        // starting up, shedding load or timing out is expected, and 500s log themselves.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new(StatusInRangeAsFailures::new(500..=502).into_make_classifier()).make_span_with(|request: &Request<Body>| {
                let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Outside every layer that can answer an error, so that all of them reach /v1
        // clients in OpenAI's shape.
        .layer(axum::middleware::from_fn(openai::errors));
    // Outermost, so that preflight requests are answered before anything else runs.
    let router = match cors(&state.services.config.web.cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router.with_state(state)
}

/// Counts and times every request by its route (`/api/codes/{code}`, not the code).
async fn record_metrics(request: Request<Body>, next: axum::middleware::Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(telemetry::HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status).increment(1);
    metrics::histogram!(telemetry::HTTP_DURATION, "route" => route, "method" => method).record(started.elapsed().as_secs_f64());
    response
}

/// Prometheus scrape target.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub(super) async fn metrics_text() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], telemetry::render())
}

/// The response for a request the limits refused.
fn shed(e: BoxError) -> ApiError {
    if e.is::<tower::load_shed::error::Overloaded>() {
        ApiError::overloaded("the server is handling as many requests as it takes; try again in a moment")
    } else if e.is::<tower::timeout::error::Elapsed>() {
        ApiError::overloaded("the request took too long and was stopped; try again")
    } else {
        ApiError::internal(e)
    }
}

/// The CORS policy for the origins that embed the widget: bearer tokens, never cookies.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| match HeaderValue::from_str(o.trim_end_matches('/')) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::warn!(origin = %o, "ignoring a CORS origin that is not a valid header value");
                    None
                }
            })
            .collect();
        AllowOrigin::list(list)
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")])
            .expose_headers([QUOTA_HEADER, header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
}

/// The largest request body accepted: a question is at most 2,000 characters.
const MAX_BODY_BYTES: usize = 64 * 1024;

const QUOTA_HEADER: HeaderName = HeaderName::from_static("x-quota-remaining");

/// Reserves one unit of `meter` for the caller, or says the quota is spent (each caller
/// words that its own way). An `Idempotency-Key` header makes a repeat of an already paid
/// request free.
async fn try_reserve(
    state: &AppState,
    caller: &Caller,
    meter: Meter,
    headers: &HeaderMap,
    detail: &str,
) -> Result<Result<Reservation, Exhausted>, ApiError> {
    let key = idempotency_key(headers).map_err(ApiError::bad_request)?;
    Ok(state.services.metering.reserve(&caller.account, meter, key, detail).await?)
}

/// The `Idempotency-Key` header, when sent; what is wrong with it, when malformed.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => match v.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255) {
            Some(key) => Ok(Some(key)),
            None => Err("Idempotency-Key must be 1 to 255 visible ASCII characters"),
        },
    }
}

/// `X-Quota-Remaining`, when the plan has a limit.
pub(super) fn quota_header(remaining: Option<i64>) -> Option<(HeaderName, HeaderValue)> {
    remaining.map(|n| (QUOTA_HEADER, HeaderValue::from(n)))
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up")))]
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Ingested and ready"), (status = 503, description = "Starting up, shedding load (see Retry-After), or the vector store cannot answer (named, with its error)", body = ErrorBody)))]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    // A store that cannot answer takes this instance out of a load balancer's rotation. The
    // probe is public, so it says what kind of failure it is; the store's own words (peer
    // addresses among them) go to the log.
    let chunks = state.services.store.count().await.map_err(|e| {
        tracing::warn!(store = %state.services.store.location(), error = %e, "readiness: the vector store cannot answer");
        let what = match e {
            StoreError::Unavailable(_) => "unreachable, or a shard has no live replica",
            _ => "it answered with an error",
        };
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", format!("the vector store cannot answer: {what}; the log has the details"))
    })?;
    Ok(Json(json!({"status": "ready", "chunks": chunks})))
}

/// Every parameter arrives as text so that a bad value gets our JSON error, not axum's.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchParams {
    /// The query: words, codes, or both.
    q: Option<String>,
    /// Results, 1–50 (default 10).
    limit: Option<String>,
    /// CPT, HCPCS, ICD10CM, MODIFIER or GUIDELINE.
    system: Option<String>,
    /// hybrid (default), dense or bm25.
    mode: Option<String>,
}

#[utoipa::path(get, path = "/api/search", tag = "search", params(SearchParams), responses((status = 200, description = "Hits: named codes first, then hybrid results"), (status = 400, description = "Bad input", body = ErrorBody), (status = 503, description = "Starting up, or shedding load; see Retry-After", body = ErrorBody)))]
pub(super) async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = match params.limit.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| ApiError::bad_request(format!("limit {s:?} is not a number")))?),
    };
    let system = match params.system.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<CodeSystem>().map_err(|e| ApiError::bad_request(e.to_string()))?),
    };
    let mode = match params.mode.as_deref().filter(|s| !s.is_empty()) {
        None => SearchMode::Hybrid,
        Some(s) => s.parse::<SearchMode>()?,
    };
    let request = SearchRequest { query: params.q.unwrap_or_default(), limit, system, mode, ..Default::default() };
    let retriever = &state.services.retriever;
    retriever.validate(&request)?;
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    let hits = retriever.search(&request).await?;
    Ok(Json(json!({"hits": hits})))
}

/// A code record, metered as a code view: charged when the record is sent, refunded when
/// there is none to send.
#[utoipa::path(get, path = "/api/codes/{code}", tag = "codes", params(("code" = String, Path, description = "A CPT, HCPCS, ICD-10-CM code or modifier")), security(("bearer" = [])), responses((status = 200, description = "The code record; X-Quota-Remaining"), (status = 400, description = "Bad input", body = ErrorBody), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody), (status = 402, description = "The quota is spent: meter, action, resets_at", body = ErrorBody), (status = 404, description = "Not found (also another account's)", body = ErrorBody), (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody)))]
pub(super) async fn code(
    State(state): State<AppState>,
    Authed(caller): Authed,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    if !shape::plausible(&code) {
        return Err(ApiError::bad_request(format!("{code:?} is not shaped like a code")));
    }
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    let (record, remaining) = view_code(&state, &caller, &headers, &code).await?.map_err(|e| ApiError::quota_exhausted(&e))?;
    let mut response = Json(record).into_response();
    if let Some((name, value)) = quota_header(remaining) {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

/// One metered code view, for the API and the code pages alike: reserve a unit, look the
/// code up, then charge when there is a record to send and refund when there is not (a
/// `404` or an error). Gives the record and the views left.
pub(super) async fn view_code(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    code: &str,
) -> Result<Result<(Value, Option<i64>), Exhausted>, ApiError> {
    let reservation = match try_reserve(state, caller, Meter::CodeViews, headers, &format!("code {code}")).await? {
        Ok(r) => r,
        Err(exhausted) => return Ok(Err(exhausted)),
    };
    let found = code_record(state, code).await;
    match &found {
        Ok(_) => reservation.charge().await?,
        Err(_) => reservation.refund().await?,
    };
    Ok(Ok((found?, reservation.remaining())))
}

/// What the code tables know of a code, or a `404`.
async fn code_record(state: &AppState, code: &str) -> Result<Value, ApiError> {
    let codes = &state.services.codes;
    let forms = lookup_forms(code);
    if let Some(stored) = codes.get(&forms).await? {
        return serde_json::to_value(stored).map_err(ApiError::internal);
    }
    // A real CPT or HCPCS code number without a summary of ours: what the CMS tables know.
    for form in &forms {
        if let Some(validity) = codes.validity(form).await? {
            let primaries = codes.addon_primaries(form).await?;
            return Ok(json!({
                "system": validity.system,
                "code": form,
                "title": null,
                "validity": validity,
                "cms_primary_codes": primaries,
                "note": "a valid code number in the CMS code editor tables; codecite has no summary of it (CPT descriptors are licensed by the AMA)",
            }));
        }
    }
    // An ICD-10-CM category (E11, S72.0): a real code that is not billable on its own.
    for form in &forms {
        if let Some(title) = codes.icd_category(form).await? {
            return Ok(json!({
                "system": CodeSystem::Icd10Cm,
                "code": form,
                "title": title,
                "category": true,
                "description": "An ICD-10-CM category, not a billable code: report one of the more specific codes under it.",
            }));
        }
    }
    Err(ApiError::not_found(format!("no code {code} in the code tables")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct NcciParams {
    /// A CPT or HCPCS code.
    c1: Option<String>,
    /// Another one.
    c2: Option<String>,
}

/// The NCCI procedure-to-procedure edit between two codes, in either order.
#[utoipa::path(get, path = "/api/ncci", tag = "codes", params(NcciParams), responses((status = 200, description = "The edit: column1, column2, modifier_allowed, edit_set, version"), (status = 400, description = "Bad input", body = ErrorBody), (status = 404, description = "Not found (also another account's)", body = ErrorBody)))]
pub(super) async fn ncci(State(state): State<AppState>, params: Result<Query<NcciParams>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let shaped = |c: &Option<String>| {
        c.as_deref()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| shape::is_procedure_code(c))
    };
    let (Some(a), Some(b)) = (shaped(&p.c1), shaped(&p.c2)) else {
        return Err(ApiError::bad_request("c1 and c2 must both be 5-character CPT or HCPCS codes"));
    };
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    match state.services.codes.ncci(&a, &b).await? {
        Some(edit) => Ok(Json(serde_json::to_value(edit).map_err(ApiError::internal)?)),
        None => Err(ApiError::not_found(format!("no NCCI edit pairs {a} and {b} in the hospital outpatient (I/OCE) table"))),
    }
}

/// Counts of what is loaded.
#[utoipa::path(get, path = "/api/stats", tag = "codes", responses((status = 200, description = "Counts of what is loaded")))]
pub(super) async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let services = &state.services;
    let counts = services.codes.counts().await?;
    let codes: serde_json::Map<String, Value> = [CodeSystem::Cpt, CodeSystem::Hcpcs, CodeSystem::Icd10Cm, CodeSystem::Modifier]
        .iter()
        .map(|s| (s.as_str().to_string(), json!(counts.get(s).copied().unwrap_or(0))))
        .collect();
    Ok(Json(json!({
        "codes": codes,
        "guidelines": services.codes.reference_count("guideline_notes").await?,
        "chunks": services.store.count().await.map_err(ApiError::internal)?,
        "ncci_pairs": services.codes.reference_count("ncci").await?,
        "valid_code_numbers": services.codes.reference_count("validity").await?,
        "addon_edits": services.codes.reference_count("addons").await?,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ChatBody {
    question: String,
    conversation_id: Option<String>,
}

/// Streams an answer as Server-Sent Events. Everything that can be refused (credentials,
/// bad JSON, an empty or overlong question, another account's conversation, a spent quota)
/// is refused with a JSON 4xx before the stream opens, and before any quota is reserved.
#[utoipa::path(post, path = "/api/chat", tag = "chat", request_body = ChatBody, security(("bearer" = [])), responses((status = 200, description = "Server-Sent Events: meta, sources, delta, citation, then done or error", content_type = "text/event-stream"), (status = 400, description = "Bad input", body = ErrorBody), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody), (status = 402, description = "The quota is spent: meter, action, resets_at", body = ErrorBody), (status = 404, description = "Not found (also another account's)", body = ErrorBody), (status = 413, description = "Body over 64 KiB", body = ErrorBody), (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody), (status = 503, description = "Starting up, or shedding load; see Retry-After", body = ErrorBody)))]
pub(super) async fn chat(
    State(state): State<AppState>,
    Authed(caller): Authed,
    headers: HeaderMap,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(body) = body.map_err(ApiError::rejected)?;
    let request = ChatRequest {
        question: body.question,
        conversation_id: body.conversation_id,
        account_id: Some(caller.account.id.clone()),
        history: None,
    };
    let (events, remaining) = start_metered(&state, &caller, &headers, request).await?;
    let stream = ReceiverStream::new(events).map(|e: ChatEvent| Ok(sse_event(&e)));
    let mut response = sse_response(&state, stream);
    if let Some((name, value)) = quota_header(remaining) {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

/// Starts a metered answer that streams to its client (`/api/chat`, `/v1` with `stream`):
/// everything that can refuse it comes first, then room for it, then its unit. Gives the
/// events and the questions left.
pub(super) async fn start_metered(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: ChatRequest,
) -> Result<(tokio::sync::mpsc::Receiver<ChatEvent>, Option<i64>), ApiError> {
    let admitted = admit_metered(state, caller, headers, &request).await?;
    let remaining = admitted.remaining();
    Ok((state.services.chat.start_streaming(request, admitted).await?, remaining))
}

/// Room for an answer and its reserved unit (`Idempotency-Key` honoured), or the refusal.
pub(super) async fn admit_metered(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: &ChatRequest,
) -> Result<crate::chat::Admitted, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    let key = idempotency_key(headers).map_err(ApiError::bad_request)?;
    let metering = &state.services.metering;
    Ok(state.services.chat.admit_metered(metering, &caller.account, request, key, "question").await?)
}

/// An SSE response with the chat stream's headers and heartbeat.
pub(super) fn sse_response(state: &AppState, stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    let heartbeat = Duration::from_secs(state.services.config.chat.heartbeat_secs.max(1));
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"));
    (
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        sse,
    )
        .into_response()
}

fn sse_event(e: &ChatEvent) -> Event {
    Event::default().event(e.name()).data(e.data().to_string())
}
