//! The web front end's files: HTML templates rendered on the server (minijinja, like the
//! prompts), and the stylesheet and scripts served to browsers. Everything is embedded in
//! the binary at compile time, and each asset's URL carries a hash of its content, so a
//! browser may cache it forever and still never runs a stale copy. Nothing comes from
//! another origin.
//!
//! This module knows no HTTP: `http::pages` serves what it renders.

use minijinja::Environment;
use serde::Serialize;
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../../web/static/app.css");
const CHAT_JS: &str = include_str!("../../web/static/chat.js");
const PAGE_JS: &str = include_str!("../../web/static/page.js");
const WIDGET_BOOT_JS: &str = include_str!("../../web/static/widget-boot.js");

const TEMPLATES: [(&str, &str); 5] = [
    ("base.html", include_str!("../../web/templates/base.html")),
    ("chat.html", include_str!("../../web/templates/chat.html")),
    ("code.html", include_str!("../../web/templates/code.html")),
    ("search.html", include_str!("../../web/templates/search.html")),
    ("notice.html", include_str!("../../web/templates/notice.html")),
];

/// One file served to browsers.
pub struct Asset {
    pub name: &'static str,
    pub body: String,
    pub content_type: &'static str,
    /// The first 12 hex digits of the body's SHA-256.
    pub hash: String,
}

impl Asset {
    fn new(name: &'static str, body: String, content_type: &'static str) -> Self {
        let hash = hex::encode(Sha256::digest(body.as_bytes()))[..12].to_string();
        Self { name, body, content_type, hash }
    }

    /// Where the page links it: `/static/{hash}/{name}`.
    pub fn url(&self) -> String {
        format!("/static/{}/{}", self.hash, self.name)
    }
}

/// The asset URLs a template links, as `assets.css`, `assets.chat`, `assets.page`.
#[derive(Serialize)]
struct AssetUrls {
    css: String,
    chat: String,
    page: String,
}

pub struct Web {
    env: Environment<'static>,
    assets: Vec<Asset>,
    widget: Asset,
}

impl Default for Web {
    fn default() -> Self {
        Self::new()
    }
}

impl Web {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("the embedded templates parse");
        }
        let assets = vec![
            Asset::new("app.css", CSS.into(), "text/css; charset=utf-8"),
            Asset::new("chat.js", CHAT_JS.into(), "text/javascript; charset=utf-8"),
            Asset::new("page.js", PAGE_JS.into(), "text/javascript; charset=utf-8"),
        ];
        // The widget is one script: its stylesheet (for its shadow root), the chat client
        // and its own start-up code.
        let css = serde_json::to_string(CSS).expect("a string serializes");
        let widget = Asset::new(
            "widget.js",
            format!("(function () {{\nvar CODECITE_CSS = {css};\n{CHAT_JS}\n{WIDGET_BOOT_JS}\n}})();\n"),
            "text/javascript; charset=utf-8",
        );
        Self { env, assets, widget }
    }

    /// Renders a template with `context`; every page also gets `assets`.
    pub fn render(&self, name: &str, context: serde_json::Value) -> Result<String, minijinja::Error> {
        let urls = AssetUrls { css: self.url("app.css"), chat: self.url("chat.js"), page: self.url("page.js") };
        let mut context = match context {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        context.insert("assets".into(), serde_json::to_value(urls).expect("urls serialize"));
        self.env.get_template(name)?.render(context)
    }

    /// The asset `name` when `hash` is its current hash.
    pub fn asset(&self, hash: &str, name: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.name == name && a.hash == hash)
    }

    pub fn widget(&self) -> &Asset {
        &self.widget
    }

    fn url(&self, name: &str) -> String {
        self.assets.iter().find(|a| a.name == name).map(Asset::url).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_link_hashed_assets_and_escape_what_they_show() {
        let web = Web::new();
        let html = web.render("notice.html", serde_json::json!({"heading": "No code <b>X</b>", "message": "m"})).unwrap();
        assert!(html.contains("No code &lt;b&gt;X&lt;") && !html.contains("<b>X"), "{html}");
        let css = web.assets.iter().find(|a| a.name == "app.css").unwrap();
        assert!(html.contains(&css.hash), "{html}");
        assert!(web.asset(&css.hash, "app.css").is_some());
        assert!(web.asset("000000000000", "app.css").is_none());
        assert!(web.widget().body.contains("CODECITE_CSS") && web.widget().body.contains("mountChat"));
    }
}
