//! The simulation's side of HTTP: the client document, reports, and the
//! guardrails, through hyper-util's client (the one the webhooks use), with
//! retries for what may pass and a clear stop for what cannot.

use super::*;

/// Why a request did not do what was asked.
#[derive(Debug)]
pub(super) enum Failed {
    /// Worth trying again: no answer, 408, 429, 5xx.
    Retry(String),
    /// Trying again cannot help.
    Stop(String),
    /// The ingest key was refused (401 or 403).
    Refused(String),
}

pub(super) struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Bytes,
}

pub(super) use crate::http_client::Client;

/// The server, through hyper-util's client (the one the webhooks use: http and https).
pub(super) struct Server {
    client: Client,
    base: String,
    ingest_key: String,
    token: Option<String>,
}

impl Server {
    pub(super) fn new(args: &SimulateArgs) -> Result<Server, String> {
        let client = crate::http_client::client()?;
        Ok(Server {
            client,
            base: args.url.clone(),
            ingest_key: args.ingest_key.clone(),
            token: args.token.clone(),
        })
    }

    /// One request; `Err` when no answer came (a network error or a timeout).
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(hyper::header::HeaderName, &str)],
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(USER_AGENT, USER_AGENT_VALUE);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|error| format!("building the request for {path}: {error}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| format!("{}{path}: {}", self.base, error_chain(&error)))?;
            let status = response.status();
            let etag = response
                .headers()
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|error| format!("{}{path}: reading the answer: {error}", self.base))?
                .to_bytes();
            Ok(Answer { status, etag, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "{}{path}: no answer within {} s",
                    self.base,
                    REQUEST_TIMEOUT.as_secs()
                ))
            })
    }

    /// The environment's client document, unless it is unchanged since `etag`.
    pub(super) async fn client_document(
        &self,
        environment: &str,
        etag: Option<&str>,
    ) -> Result<Option<(Evaluator, Option<String>)>, Failed> {
        let path = format!("/client/{environment}.json");
        let headers: Vec<_> = etag.map(|e| (IF_NONE_MATCH, e)).into_iter().collect();
        let answer = self
            .send(Method::GET, &path, &headers, Bytes::new())
            .await
            .map_err(Failed::Retry)?;
        match answer.status {
            StatusCode::NOT_MODIFIED => Ok(None),
            StatusCode::OK => {
                let text = std::str::from_utf8(&answer.body).map_err(|_| {
                    Failed::Stop(format!("{path}: the client document is not UTF-8"))
                })?;
                let evaluator = Evaluator::from_json(text).map_err(|invalid| {
                    Failed::Stop(format!(
                        "{path}: the client document does not read: {}",
                        invalid.0.first().map_or(String::new(), ToString::to_string)
                    ))
                })?;
                Ok(Some((evaluator, answer.etag)))
            }
            StatusCode::NOT_FOUND => Err(Failed::Stop(format!(
                "--env: the server has no client document for '{environment}' (no rollout has that environment)"
            ))),
            status => Err(judge(status, &path, &answer.body)),
        }
    }

    /// Posts one batch; `Ok` once the server took all of it.
    pub(super) async fn post_counts(&self, body: Bytes) -> Result<(), Failed> {
        let authorization = format!("Bearer {}", self.ingest_key);
        let headers = [
            (AUTHORIZATION, authorization.as_str()),
            (CONTENT_TYPE, "application/json"),
        ];
        let answer = self
            .send(Method::POST, "/api/metrics", &headers, body)
            .await
            .map_err(Failed::Retry)?;
        match answer.status {
            status if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Failed::Refused(format!(
                "--ingest-key: the server refused the key ({}): it is revoked, mistyped, or not yet known to the server",
                answer.status.as_u16()
            ))),
            status => Err(judge(status, "/api/metrics", &answer.body)),
        }
    }

    /// `GET /api/guardrails/{rollout}/{env}` with the user's token, if one was given.
    pub(super) async fn guardrails(
        &self,
        rollout: &str,
        environment: &str,
    ) -> Option<Result<Value, String>> {
        let token = self.token.as_deref()?;
        let authorization = format!("Bearer {token}");
        let path = format!("/api/guardrails/{rollout}/{environment}");
        let answer = match self
            .send(
                Method::GET,
                &path,
                &[(AUTHORIZATION, authorization.as_str())],
                Bytes::new(),
            )
            .await
        {
            Ok(answer) => answer,
            Err(error) => return Some(Err(error)),
        };
        Some(if answer.status == StatusCode::OK {
            serde_json::from_slice(&answer.body).map_err(|error| format!("{path}: {error}"))
        } else {
            Err(format!("{path}: {}", describe(answer.status, &answer.body)))
        })
    }
}

/// Whether an error answer is worth a retry.
pub(super) fn judge(status: StatusCode, path: &str, body: &[u8]) -> Failed {
    let message = format!("{path}: {}", describe(status, body));
    match status.as_u16() {
        408 | 429 | 500..=599 => Failed::Retry(message),
        _ => Failed::Stop(message),
    }
}

/// An error answer in words: its status and the server's message and field.
pub(super) fn describe(status: StatusCode, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v["message"].as_str())
        .unwrap_or("");
    let field = parsed
        .as_ref()
        .and_then(|v| v["details"]["field"].as_str())
        .map(|f| format!(" (at {f})"))
        .unwrap_or_default();
    format!("{status} {message}{field}").trim_end().to_string()
}

pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// Tries `attempt` until it succeeds, stops, or `RETRY_FOR` has passed, with
/// exponential backoff between tries.
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failed>>,
{
    let started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failed::Stop(message) | Failed::Refused(message)) => return Err(message),
            Err(Failed::Retry(message)) if started.elapsed() + backoff > RETRY_FOR => {
                return Err(format!(
                    "gave up after {} s of retries: {message}",
                    RETRY_FOR.as_secs()
                ));
            }
            Err(Failed::Retry(message)) => {
                eprintln!(
                    "stagegate simulate: {message}; retrying in {} ms",
                    backoff.as_millis()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Checks the ingest key with an empty batch before the first round. A key
/// made on the command line a moment ago reaches a running server within a
/// second (it re-reads the keys file), so a refusal is retried for a while.
pub(super) async fn check_key(server: &Server) -> Result<(), String> {
    let started = Instant::now();
    loop {
        // Network errors and 5xx are retried as anywhere; a refusal is the answer.
        let refused = retrying(|| async {
            match server
                .post_counts(Bytes::from_static(b"{\"counts\":[]}"))
                .await
            {
                Ok(()) => Ok(None),
                Err(Failed::Refused(message)) => Ok(Some(message)),
                Err(other) => Err(other),
            }
        })
        .await?;
        match refused {
            None => return Ok(()),
            Some(message) if started.elapsed() >= NEW_KEY_GRACE => return Err(message),
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
