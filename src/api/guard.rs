//! Who may use the API, checked before any handler runs: the Host a request names (a
//! page elsewhere that resolves to this host is refused: DNS rebinding), a bearer token
//! when one is set, and a JSON content type on a POST (a cross-site "simple" form or
//! text/plain request is refused before it can trigger anything).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::config::ApiConfig;

/// What the guard checks, from the config at start.
#[derive(Debug, Clone)]
pub struct Guard {
    token: Option<String>,
    /// None: any Host (a non-loopback listener with no allow-list; the token guards it).
    hosts: Option<Vec<String>>,
}

impl Guard {
    pub fn new(api: &ApiConfig) -> Guard {
        let loopback = api.listen.ip().is_loopback();
        let hosts = (loopback || !api.allowed_hosts.is_empty()).then(|| {
            let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
                .map(String::from)
                .to_vec();
            if !api.listen.ip().is_unspecified() {
                hosts.push(match api.listen {
                    std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
                    std::net::SocketAddr::V4(a) => a.ip().to_string(),
                });
            }
            hosts.extend(api.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()));
            hosts
        });
        Guard {
            token: api.token.clone().filter(|t| !t.is_empty()),
            hosts,
        }
    }

    /// Why `request` is refused, if it is.
    fn refuse(&self, request: &Request) -> Option<ApiError> {
        let headers = request.headers();
        if let Some(hosts) = &self.hosts {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let name = host_name(host).to_ascii_lowercase();
            if !hosts.contains(&name) {
                return Some(ApiError(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Host `{host}` is not a name of this API (localhost, its address, or [api] allowed_hosts)"
                    ),
                ));
            }
        }
        if let Some(token) = &self.token {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.strip_prefix("Bearer "));
            // A read may carry the token in the console's cookie instead (a link to
            // the Flink UI sends no header); a POST never.
            let read = matches!(*request.method(), Method::GET | Method::HEAD);
            let cookie = read.then(|| cookie_token(headers)).flatten();
            // The console writes it percent-encoded (encodeURIComponent).
            let cookie =
                cookie.map(|c| percent_encoding::percent_decode_str(c).decode_utf8_lossy());
            let cookie = cookie.as_deref();
            let path = request.uri().path();
            let open = path == "/healthz" || super::console::is_asset(path);
            let right = |g: &str| same(g.as_bytes(), token.as_bytes());
            if !open && !bearer.is_some_and(right) && !cookie.is_some_and(right) {
                return Some(ApiError(
                    StatusCode::UNAUTHORIZED,
                    "a bearer token is required ([api] token; flinkd reads FLINKD_API_TOKEN)"
                        .into(),
                ));
            }
        }
        if request.method() == Method::POST {
            let json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|c| c.trim_start().starts_with("application/json"));
            if !json {
                return Some(ApiError(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "a POST takes Content-Type: application/json".into(),
                ));
            }
        }
        None
    }
}

/// The name of the cookie the web console keeps the token in.
pub const TOKEN_COOKIE: &str = "flinkd_token";

/// The token in the console's cookie, if the request has one.
fn cookie_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_COOKIE)
        .map(|(_, v)| v)
}

/// The name of a Host header's value, without its port.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// Equal, in a time that does not tell how much of the token was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match guard.refuse(&request) {
        Some(refused) => refused.into_response(),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str, method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut r = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(axum::body::Body::empty()).unwrap()
    }

    fn api(listen: &str, token: Option<&str>, hosts: &[&str]) -> ApiConfig {
        ApiConfig {
            listen: listen.parse().unwrap(),
            token: token.map(String::from),
            allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn status(g: &Guard, r: Request) -> Option<StatusCode> {
        g.refuse(&r).map(|e| e.0)
    }

    #[test]
    fn hosts_tokens_and_content_types() {
        let g = Guard::new(&api("127.0.0.1:8089", None, &["flinkd.internal"]));
        let get = |host| {
            request(
                host,
                Method::GET,
                "/api/v1/namespaces/default/deployments",
                &[],
            )
        };
        assert_eq!(status(&g, get("127.0.0.1:8089")), None);
        assert_eq!(status(&g, get("localhost:8089")), None);
        assert_eq!(status(&g, get("[::1]:8089")), None);
        assert_eq!(status(&g, get("FLINKD.internal")), None);
        assert_eq!(status(&g, get("evil.com")), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            status(&g, get("evil.com:8089")),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(status(&g, get("")), Some(StatusCode::FORBIDDEN));
        let post = |ct: &str| {
            request(
                "localhost",
                Method::POST,
                "/api/v1/namespaces/default/savepoints",
                &[("content-type", ct)],
            )
        };
        assert_eq!(
            status(&g, post("text/plain")),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(
            status(&g, post("application/x-www-form-urlencoded")),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(status(&g, post("application/json; charset=utf-8")), None);

        let g = Guard::new(&api("0.0.0.0:8089", Some("s3cret"), &[]));
        let with = |auth: &str, path: &str| {
            request(
                "10.1.2.3:8089",
                Method::GET,
                path,
                &[("authorization", auth)],
            )
        };
        assert_eq!(
            status(&g, with("Bearer s3cret", "/metrics")),
            None,
            "any Host"
        );
        assert_eq!(
            status(&g, with("Bearer s3cre", "/metrics")),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(&g, with("s3cret", "/metrics")),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(&g, with("", "/healthz")),
            None,
            "probes need no token"
        );
        // The console's page and assets hold no data: open; what they read is not.
        assert_eq!(status(&g, with("", "/")), None);
        assert_eq!(status(&g, with("", "/console/app.js")), None);
        assert_eq!(
            status(&g, with("", "/console/other")),
            Some(StatusCode::UNAUTHORIZED)
        );
        // The console's cookie carries the token for reads, never for a POST.
        let cookie = |method: Method, value: &str| {
            request(
                "10.1.2.3:8089",
                method,
                "/api/v1/namespaces/default/savepoints",
                &[("cookie", value), ("content-type", "application/json")],
            )
        };
        assert_eq!(
            status(&g, cookie(Method::GET, "a=b; flinkd_token=s3cret")),
            None
        );
        let g2 = Guard::new(&api("0.0.0.0:8089", Some("a+b/c=d"), &[]));
        assert_eq!(
            status(&g2, cookie(Method::GET, "flinkd_token=a%2Bb%2Fc%3Dd")),
            None,
            "decoded as the console encoded it"
        );
        assert_eq!(
            status(&g, cookie(Method::GET, "flinkd_token=wrong")),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(&g, cookie(Method::POST, "flinkd_token=s3cret")),
            Some(StatusCode::UNAUTHORIZED)
        );
    }
}
