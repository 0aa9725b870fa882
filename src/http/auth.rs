//! Credentials and rate limits at the edge. A request names its account by
//! `Authorization: Bearer <session token or API key>` or by the `codecite_session` cookie
//! (the header wins). [`Authed`] resolves it for the routes that need an account and applies
//! the per-account rate limit; [`limit_ip`] applies the per-address limit to every route.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};

use super::ApiError;
use crate::app::AppState;
use crate::metering::{Caller, Metering, NewSession};

pub const SESSION_COOKIE: &str = "codecite_session";

/// What a request presented as its credential.
enum Presented {
    Nothing,
    Token(String),
    Malformed(&'static str),
}

fn presented(headers: &HeaderMap) -> Presented {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else { return Presented::Malformed("the Authorization header is not plain text") };
        return match value.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Presented::Token(token.trim().to_string())
            }
            _ => Presented::Malformed("the Authorization header is not `Bearer <token>`"),
        };
    }
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for cookie in Cookie::split_parse(value).flatten() {
            if cookie.name() == SESSION_COOKIE && !cookie.value().is_empty() {
                return Presented::Token(cookie.value().to_string());
            }
        }
    }
    Presented::Nothing
}

/// The caller's account, or a `401`; then the per-account rate limit (`429`).
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = match presented(&parts.headers) {
            Presented::Nothing => return Err(ApiError::unauthenticated()),
            Presented::Malformed(why) => return Err(ApiError::invalid_credentials(why)),
            Presented::Token(t) => t,
        };
        let Some(caller) = state.services.metering.identify(&token).await? else {
            return Err(ApiError::invalid_credentials("unknown, revoked or expired credentials"));
        };
        state.limits.check_account(&caller.account.id).map_err(ApiError::rate_limited)?;
        Ok(Authed(caller))
    }
}

/// The caller when valid credentials came along; anything else counts as none (registering
/// with a stale guest cookie simply makes a new account).
pub async fn optional_caller(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    match presented(headers) {
        Presented::Token(token) => Ok(state.services.metering.identify(&token).await?),
        Presented::Nothing | Presented::Malformed(_) => Ok(None),
    }
}

/// The client's address: the peer, or the first `X-Forwarded-For` entry when configured to
/// trust a proxy. Unknown (a request built in process) is 0.0.0.0.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.headers, parts.extensions.get::<ConnectInfo<SocketAddr>>(), state.limits.trust_forwarded_for)))
    }
}

fn client_ip(headers: &HeaderMap, peer: Option<&ConnectInfo<SocketAddr>>, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.map(|c| c.0.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Middleware: the per-address rate limit, on every route.
pub async fn limit_ip(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    let ip = client_ip(request.headers(), peer, state.limits.trust_forwarded_for);
    if let Err(wait) = state.limits.check_ip(ip) {
        return ApiError::rate_limited(wait).into_response();
    }
    next.run(request).await
}

/// `Set-Cookie` for a new session, living as long as the session does.
pub fn session_cookie(metering: &Metering, session: &NewSession) -> HeaderValue {
    let max_age = (session.expires_at - metering.now_ms() + 999) / 1000;
    cookie(&session.token, max_age, metering.config().cookie_secure)
}

/// HttpOnly, SameSite=Lax, for the whole site.
fn cookie(token: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((SESSION_COOKIE, token.to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_secs.max(0)))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a hex token makes a valid header")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_header_wins_over_the_cookie_and_bad_headers_are_named() {
        let both = headers(&[("authorization", "Bearer abc"), ("cookie", "x=1; codecite_session=def")]);
        assert!(matches!(presented(&both), Presented::Token(t) if t == "abc"));
        let by_cookie = headers(&[("cookie", "x=1; codecite_session=def")]);
        assert!(matches!(presented(&by_cookie), Presented::Token(t) if t == "def"));
        assert!(matches!(presented(&headers(&[("authorization", "Basic abc")])), Presented::Malformed(_)));
        assert!(matches!(presented(&headers(&[("authorization", "Bearer   ")])), Presented::Malformed(_)));
        assert!(matches!(presented(&HeaderMap::new()), Presented::Nothing));
        let set = cookie("ccs_1", 60, false).to_str().unwrap().to_string();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Max-Age=60"), "{set}");
    }

    #[test]
    fn forwarded_addresses_count_only_when_trusted() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7, 10.0.0.1")]);
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 9)));
        assert_eq!(client_ip(&h, Some(&peer), false), IpAddr::from([127, 0, 0, 1]));
        assert_eq!(client_ip(&h, Some(&peer), true), IpAddr::from([203, 0, 113, 7]));
        assert_eq!(client_ip(&HeaderMap::new(), None, false), IpAddr::from([0, 0, 0, 0]));
    }
}
