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
        "plan": account.plan,
        "guest": account.is_guest(),
        "created_at": account.created_at,
    })
}

/// A new session's body, with its cookie.
async fn session_response(state: &AppState, status: StatusCode, session: NewSession) -> Result<Response, ApiError> {
    let metering = &state.services.metering;
    let max_age = (session.expires_at - metering.now_ms() + 999) / 1000;
    let cookie = session_cookie(&session.token, max_age, metering.config().cookie_secure);
    let body = json!({
        "token": session.token,
        "plan": session.account.plan,
        "account": account_json(&session.account),
        "remaining": remaining(state, &session.account).await?,
        "expires_at": session.expires_at,
    });
    Ok((status, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

pub async fn guest(State(state): State<AppState>, ClientIp(ip): ClientIp) -> Result<Response, ApiError> {
    state.limits.check_auth_ip(ip).map_err(ApiError::rate_limited)?;
    let session = state.services.metering.create_guest().await?;
    session_response(&state, StatusCode::CREATED, session).await
}

#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

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

pub async fn logout(State(state): State<AppState>, Authed(caller): Authed) -> Result<Response, ApiError> {
    let metering = &state.services.metering;
    metering.logout(&caller).await?;
    let cookie = clear_cookie(metering.config().cookie_secure);
    Ok(([(header::SET_COOKIE, cookie)], Json(json!({"status": "signed_out"}))).into_response())
}

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

#[derive(Deserialize, Default)]
struct KeyBody {
    #[serde(default)]
    name: String,
}

pub async fn create_key(State(state): State<AppState>, Authed(caller): Authed, body: Bytes) -> Result<Response, ApiError> {
    let body: KeyBody = if body.iter().all(u8::is_ascii_whitespace) {
        KeyBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body is not {{\"name\": …}}: {e}")))?
    };
    let key = state.services.metering.create_key(&caller.account, &body.name).await?;
    Ok((StatusCode::CREATED, Json(json!(key))).into_response())
}

pub async fn list_keys(State(state): State<AppState>, Authed(caller): Authed) -> Result<Json<Value>, ApiError> {
    let keys = state.services.metering.list_keys(&caller.account).await?;
    Ok(Json(json!({ "keys": keys })))
}

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

pub async fn conversations(State(state): State<AppState>, Authed(caller): Authed) -> Result<Json<Value>, ApiError> {
    let store = state.services.chat.conversations();
    let list = store.list(&caller.account.id, 200).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "conversations": list })))
}

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
