//! The classroom view's HTTP server (axum on its own thread's tokio
//! runtime): one page, one stream of the run's events (server-sent events),
//! and the Step button. GET only; the page's own origin only.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::hub::{self, Hub, Next};
use super::page::{self, PageConfig};

/// A running server; [`Server::finish`] ends it.
pub struct Server {
    hub: Arc<Hub>,
    url: String,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    hub: Arc<Hub>,
    /// The page, made once.
    page: String,
    /// Host headers we answer to: the bound address, and localhost on its port.
    hosts: Vec<String>,
}

impl Server {
    /// Bind `addr` and serve on a thread of its own. A non-loopback
    /// address is served (it was asked for) with a warning.
    pub fn start(addr: SocketAddr, config: PageConfig) -> anyhow::Result<Server> {
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot serve the classroom view on {addr}"))?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        if !bound.ip().is_loopback() {
            eprintln!(
                "wirelab: warning: the classroom view on {bound} can be opened from other machines: \
                 every packet's bytes are shown to whoever opens it"
            );
        }
        let hub = Hub::new();
        let port = bound.port();
        let mut hosts = vec![bound.to_string(), format!("localhost:{port}")];
        if bound.ip().is_unspecified() {
            // Any of the machine's addresses may be typed: the port is what we check.
            hosts.clear();
        }
        let shared = Arc::new(Shared {
            page: page::live_page(&config.with_token(&hub.token)),
            hub: Arc::clone(&hub),
            hosts,
        });
        let runtime = crate::sockets::runtime().map_err(|e| e.source)?;
        let stopping = Arc::clone(&hub);
        let thread = std::thread::Builder::new()
            .name("web".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = Router::new()
                        .route("/", get(page_handler))
                        .route("/events", get(events))
                        .route("/step", get(step))
                        .layer(middleware::from_fn_with_state(
                            Arc::clone(&shared),
                            own_origin_only,
                        ))
                        .with_state(shared);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stopping.stopped().await })
                        .await;
                });
            })?;
        let host = if bound.ip().is_unspecified() || bound.ip().is_loopback() {
            format!("127.0.0.1:{port}")
        } else {
            bound.to_string()
        };
        let url = format!("http://{host}/");
        Ok(Server {
            hub,
            url,
            thread: Some(thread),
        })
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The run ended. Each browser gets the rest of its stream; with `keep`
    /// the page is served (to new browsers too) until Ctrl-C or SIGTERM.
    pub fn finish(mut self, keep: bool) -> anyhow::Result<()> {
        self.hub.close();
        if keep {
            eprintln!(
                "wirelab: the classroom view stays at {} until Ctrl-C",
                self.url
            );
            let stop = crate::sockets::shutdown::Shutdown::new()?;
            stop.on_signals(None)?;
            stop.wait();
        } else {
            self.hub.wait_viewers_done(Duration::from_secs(5));
        }
        self.end();
        Ok(())
    }

    fn end(&mut self) {
        self.hub.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.end();
    }
}

/// Answers only requests addressed to this server by name: a page of
/// another site whose name resolves to 127.0.0.1 (DNS rebinding) cannot
/// read the stream.
async fn own_origin_only(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    // No names to check when bound to every address (0.0.0.0, ::).
    let ours = shared.hosts.is_empty() || shared.hosts.iter().any(|ok| ok == host);
    if !ours {
        return (StatusCode::FORBIDDEN, "wrong Host header\n").into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn page_handler(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&page::content_security_policy(true)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    (headers, shared.page.clone())
}

/// The run's events from its first, then each as it comes.
async fn events(State(shared): State<Arc<Shared>>) -> Response {
    let Some(viewer) = shared.hub.join() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} browsers are watching already\n", hub::MAX_VIEWERS),
        )
            .into_response();
    };
    let hub = Arc::clone(&shared.hub);
    let stream = line_stream(hub, viewer);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The lines as server-sent events, in order, from the run's first; ends
/// after the last line of a closed hub (or at once when the server stops).
fn line_stream(
    hub: Arc<Hub>,
    viewer: hub::Viewer,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let start = (hub, viewer, 0usize, VecDeque::<Arc<str>>::new());
    futures_util::stream::unfold(start, |(hub, viewer, mut sent, mut queue)| async move {
        if queue.is_empty() {
            match hub.next(sent).await {
                Next::Lines(lines) => {
                    sent += lines.len();
                    queue.extend(lines);
                }
                Next::End => return None,
            }
        }
        let line = queue.pop_front()?;
        Some((
            Ok(Event::default().data(&*line)),
            (hub, viewer, sent, queue),
        ))
    })
}

#[derive(serde::Deserialize)]
struct StepQuery {
    token: String,
}

async fn step(State(shared): State<Arc<Shared>>, Query(q): Query<StepQuery>) -> StatusCode {
    if q.token != shared.hub.token {
        return StatusCode::FORBIDDEN;
    }
    shared.hub.step();
    StatusCode::NO_CONTENT
}
