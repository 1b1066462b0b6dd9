//! The HTTP surface (axum): go-judge's REST endpoints (`/run`, `/file`, `/version`) plus
//! `/health` and `/metrics`; bearer-token authentication; size caps on every body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Multipart, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::exec::{BadRequest, Runner};
use crate::metrics::{HttpLabels, Metrics};
use crate::store::{Store, StoreError};

pub struct App {
    pub runner: Runner,
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub token: Option<String>,
    pub workers: usize,
    pub max_body: usize,
    pub enforcement: hatchery_report::Enforcement,
    /// `--redis`: runs go to workers through Redis.
    pub queue: Option<Arc<crate::queue::Queue>>,
    /// `--problems`: what `/judge` judges against.
    pub problems: Option<Arc<crate::judge::Problems>>,
}

type St = Arc<App>;

fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, Json(msg.into())).into_response()
}

pub fn router(app: St) -> Router {
    let max_body = app.max_body;
    // A multipart upload carries its headers and boundaries beside the file.
    let max_upload = app.store.max_file() as usize + 64 * 1024;
    Router::new()
        .route("/run", post(run).layer(DefaultBodyLimit::max(max_body)))
        .route("/judge", post(judge).layer(DefaultBodyLimit::max(max_body)))
        .route(
            "/file",
            get(file_list)
                .post(file_add)
                .layer(DefaultBodyLimit::max(max_upload)),
        )
        .route("/file/{id}", get(file_get).delete(file_delete))
        .route("/version", get(version))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Bearer-token check (every endpoint but `/health`) and the request counter.
async fn guard(State(app): State<St>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("other".to_owned(), |m| m.as_str().to_owned());
    let resp = match &app.token {
        Some(t) if endpoint != "/health" && !authorized(&req, t) => {
            let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
        _ => next.run(req).await,
    };
    app.metrics
        .http
        .get_or_create(&HttpLabels {
            endpoint,
            code: resp.status().as_u16(),
        })
        .inc();
    resp
}

fn authorized(req: &Request, token: &str) -> bool {
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    // Compared in time independent of where they differ.
    let want = token.as_bytes();
    given.len() == want.len() && given.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

/// `POST /run`: a JSON body whatever its content type (clients such as `curl -d` send
/// another), decoded with serde's limits, answered with go-judge's array of results.
async fn run(State(app): State<St>, body: Bytes) -> Response {
    if let Some(q) = &app.queue {
        return crate::queue::run_http(q, &app.runner.shared.caps, body).await;
    }
    let req: crate::api::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    match app.runner.run(req).await {
        Ok(results) => Json(results).into_response(),
        Err(BadRequest(m)) => error(StatusCode::BAD_REQUEST, m),
    }
}

/// `POST /judge`: refused at once (400, 404) or answered with a stream of server-sent
/// events (see [`crate::judge`]).
async fn judge(State(app): State<St>, body: Bytes) -> Response {
    use crate::judge::Refusal;
    let Some(problems) = &app.problems else {
        return error(
            StatusCode::NOT_FOUND,
            "this server has no problem packages (start it with --problems DIR)",
        );
    };
    let req: crate::judge::JudgeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    let problems = problems.clone();
    let prepared = tokio::task::spawn_blocking({
        let problems = problems.clone();
        move || problems.prepare(req)
    })
    .await;
    match prepared {
        Ok(Ok(p)) => problems.start(p).into_response(),
        Ok(Err(Refusal::Bad(m))) => error(StatusCode::BAD_REQUEST, m),
        Ok(Err(Refusal::NotFound(m))) => error(StatusCode::NOT_FOUND, m),
        Ok(Err(Refusal::Internal(m))) => error(StatusCode::INTERNAL_SERVER_ERROR, m),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn file_list(State(app): State<St>) -> Response {
    Json(app.store.list()).into_response()
}

/// `POST /file`: a multipart form whose `file` field is the file (its file name kept as
/// the name `GET /file` shows); answers the new id as a JSON string.
async fn file_add(State(app): State<St>, mut form: Multipart) -> Response {
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return error(StatusCode::BAD_REQUEST, "no `file` field in the form"),
            Err(e) => return error(e.status(), e.body_text()),
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field
            .file_name()
            .map(str::to_owned)
            .unwrap_or_else(|| "file".into());
        let data = match field.bytes().await {
            Ok(b) => b,
            Err(e) => return error(e.status(), e.body_text()),
        };
        let store = app.store.clone();
        let added = tokio::task::spawn_blocking(move || store.add(&name, &data)).await;
        return match added {
            Ok(Ok(id)) => Json(id).into_response(),
            Ok(Err(e @ StoreError::TooLarge { .. })) => {
                error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            Ok(Err(e)) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                hatchery_report::error_chain(&e),
            ),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    }
}

async fn file_get(State(app): State<St>, Path(id): Path<String>) -> Response {
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || store.get(&id)).await {
        Ok(Ok((name, data))) => {
            // The name a client gave, made safe for the header.
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let disp = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    ),
                    (header::CONTENT_DISPOSITION, disp),
                ],
                data,
            )
                .into_response()
        }
        Ok(Err(e @ StoreError::NotFound(_))) => error(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            hatchery_report::error_chain(&e),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn file_delete(State(app): State<St>, Path(id): Path<String>) -> Response {
    if app.store.delete(&id) {
        Json("ok").into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no file with id `{id}`"))
    }
}

async fn version(State(app): State<St>) -> Response {
    Json(serde_json::json!({
        "buildVersion": concat!("hatchery ", env!("CARGO_PKG_VERSION")),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "tier": app.runner.shared.tier.as_str(),
        "workers": app.workers,
        "enforcement": app.enforcement,
    }))
    .into_response()
}

async fn health(State(app): State<St>) -> Response {
    Json(serde_json::json!({"status": "ok", "workers": app.workers})).into_response()
}

async fn metrics(State(app): State<St>) -> Response {
    let redis = match &app.queue {
        Some(q) => q.depth().await,
        None => None,
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        app.metrics.render(redis.as_ref()),
    )
        .into_response()
}
