//! [`TraceLayer`] (feature `tower`): a span per request of a tower service, continuing the
//! caller's trace from its headers.

use super::extract;
use crate::context::{Context, Scoped};
use crate::trace::{CallSite, FieldValue, Outcome, Span, SpanFuture};
use core::fmt::Display;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context as TaskContext, Poll, ready};

/// The call site of the span opened for each request.
static SERVER_REQUEST: CallSite = CallSite::new(
    "keel::trace::http::server_request",
    "keel::trace::http",
    file!(),
    line!(),
);

/// A tower [`Layer`](tower_layer::Layer) that runs each request of the service it wraps in a
/// span of its own (`keel::trace::http::server_request`, with fields `http.request.method` and
/// `url.path`): a child of the caller's span when the request carries a `traceparent` (its
/// `tracestate` kept; exported as a SERVER span), a new trace's root otherwise. The service's
/// own calls, in `call` and in every poll of its future, are children of that span. The span
/// ends when the response is ready: `Ok` with the status code as its value, `Err` for a 5xx
/// status (`"HTTP 503 Service Unavailable"`) or the service's error.
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Outcome, Span, http::TraceLayer};
/// use std::convert::Infallible;
/// use std::future::{Future, Ready, ready};
/// use std::task::{Context, Poll, Waker};
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// /// The application's handler: a traced call of its own.
/// struct Orders;
/// impl Service<http::Request<()>> for Orders {
///     type Response = http::Response<String>;
///     type Error = Infallible;
///     type Future = Ready<Result<Self::Response, Infallible>>;
///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
///         Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, request: http::Request<()>) -> Self::Future {
///         static LOAD: CallSite = CallSite::new("orders::load", "orders", "orders.rs", 1);
///         Span::enter(&LOAD).finish(Outcome::Ok);
///         ready(Ok(http::Response::new(format!("orders at {}", request.uri().path()))))
///     }
/// }
///
/// let mut service = TraceLayer.layer(Orders);
/// let request = http::Request::get("/orders/7")
///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03")
///     .body(())
///     .unwrap();
/// trace::enable();
/// let (response, events) = trace::capture(|| {
///     let mut cx = Context::from_waker(Waker::noop());
///     let future = std::pin::pin!(service.call(request));
///     match future.poll(&mut cx) {
///         Poll::Ready(response) => response.unwrap(),
///         Poll::Pending => unreachable!("the handler is ready at once"),
///     }
/// });
/// assert_eq!(response.body(), "orders at /orders/7");
/// let server = events.iter().find(|e| e.name() == "keel::trace::http::server_request").unwrap();
/// let load = events.iter().find(|e| e.name() == "orders::load").unwrap();
/// assert_eq!(server.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(server.parent_id().unwrap().to_string(), "00f067aa0ba902b7");
/// assert_eq!(server.field("url.path"), Some("\"/orders/7\""));
/// assert_eq!(load.parent_id(), Some(server.span_id()));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

impl<S> tower_layer::Layer<S> for TraceLayer {
    type Service = TracedService<S>;

    fn layer(&self, inner: S) -> TracedService<S> {
        TracedService { inner }
    }
}

/// The service [`TraceLayer`] makes: `S` with a span per request.
///
/// ```
/// use keel_runtime::trace::http::{TraceLayer, TracedService};
/// use tower_layer::Layer;
/// let service: TracedService<()> = TraceLayer.layer(());
/// # drop(service);
/// ```
#[derive(Clone, Debug)]
pub struct TracedService<S> {
    inner: S,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for TracedService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Error: Display,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = TracedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let parent = extract(request.headers());
        let inner = &mut self.inner;
        let open = move || {
            let method = request.method().clone();
            let path = request.uri().path().to_string();
            let span = Span::enter_with_values(
                &SERVER_REQUEST,
                &[
                    ("http.request.method", FieldValue::Str(method.as_str())),
                    ("url.path", FieldValue::Str(&path)),
                ],
            );
            // The service's own work in `call` runs inside the span too.
            let future = inner.call(request);
            span.scope(future)
        };
        let future = match parent {
            Some(parent) => parent.clone().scope(parent.run(open)),
            None => Context::current().scope(open()),
        };
        TracedFuture { future }
    }
}

pin_project_lite::pin_project! {
    /// The future of a request [`TracedService`] serves: the service's own, polled in the
    /// request's trace and span, ending the span with the response.
    ///
    /// ```
    /// fn is_future<F: std::future::Future>() {}
    /// is_future::<keel_runtime::trace::http::TracedFuture<std::future::Ready<Result<http::Response<()>, String>>>>();
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct TracedFuture<F> {
        #[pin]
        future: Scoped<SpanFuture<F>>,
    }
}

impl<F, R, E> Future for TracedFuture<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
    E: Display,
{
    type Output = Result<http::Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let (span, result) = ready!(self.project().future.poll(cx));
        match &result {
            Ok(response) if response.status().is_server_error() => {
                span.finish(Outcome::Err(format!("HTTP {}", response.status())));
            }
            Ok(response) => span
                .finish_with_typed_value(Outcome::Ok, FieldValue::from(response.status().as_u16())),
            Err(error) => span.finish(Outcome::Err(error.to_string())),
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::Value;
    use crate::trace::{self, Event};
    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::task::Waker;
    use tower_layer::Layer;
    use tower_service::Service;

    /// Answers every request with `status`.
    struct Answer(http::StatusCode);

    impl Service<http::Request<()>> for Answer {
        type Response = http::Response<()>;
        type Error = Infallible;
        type Future = Ready<Result<http::Response<()>, Infallible>>;
        fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let mut response = http::Response::new(());
            *response.status_mut() = self.0;
            ready(Ok(response))
        }
    }

    fn serve(status: http::StatusCode, request: http::Request<()>) -> Vec<Event> {
        let mut service = TraceLayer.layer(Answer(status));
        trace::enable();
        let (answer, events) = trace::capture(|| {
            let future = core::pin::pin!(service.call(request));
            future.poll(&mut TaskContext::from_waker(Waker::noop()))
        });
        assert!(matches!(answer, Poll::Ready(Ok(ref r)) if r.status() == status));
        events
            .into_iter()
            .filter(|event| event.name() == SERVER_REQUEST.name())
            .collect()
    }

    #[test]
    fn a_request_without_traceparent_is_a_root_and_a_5xx_an_error() {
        let request = http::Request::post("/pay").body(()).unwrap();
        let events = serve(http::StatusCode::SERVICE_UNAVAILABLE, request);
        let exit = events.last().expect("the request's span");
        assert_eq!(exit.parent_id(), None, "no caller: a new trace");
        assert_eq!(
            exit.outcome(),
            Some(&Outcome::Err("HTTP 503 Service Unavailable".to_string()))
        );
        assert_eq!(events[0].field("http.request.method"), Some("\"POST\""));
        // Recorded typed: the OTLP exporter sends the strings as they are.
        assert_eq!(
            events[0].values(),
            [
                ("http.request.method", Value::Str("POST".to_string())),
                ("url.path", Value::Str("/pay".to_string())),
            ]
        );
    }

    #[test]
    fn a_request_with_traceparent_continues_it_and_records_the_status() {
        let request = http::Request::get("/")
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
            )
            .body(())
            .unwrap();
        let events = serve(http::StatusCode::NOT_FOUND, request);
        let exit = events.last().expect("the request's span");
        assert_eq!(
            exit.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(exit.parent_id().unwrap().to_string(), "b7ad6b7169203331");
        assert_eq!(exit.trace_flags(), 3, "sampled and random, as received");
        assert_eq!(
            exit.outcome(),
            Some(&Outcome::Ok),
            "a 4xx is the caller's error"
        );
        assert_eq!(exit.field("return"), Some("404"));
        assert_eq!(exit.values(), [("return", Value::U64(404))], "an integer");
    }
}
