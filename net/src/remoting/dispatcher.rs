//! `Dispatcher`: routes requests to handlers by request code and answers a code nobody handles
//! with REQUEST_CODE_NOT_SUPPORTED, as RocketMQ's processor table does. `handler_fn` turns a
//! closure into a handler.

use std::collections::BTreeMap;
use std::fmt;
use std::future::ready;
use std::net::SocketAddr;
use std::sync::Arc;

use petrel_core::remoting::{RemotingCommand, RequestCode, ResponseCode};

use super::{ConnectionId, HandlerFuture, RequestContext, RequestHandler};

/// A `RequestHandler` that picks another handler by the request's code.
#[derive(Default)]
pub struct Dispatcher {
    /// The handler of each request code (raw, so codes Petrel has no name for can be routed).
    routes: BTreeMap<i32, Arc<dyn RequestHandler>>,
    /// Each distinct handler once, in the order first routed, so `on_connection_closed` reaches
    /// every handler exactly once and in a fixed order.
    handlers: Vec<Arc<dyn RequestHandler>>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher").field("codes", &self.routes.keys().collect::<Vec<_>>()).finish()
    }
}

impl Dispatcher {
    /// A dispatcher with no routes: it answers every request REQUEST_CODE_NOT_SUPPORTED.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes requests with `code` to `handler`.
    ///
    /// # Panics
    /// If `code` already has a handler: two handlers for one code is a wiring mistake.
    pub fn route(self, code: RequestCode, handler: Arc<dyn RequestHandler>) -> Self {
        self.route_raw(code.as_i32(), handler)
    }

    /// Routes requests with the raw `code` to `handler`; see `route`.
    pub fn route_raw(mut self, code: i32, handler: Arc<dyn RequestHandler>) -> Self {
        let known = self.handlers.iter().any(|seen| std::ptr::addr_eq(Arc::as_ptr(seen), Arc::as_ptr(&handler)));
        if !known {
            self.handlers.push(handler.clone());
        }
        let previous = self.routes.insert(code, handler);
        assert!(previous.is_none(), "request code {code} routed twice");
        self
    }
}

/// The answer to a request whose code has no handler. Names the code the way RocketMQ's remark
/// does (" request type 9999 not supported").
pub fn not_supported(request: &RemotingCommand) -> RemotingCommand {
    let name = match RequestCode::from_i32(request.code) {
        Some(code) => code.to_string(),
        None => request.code.to_string(),
    };
    let remark = format!("request type {name} not supported");
    RemotingCommand::response_to(request, ResponseCode::RequestCodeNotSupported, Some(remark))
}

impl RequestHandler for Dispatcher {
    fn handle(&self, ctx: RequestContext, request: RemotingCommand) -> HandlerFuture {
        match self.routes.get(&request.code) {
            Some(handler) => handler.handle(ctx, request),
            None => Box::pin(ready(Some(not_supported(&request)))),
        }
    }

    fn on_connection_closed(&self, connection: ConnectionId, peer: SocketAddr) {
        for handler in &self.handlers {
            handler.on_connection_closed(connection, peer);
        }
    }
}

/// A handler made of a closure; see `handler_fn`.
pub struct FnHandler<F> {
    /// The closure that answers each request.
    handle: F,
}

impl<F> RequestHandler for FnHandler<F>
where
    F: Fn(RequestContext, RemotingCommand) -> HandlerFuture + Send + Sync + 'static,
{
    fn handle(&self, ctx: RequestContext, request: RemotingCommand) -> HandlerFuture {
        (self.handle)(ctx, request)
    }
}

/// Wraps a closure as a handler (it hears nothing of closed connections):
/// `handler_fn(|_ctx, request| Box::pin(async move { Some(answer(&request)) }))`.
pub fn handler_fn<F>(handle: F) -> Arc<dyn RequestHandler>
where
    F: Fn(RequestContext, RemotingCommand) -> HandlerFuture + Send + Sync + 'static,
{
    Arc::new(FnHandler { handle })
}
