//! The web console: one page and its script and style, embedded in the binary (no
//! build step, no Node.js), served at `/` and `/console/…`. They hold no data: the
//! script reads the public API as any client does (with the token the user gives it,
//! where one is set), so the assets need no token themselves.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("console/index.html");
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("console/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("console/app.css"),
    ),
];

/// What the page may load and do: its own assets and API, nothing else (no inline
/// script, no other origin, not framed).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Whether `path` is the console's page or one of its assets (open without a token).
pub fn is_asset(path: &str) -> bool {
    path == "/"
        || path == "/favicon.ico"
        || path
            .strip_prefix("/console/")
            .is_some_and(|a| ASSETS.iter().any(|(name, _, _)| *name == a))
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// No icon: an empty answer, so that a browser showing a proxied Flink page or a JSON
/// answer logs no error for it.
pub async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => page(content_type, body),
        None => super::ApiError(StatusCode::NOT_FOUND, "no such asset".into()).into_response(),
    }
}
