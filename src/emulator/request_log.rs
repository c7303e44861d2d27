//! One `debug` event per HTTP request (method, path, query, status), with the query's secrets
//! redacted: an embedded emulator logs through its host's subscriber, which has no redactor,
//! and client transport URLs carry the client's token (`access_token`) and connection token
//! (`id`).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

/// Query parameters whose values are never logged.
const SECRET_PARAMETERS: [&str; 2] = ["access_token", "id"];

/// Adds the request log around `app`.
pub(crate) fn with_request_log(app: Router) -> Router {
    app.layer(axum::middleware::from_fn(log_request))
}

async fn log_request(request: Request, next: Next) -> Response {
    // Nothing is copied unless someone listens.
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(redacted_query);
    let response = next.run(request).await;
    tracing::debug!(%method, path, query, status = response.status().as_u16(), "request");
    response
}

/// The query with the values of secret parameters (and of any whose name holds `token`,
/// `key` or `signature`) replaced by `<redacted>`.
pub(crate) fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .to_ascii_lowercase();
            let secret = SECRET_PARAMETERS.contains(&decoded.as_str())
                || ["token", "key", "signature"]
                    .iter()
                    .any(|word| decoded.contains(word));
            if secret && pair.contains('=') {
                format!("{name}=<redacted>")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::redacted_query;

    #[test]
    fn secrets_in_the_query_are_redacted() {
        assert_eq!(
            redacted_query("hub=chat&id=abc&access_token=eyJ.x.y&%61ccess_token=z&api-version=1"),
            "hub=chat&id=<redacted>&access_token=<redacted>&%61ccess_token=<redacted>&api-version=1"
        );
        assert_eq!(
            redacted_query("code=1&myKey=2&flag"),
            "code=1&myKey=<redacted>&flag"
        );
    }
}
