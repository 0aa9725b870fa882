//! Account routes: guest tokens, registration, sign-in, the caller's balance, API keys and
//! conversations. Handlers stay short: parse, call `metering` or the conversation store,
//! answer JSON.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::openapi::ErrorBody;
use serde_json::{json, Value};

use super::auth::{clear_cookie, optional_caller, session_cookie, Authed, ClientIp};
use super::ApiError;
use crate::app::AppState;
use crate::metering::{Account, Meter, NewSession};

/// `{questions, code_views}`: units left in the current period (`null`: no limit).
async fn remaining(state: &AppState, account: &Account) -> Result<Value, ApiError> {
    let metering = &state.services.metering;
    let mut out = serde_json::Map::new();
    for meter in Meter::ALL {
        out.insert(meter.as_str().into(), json!(metering.balance(account, meter).await?.remaining));
    }
    Ok(Value::Object(out))
}

fn account_json(account: &Account) -> Value {
    json!({
        "id": account.id,
        "email": account.email,
        "email_verified": account.email_verified_at.is_some(),
        "plan": account.plan,
        "guest": account.is_guest(),
        "created_at": account.created_at,
    })
}

/// A new session's body, with its cookie.
async fn session_response(state: &AppState, status: StatusCode, session: NewSession) -> Result<Response, ApiError> {
    let metering = &state.services.metering;
    let cookie = session_cookie(metering, &session);
    let body = json!({
        "token": session.token,
        "plan": session.account.plan,
        "account": account_json(&session.account),
        "remaining": remaining(state, &session.account).await?,
        "expires_at": session.expires_at,
    });
    Ok((status, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

#[utoipa::path(post, path = "/api/guest", tag = "accounts", responses((status = 201, description = "token, plan, account, remaining, expires_at; a session cookie"), (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody)))]
pub async fn guest(State(state): State<AppState>, ClientIp(ip): ClientIp) -> Result<Response, ApiError> {
    state.limits.check_auth_ip(ip).map_err(ApiError::rate_limited)?;
    let session = state.services.metering.create_guest().await?;
    session_response(&state, StatusCode::CREATED, session).await
}

#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    email: String,
    password: String,
}

#[utoipa::path(post, path = "/api/register", tag = "accounts", request_body = Credentials, responses((status = 201, description = "A session on the free plan; as a guest, that guest registered"), (status = 400, description = "Bad input", body = ErrorBody), (status = 409, description = "The email is taken", body = ErrorBody), (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, ApiError> {
    state.limits.check_auth_ip(ip).map_err(ApiError::rate_limited)?;
    let Json(body) = body.map_err(ApiError::rejected)?;
    let current = optional_caller(&state, &headers).await?;
    let session = state.services.metering.register(&body.email, &body.password, current.as_ref()).await?;
    session_response(&state, StatusCode::CREATED, session).await
}

#[utoipa::path(post, path = "/api/login", tag = "accounts", request_body = Credentials, responses((status = 200, description = "A new session"), (status = 401, description = "Wrong email or password", body = ErrorBody), (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, ApiError> {
    state.limits.check_auth_ip(ip).map_err(ApiError::rate_limited)?;
    let Json(body) = body.map_err(ApiError::rejected)?;
    let session = state.services.metering.login(&body.email, &body.password).await?;
    session_response(&state, StatusCode::OK, session).await
}

#[utoipa::path(post, path = "/api/logout", tag = "accounts", security(("bearer" = [])), responses((status = 200, description = "The session ended"), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, Authed(caller): Authed) -> Result<Response, ApiError> {
    let metering = &state.services.metering;
    metering.logout(&caller).await?;
    let cookie = clear_cookie(metering.config().cookie_secure);
    Ok(([(header::SET_COOKIE, cookie)], Json(json!({"status": "signed_out"}))).into_response())
}

#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("bearer" = [])), responses((status = 200, description = "Account, plan, remaining per meter, resets_at"), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, Authed(caller): Authed) -> Result<Json<Value>, ApiError> {
    let metering = &state.services.metering;
    let mut meters = serde_json::Map::new();
    for meter in Meter::ALL {
        meters.insert(meter.as_str().into(), json!(metering.balance(&caller.account, meter).await?));
    }
    let period = metering.plan(&caller.account).period;
    Ok(Json(json!({
        "account": account_json(&caller.account),
        "plan": caller.account.plan,
        "credential": caller.kind,
        "remaining": remaining(&state, &caller.account).await?,
        "resets_at": crate::metering::resets_at(period, metering.now_ms()),
        "meters": meters,
    })))
}

#[derive(Deserialize, Default, ToSchema)]
pub struct KeyBody {
    #[serde(default)]
    name: String,
}

#[utoipa::path(post, path = "/api/keys", tag = "accounts", request_body(content = Option<KeyBody>), security(("bearer" = [])), responses((status = 201, description = "id, key (shown once), name, prefix, created_at"), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody), (status = 403, description = "Guests cannot make keys", body = ErrorBody)))]
pub async fn create_key(State(state): State<AppState>, Authed(caller): Authed, body: Bytes) -> Result<Response, ApiError> {
    let body: KeyBody = if body.iter().all(u8::is_ascii_whitespace) {
        KeyBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body is not {{\"name\": …}}: {e}")))?
    };
    let key = state.services.metering.create_key(&caller.account, &body.name).await?;
    Ok((StatusCode::CREATED, Json(json!(key))).into_response())
}

#[utoipa::path(get, path = "/api/keys", tag = "accounts", security(("bearer" = [])), responses((status = 200, description = "The account's keys, by prefix"), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody)))]
pub async fn list_keys(State(state): State<AppState>, Authed(caller): Authed) -> Result<Json<Value>, ApiError> {
    let keys = state.services.metering.list_keys(&caller.account).await?;
    Ok(Json(json!({ "keys": keys })))
}

#[utoipa::path(delete, path = "/api/keys/{id}", tag = "accounts", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 204, description = "Revoked"), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody), (status = 404, description = "Not found (also another account's)", body = ErrorBody)))]
pub async fn delete_key(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.services.metering.revoke_key(&caller.account, &id).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found(format!("no API key {id} on this account"))),
    }
}

#[utoipa::path(get, path = "/api/conversations", tag = "conversations", security(("bearer" = [])), responses((status = 200, description = "The caller's conversations, newest first"), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody)))]
pub async fn conversations(State(state): State<AppState>, Authed(caller): Authed) -> Result<Json<Value>, ApiError> {
    let store = state.services.chat.conversations();
    let list = store.list(&caller.account.id, 200).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "conversations": list })))
}

#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 200, description = "One conversation with its turns"), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody), (status = 404, description = "Not found (also another account's)", body = ErrorBody)))]
pub async fn conversation(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.services.chat.conversations();
    match store.messages(&id, &caller.account.id).await.map_err(ApiError::internal)? {
        Some(messages) => Ok(Json(json!({ "id": id, "messages": messages }))),
        None => Err(ApiError::not_found(format!("no conversation {id}"))),
    }
}

#[utoipa::path(delete, path = "/api/conversations/{id}", tag = "conversations", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 204, description = "Deleted"), (status = 401, description = "No, malformed, unknown or expired credentials", body = ErrorBody), (status = 404, description = "Not found (also another account's)", body = ErrorBody)))]
pub async fn delete_conversation(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = state.services.chat.conversations();
    match store.delete(&id, &caller.account.id).await.map_err(ApiError::internal)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found(format!("no conversation {id}"))),
    }
}
