//! Spin's Redis trigger: a component exporting `fermyon:spin/inbound-redis` (the Spin SDKs up
//! to 5.x, `#[redis_component]`) or `spin:redis/inbound-redis@3.0.0` (Spin SDK 7,
//! `#[redis_subscriber]`) is called with each message published on the channels its app's
//! `[[trigger.redis]]` name, a fresh instance per message, as Spin calls it. The app runs as a
//! command does (`skiff run`, `run -d` with its restart policy): its run is the subscription,
//! which ends when a server goes away. The subscription is made by the runtime under the app's
//! network grants, exactly as its own Redis connections (`super::redis`).

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use futures::{Stream, StreamExt as _};
use skiff_capabilities::RedisChannel;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasmtime::Store;
use wasmtime::component::InstancePre;

use skiff_capabilities::wasi::{GrantError, PreparedGrants};

use crate::egress::{Connector, Egress};
use crate::limits::{Guard, LimitExceeded, Usage};
use crate::load::App;
use crate::run::{ComponentHost, RunOptions, Stdio, classify};
use crate::spin::redis::Server;

mod v1 {
    wasmtime::component::bindgen!({
        path: "wit/spin",
        world: "spin-redis-trigger",
        exports: { default: async },
    });
}

/// Spin's unversioned `redis-types`, which Spin 1's outbound Redis shares.
pub use v1::fermyon::spin::redis_types;

mod v3 {
    wasmtime::component::bindgen!({
        path: "wit/spin",
        world: "spin3-redis-trigger",
        exports: { default: async | store },
        with: { "spin:redis/redis": crate::spin::bindings3::spin::redis::redis },
    });
}

/// The most of a server's messages held in the host while the app's handler is busy: beyond
/// it, the subscription reads no more and the server holds them (Redis ends a subscriber that
/// falls too far behind: `client-output-buffer-limit pubsub`, which ends the app's run as a
/// failure). A publisher, however fast, cannot take the daemon's memory from its other apps.
const MAX_BACKLOG_BYTES: usize = 64 << 20;

/// The most Redis servers one app's triggers subscribe at (a connection each).
const MAX_SERVERS: usize = 16;

/// What a message's frame may take besides its channel and payload (`*3`, `$7 message`, the
/// two lengths): released a little generously, so that the backlog's count can only err low.
const FRAME_OVERHEAD: usize = 64;

/// A component that handles Redis messages, of either SDK.
#[derive(Clone)]
pub(crate) enum RedisHandler {
    V1(v1::SpinRedisTriggerPre<ComponentHost>),
    V3(v3::Spin3RedisTriggerPre<ComponentHost>),
}

impl RedisHandler {
    /// The handler `pre` exports, checked by type; `None` if it exports none.
    pub(crate) fn of(pre: &InstancePre<ComponentHost>) -> Option<RedisHandler> {
        match v3::Spin3RedisTriggerPre::new(pre.clone()) {
            Ok(pre) => Some(RedisHandler::V3(pre)),
            Err(_) => v1::SpinRedisTriggerPre::new(pre.clone())
                .ok()
                .map(RedisHandler::V1),
        }
    }

    pub(crate) fn instance_pre(&self) -> &InstancePre<ComponentHost> {
        match self {
            RedisHandler::V1(pre) => pre.instance_pre(),
            RedisHandler::V3(pre) => pre.instance_pre(),
        }
    }

    /// Instantiates the component in `store` and calls it with `payload`: the handler's own
    /// error as `Ok(Err(..))` (empty when it tells nothing), a trap or limit as `Err`.
    pub(crate) async fn call(
        &self,
        store: &mut Store<ComponentHost>,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            RedisHandler::V1(pre) => {
                let handler = pre.instantiate_async(&mut *store).await?;
                let answer = handler
                    .fermyon_spin_inbound_redis()
                    .call_handle_message(&mut *store, &payload)
                    .await?;
                // Its error says nothing more than that (the SDK printed why on stderr).
                Ok(answer.map_err(|_| String::new()))
            }
            RedisHandler::V3(pre) => {
                let handler = pre.instantiate_async(&mut *store).await?;
                store
                    .run_concurrent(async move |accessor| {
                        let answer = handler
                            .spin_redis_inbound_redis()
                            .call_handle_message(accessor, payload)
                            .await?;
                        wasmtime::Result::Ok(answer.map_err(|e| match e {
                            v3::spin::redis::redis::Error::Other(why) => why,
                            other => format!("{other:?}"),
                        }))
                    })
                    .await?
            }
        }
    }
}

/// A message from a channel the app subscribed to, or the end of a server's subscription.
pub(crate) enum Delivery {
    Message {
        channel: String,
        payload: Vec<u8>,
    },
    /// The server closed the connection (or it broke): the subscription is over, as in Spin.
    Ended(String),
}

/// Subscribes to `channels` (one connection per server) under the app's grants, saying each on
/// `said` once it is live; the messages of all servers in the order they come.
pub(crate) async fn subscribe(
    connector: &Connector,
    channels: &[RedisChannel],
    said: &(dyn Fn(&str) + Sync),
) -> Result<Pin<Box<dyn Stream<Item = Delivery> + Send>>, String> {
    let mut by_server: BTreeMap<&str, (String, Vec<&str>)> = BTreeMap::new();
    for channel in channels {
        let server = by_server.entry(&*channel.address).or_default();
        server.0 = channel.server();
        if !server.1.contains(&&*channel.channel) {
            server.1.push(&channel.channel);
        }
    }
    // An image names its servers: each is a connection the daemon holds for it, out of the
    // descriptors all apps share.
    if by_server.len() > MAX_SERVERS {
        return Err(format!(
            "the app's Redis triggers subscribe at {} servers, more than the {MAX_SERVERS} an app \
             may: subscribe to its channels on fewer servers",
            by_server.len()
        ));
    }
    let mut streams = Vec::new();
    for (address, (shown, channels)) in by_server {
        let redis = Server::parse(address)
            .map_err(|e| format!("the Redis trigger's address `{shown}`: {e}"))?;
        let server = format!("{}:{}", redis.host, redis.port);
        let stream = redis.connect(connector, "Redis").await?;
        let info = redis.info;
        let backlog = Arc::new(Backlog::default());
        let stream = Throttled {
            inner: stream,
            backlog: backlog.clone(),
        };
        let mut pubsub = redis::aio::PubSub::new(info.redis_settings(), stream)
            .await
            .map_err(|e| format!("the Redis server at {server} refused the connection: {e}"))?;
        for channel in channels {
            pubsub.subscribe(channel).await.map_err(|e| {
                format!("cannot subscribe to the channel `{channel}` on {server}: {e}")
            })?;
            said(&format!(
                "subscribed to the Redis channel `{channel}` on {server}"
            ));
        }
        // What it read to subscribe is not messages: the count starts from here.
        backlog.taken(usize::MAX);
        let mut received = pubsub.into_on_message();
        let messages = futures::stream::poll_fn(move |cx| {
            let polled = received.poll_next_unpin(cx);
            match &polled {
                Poll::Ready(Some(message)) => {
                    let channel = message.get_channel_name();
                    let size = channel.len() + message.get_payload_bytes().len();
                    backlog.taken(size + FRAME_OVERHEAD);
                }
                Poll::Pending => backlog.drained(),
                Poll::Ready(None) => {}
            }
            polled
        })
        .map(|message| Delivery::Message {
            channel: message.get_channel_name().to_string(),
            payload: message.get_payload_bytes().to_vec(),
        });
        let ended = futures::stream::once(futures::future::ready(Delivery::Ended(server)));
        streams.push(Box::pin(messages.chain(ended)));
    }
    Ok(Box::pin(futures::stream::select_all(streams)))
}

/// Says `message` where the app's own messages from Skiff go: its log's stderr in the daemon,
/// the terminal's in the foreground.
fn say(stdio: &Stdio, message: &str) {
    match stdio.report() {
        Some(report) => report(message),
        None => eprintln!("skiff: {message}"),
    }
}

/// Runs `app`, a Redis trigger's component `id` of an app whose HTTP components serve on beside
/// it (in the daemon, the shim), until `stop` is set: an HTTP app has no run to end, so when
/// the trigger's run ends (its server gone) it is subscribed again, after a pause of 100 ms
/// doubling to 10 s (as the daemon restarts a command), said in the app's log.
pub async fn keep_subscribed(
    app: Arc<App>,
    id: String,
    options: RunOptions,
    mut stop: tokio::sync::watch::Receiver<Option<Duration>>,
) {
    let mut failures = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let mut run = options.clone();
        run.stop = Some(stop.clone());
        let ended = app.run(run).await;
        if stop.borrow().is_some() {
            return;
        }
        // A subscription that lasted starts the pauses over.
        if started.elapsed() > Duration::from_secs(60) {
            failures = 0;
        }
        let backoff = Duration::from_millis(100 << failures.min(7)).min(Duration::from_secs(10));
        failures += 1;
        let why = match ended {
            Ok(crate::Exit::Failed { message, .. }) => message,
            Ok(exit) => exit.handler_summary(),
            Err(e) => e.to_string(),
        };
        say(
            &options.stdio,
            &format!(
                "the Redis trigger of Spin component `{id}` ended: {why}; subscribing again in \
                 {backoff:?}"
            ),
        );
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(Option::is_some) => return,
        }
    }
}

impl App {
    /// A Redis trigger component's run: subscribes to its channels, then calls a fresh instance
    /// (made by `instance`, given the instance's guard) with each message, one at a time in the
    /// order they come, as Spin does. Each message's instance is held to the app's limits, as an
    /// HTTP handler's request is (`--memory`, `--cpu-time`, `--timeout`); one whose handler
    /// fails, traps or meets a limit is said in the app's log and the next one is handled. The
    /// run ends (an error) when a server goes away, or (`Ok(0)`) when it is asked to stop.
    pub(crate) async fn serve_redis(
        &self,
        handler: &RedisHandler,
        grants: &PreparedGrants,
        options: &RunOptions,
        instance: impl Fn(Guard) -> Result<Store<ComponentHost>, GrantError>,
    ) -> wasmtime::Result<i32> {
        let channels = &options.grants.redis_channels;
        if channels.is_empty() {
            wasmtime::bail!(
                "`{}` handles Redis messages (it exports Spin's `inbound-redis`), but has no \
                 channel to subscribe to: run it from its Spin app (its `spin.toml` or image), \
                 whose `[[trigger.redis]]` name the channels, and give each variable their \
                 `address` or `channel` use a value (`-e SPIN_VARIABLE_NAME=VALUE`)",
                self.name
            );
        }
        let connector = Egress {
            rule: grants.egress().clone(),
            report: options.stdio.captured_stderr(),
            ..Egress::default()
        }
        .connector();
        let mut messages = subscribe(&connector, channels, &|m| say(&options.stdio, m))
            .await
            .map_err(wasmtime::Error::msg)?;
        let max_handles = self
            .store
            .limits
            .max_resources
            .unwrap_or(crate::MAX_HANDLES);
        let mut stop = options.stop.clone();
        let stopped = async move {
            match &mut stop {
                Some(stop) => {
                    let _ = stop.wait_for(Option::is_some).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stopped);
        loop {
            let delivery = tokio::select! {
                delivery = messages.next() => delivery,
                // Between messages: nothing to finish.
                () = &mut stopped => return Ok(0),
            };
            let Some(delivery) = delivery else { break };
            let (channel, payload) = match delivery {
                Delivery::Message { channel, payload } => (channel, payload),
                Delivery::Ended(server) => {
                    wasmtime::bail!("the Redis server at {server} closed the subscription")
                }
            };
            // Each message's instance is held to the limits, as an HTTP request's: its memory,
            // its CPU time (metered apart from the run's, which counts it too) and wall clock.
            let message = Arc::new(Usage::default());
            let guard = Guard::new(&options.limits, message.clone(), self.store);
            let mut store = instance(guard)?;
            let call = message.meter_in_turns(handler.call(&mut store, payload), None, None, None);
            let answer = match options.limits.timeout {
                Some(limit) => match tokio::time::timeout(limit, call).await {
                    Ok(answer) => answer,
                    Err(_elapsed) => Err(LimitExceeded::Timeout(limit).into()),
                },
                None => call.await,
            };
            drop(store);
            let failure = match answer {
                Ok(Ok(())) => continue,
                Ok(Err(error)) if error.is_empty() => "the handler returned an error".into(),
                Ok(Err(error)) => format!("the handler returned an error: {error}"),
                Err(error) => classify(error, max_handles, None).handler_summary(),
            };
            say(
                &options.stdio,
                &format!("a message on the Redis channel `{channel}`: {failure}"),
            );
        }
        wasmtime::bail!("the Redis subscription ended")
    }
}

/// The bytes a subscription has read from its server that the app has not taken yet.
#[derive(Default)]
struct Backlog {
    bytes: AtomicUsize,
    /// The app has taken every message read whole: what is held is part of one message.
    drained: AtomicBool,
    /// The reader, waiting for the app to take some.
    reader: AtomicWaker,
}

impl Backlog {
    /// The app took a message of about `bytes` (never less than it was).
    fn taken(&self, bytes: usize) {
        self.drained.store(false, Ordering::SeqCst);
        let _ = self
            .bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                Some(held.saturating_sub(bytes))
            });
        self.reader.wake();
    }

    /// The app waits for a message and none is ready.
    fn drained(&self) {
        self.drained.store(true, Ordering::SeqCst);
        self.reader.wake();
    }

    /// Whether the reader must wait for the app: the backlog is full of whole messages.
    fn full(&self) -> bool {
        self.bytes.load(Ordering::SeqCst) >= MAX_BACKLOG_BYTES
            && !self.drained.load(Ordering::SeqCst)
    }
}

/// A subscription's connection, which reads nothing while its backlog is full.
struct Throttled<S> {
    inner: S,
    backlog: Arc<Backlog>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttled<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.backlog.full() {
            self.backlog.reader.register(cx.waker());
            if self.backlog.full() {
                return Poll::Pending;
            }
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        let held = self.backlog.bytes.fetch_add(n, Ordering::SeqCst) + n;
        // One message larger than the whole backlog may be read whole; a larger one is not.
        if held > 2 * MAX_BACKLOG_BYTES {
            return Poll::Ready(Err(io::Error::other(format!(
                "a message larger than {} MiB, the most Skiff holds for an app",
                (2 * MAX_BACKLOG_BYTES) >> 20
            ))));
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Throttled<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// Reads from `from` until it has `n` more bytes, or stalls for a second; how many it got.
    async fn read_up_to(from: &mut (impl AsyncRead + Unpin), n: usize) -> io::Result<usize> {
        let mut got = 0;
        let mut chunk = vec![0u8; 1 << 16];
        while got < n {
            let want = chunk.len().min(n - got);
            match tokio::time::timeout(Duration::from_secs(1), from.read(&mut chunk[..want])).await
            {
                Ok(read) => got += read?,
                Err(_stalled) => break,
            }
        }
        Ok(got)
    }

    /// A subscription stops reading while the app has not taken what it holds, reads on once
    /// it has, reads one message larger than the backlog whole, and refuses a larger one.
    #[tokio::test]
    async fn a_subscriptions_backlog_is_bounded() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let backlog = Arc::new(Backlog::default());
        let mut client = Throttled {
            inner: client,
            backlog: backlog.clone(),
        };
        let publisher = tokio::spawn(async move {
            let chunk = vec![b'x'; 1 << 20];
            loop {
                if server.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        // Nothing taken: it reads the backlog's worth, then waits.
        let read = read_up_to(&mut client, 3 * MAX_BACKLOG_BYTES)
            .await
            .unwrap();
        assert!(
            (MAX_BACKLOG_BYTES..MAX_BACKLOG_BYTES + (1 << 17)).contains(&read),
            "{read}"
        );
        // The app took messages of half of it: it reads about as much again.
        backlog.taken(MAX_BACKLOG_BYTES / 2);
        let more = read_up_to(&mut client, MAX_BACKLOG_BYTES).await.unwrap();
        assert!((MAX_BACKLOG_BYTES / 2..read).contains(&more), "{more}");
        // Everything taken whole but a message still being read: it reads on, up to twice the
        // backlog, beyond which the message is refused.
        backlog.drained();
        let error = read_up_to(&mut client, 3 * MAX_BACKLOG_BYTES)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("message larger than"), "{error}");
        publisher.abort();
    }
}
