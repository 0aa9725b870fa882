//! The OpenAPI description of the JSON API, at `/api/openapi.json`, generated from the
//! handlers' own annotations and request types (`utoipa`). A test holds it to the routes
//! the router registers.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{accounts, email, openai, routes};

/// Every error: `{"error":{"code","message",…}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorObject,
}

/// A stable `code`, a message for people, and for some codes more fields (`meter`,
/// `remaining`, `action`, `resets_at` on a 402; `retry_after` on a 429).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorObject {
    code: String,
    message: String,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("A session token (ccs_…) or an API key (cck_…); the codecite_session cookie works too")).build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "codecite", description = "Cited, verified answers for US medical coders: search, code records, NCCI edits, streamed chat, accounts and metering."),
    paths(
        routes::healthz, routes::readyz, routes::metrics_text, routes::search, routes::code, routes::ncci, routes::stats, routes::chat,
        accounts::guest, accounts::register, accounts::login, accounts::logout, accounts::me,
        accounts::create_key, accounts::list_keys, accounts::delete_key,
        accounts::conversations, accounts::conversation, accounts::delete_conversation,
        openai::models, openai::model_by_id, openai::completions, email::inbound,
        document,
    ),
    components(schemas(ErrorBody, ErrorObject)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

/// This description.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health", responses((status = 200, description = "The OpenAPI description of this API")))]
pub(super) async fn document() -> axum::Json<serde_json::Value> {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    axum::Json(DOC.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).expect("the description serializes")).clone())
}
