//! `POST /api/inbound/email`: a mail provider's inbound route posts a raw RFC 5322 message
//! here, with the shared secret (`email.inbound_secret`) as a bearer token or as the
//! password of HTTP basic auth (which providers put in the route's URL). The `email`
//! module decides what to do with it; this handler checks the secret and the size and
//! answers at once: `202` when a reply is on its way, `200` when none will be.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::openapi::ErrorBody;
use super::ApiError;
use crate::app::AppState;

/// Whether the request presents `secret`, compared in constant time over SHA-256 digests.
fn presents(headers: &HeaderMap, secret: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let presented = match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim().to_string(),
        Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap_or_default();
            let text = String::from_utf8_lossy(&decoded).into_owned();
            text.split_once(':').map(|(_, password)| password.to_string()).unwrap_or_default()
        }
        _ => return false,
    };
    let (a, b) = (Sha256::digest(presented.as_bytes()), Sha256::digest(secret.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[utoipa::path(post, path = "/api/inbound/email", tag = "email", request_body(content = String, content_type = "message/rfc822", description = "A raw RFC 5322 message"), security(("bearer" = [])), responses((status = 202, description = "A reply is on its way: status invited, refused (with reason) or answering (with message_id)"), (status = 200, description = "No reply: status duplicate or ignored (with reason)"), (status = 400, description = "Not an email message, or no From address", body = ErrorBody), (status = 401, description = "Missing or wrong inbound secret", body = ErrorBody), (status = 404, description = "Inbound email is not enabled", body = ErrorBody), (status = 413, description = "Over email.max_message_bytes", body = ErrorBody), (status = 503, description = "Starting up or busy: retry later", body = ErrorBody)))]
pub(super) async fn inbound(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let email = &state.services.email;
    let Some(secret) = email.inbound_secret() else {
        return Err(ApiError::not_found("inbound email is not enabled on this server (set email.inbound_secret)"));
    };
    if !presents(&headers, secret) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the inbound email secret is missing or wrong")
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"inbound email\"")));
    }
    let max = email.max_message_bytes();
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the message is over {max} bytes"));
    let body = body.map_err(|e| if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { ApiError::bad_request(e.body_text()) })?;
    if body.len() > max {
        return Err(too_large());
    }
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    let receipt = email.receive(&body).await?;
    let status = if receipt.replies() { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(receipt)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_comes_as_a_bearer_token_or_a_basic_password() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(presents(&with("Bearer s3cret"), "s3cret"));
        let basic = base64::engine::general_purpose::STANDARD.encode("provider:s3cret");
        assert!(presents(&with(&format!("Basic {basic}")), "s3cret"));
        assert!(!presents(&with("Bearer wrong"), "s3cret"));
        assert!(!presents(&with("Basic !!!"), "s3cret"));
        assert!(!presents(&HeaderMap::new(), "s3cret"));
    }
}
