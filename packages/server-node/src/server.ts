import { randomBytes } from "node:crypto"
import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http"
import {
  type Acceptor,
  type AnyContract,
  compileContract,
  PROTOCOL_VERSION,
  registerEffectCodec,
  type ServerOffer,
  type TransportId,
  type TransportOffer,
} from "@switchyard/core"
import { effectCodec } from "@switchyard/core/effect"
import type * as Layer from "effect/Layer"
import type { BrokerEvent } from "./broker/broker.ts"
import { memoryBroker } from "./broker/memoryBroker.ts"
import { SessionCluster } from "./cluster.ts"
import { ConnectionGate } from "./gate.ts"
import { functionsOf, type Handlers } from "./handlers.ts"
import { refuseGoneLink } from "./httpAnswers.ts"
import { HttpRelay } from "./httpRelay.ts"
import { HttpRouting, normalizePath } from "./httpRouting.ts"
import { IncompleteBytes } from "./incompleteBytes.ts"
import { checkLimits, defaultLimits, type ListenOptions, type ServerLimits } from "./limits.ts"
import type { ServerOptions } from "./options.ts"
import { PeerHub, type PeerOptions } from "./peers.ts"
import { PresenceHub } from "./presence.ts"
import type { Runtime } from "./runtime.ts"
import { HandlerServices } from "./services.ts"
import { SessionQuota } from "./sessionQuota.ts"
import { SessionTable } from "./sessionTable.ts"
import { presenceHooksOf } from "./topicPolicies.ts"
import { type TopicPublishers, topicPublishers } from "./topicPublishers.ts"
import { TopicRegistry } from "./topics.ts"
import type { RunningTransport, TransportHost } from "./transport.ts"
import { resolveTransports } from "./transportList.ts"

/** A running Switchyard server. */
export interface Server<C extends AnyContract> {
  /**
   * Starts an HTTP server of its own on `port` (0, the default, picks a free one) and `host` (default:
   * every interface). Resolves to the real port and the URL a client connects to,
   * `http://<host>:<port><path>`: `localhost` for every interface, an IPv6 address in brackets. `options`
   * sets its header, request and keep-alive timeouts (docs/limits.md#http-server-timeouts). With a `layer`
   * option, it first waits for the layer to be built, and rejects if it fails to build.
   * @example const { port, url } = await server.listen(0, "127.0.0.1") // url: "http://127.0.0.1:<port>/switchyard"
   */
  listen(
    port?: number,
    host?: string,
    options?: ListenOptions,
  ): Promise<{ readonly port: number; readonly url: string }>
  /** Serves the transports on an existing HTTP server, under `options.path`. */
  attach(httpServer: HttpServer): void
  /** Hands a connection to the session runtime; for custom and in-memory transports. */
  readonly accept: Acceptor
  readonly topics: TopicPublishers<C>
  /** Sessions held now, connected or waiting to be resumed. */
  readonly sessionCount: number
  /**
   * Bytes of HTTP request bodies being read and of unfinished WebSocket messages held now, from every
   * address (bounded by `maxIncompleteBytes`; docs/limits.md#bodies-and-messages-being-read).
   */
  readonly incompleteBytes: number
  /**
   * Listens to the broker's state: `"down"` when it lost its engine (Redis), `"up"` when back
   * (docs/scaling.md#redis-faults). Returns a function that stops listening.
   * @example
   * ```ts
   * declare const metrics: { gauge(name: string, value: number): void } // the app's own
   * server.on("broker", (e) => metrics.gauge("broker_up", e.state === "up" ? 1 : 0))
   * ```
   */
  on(event: "broker", listener: (event: BrokerEvent) => void): () => void
  /**
   * Ends every session (clients see `SERVER_CLOSED` and reconnect), closes every connection, releases the
   * `layer` once the Effects and Streams it interrupted have ended, and leaves the broker.
   */
  close(): Promise<void>
}

/**
 * Creates a server whose handlers' Effects and Effect Streams may require the services of
 * `options.layer` (`R`), and only those.
 *
 * @example
 * ```ts
 * import { contract, rpc } from "@switchyard/core"
 * import { createServer } from "@switchyard/server-node"
 * import * as Context from "effect/Context"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Schema from "effect/Schema"
 *
 * class Time extends Context.Service<Time, { readonly now: Effect.Effect<number> }>()("app/Time") {}
 * const Api = contract({ rpc: { now: rpc({ input: Schema.Struct({}), output: Schema.Number }) } })
 * const server = createServer(
 *   Api,
 *   { rpc: { now: () => Time.use((time) => time.now) } },
 *   { layer: Layer.succeed(Time)({ now: Effect.sync(() => Date.now()) }) },
 * )
 * ```
 */
// A signature of its own, first, with R without a default: R is inferred from the layer alone (NoInfer: a
// handler requiring more must not widen it). With a default, or tried after the signature without a layer,
// an inline `Layer.merge(a, b)` or `layer.pipe(Layer.tap(…))` gave R = never. A has no default either, so
// that `createServer<C, Auth>(…)` (two type arguments) is always the signature without a layer.
export function createServer<C extends AnyContract, A, R>(
  contract: C,
  handlers: Handlers<C, A, NoInfer<R>>,
  options: ServerOptions<A, NoInfer<R>> & { readonly layer: Layer.Layer<R, unknown> },
): Server<C>
/**
 * Creates a server for a contract: starts each transport of `options.transports` with a `TransportHost`
 * of this server, and routes HTTP requests and upgrades on `options.path` to them.
 *
 * @example
 * ```ts
 * import { contract, rpc, stream } from "@switchyard/core"
 * import { createServer } from "@switchyard/server-node"
 * import * as Schema from "effect/Schema"
 *
 * const Api = contract({
 *   rpc: { add: rpc({ input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number }) },
 *   streams: { countdown: stream({ input: Schema.Struct({ from: Schema.Number }), item: Schema.Number }) },
 * })
 * const server = createServer(Api, {
 *   rpc: { add: ({ a, b }) => a + b },
 *   streams: { countdown: async function* ({ from }) { for (let i = from; i >= 0; i--) yield i } },
 * }, { allowedOrigins: ["http://localhost:5173"] })
 * const { url } = await server.listen(3000)
 * ```
 */
export function createServer<C extends AnyContract, A = undefined>(
  contract: C,
  handlers: Handlers<C, A>,
  options?: ServerOptions<A>,
): Server<C>
export function createServer<C extends AnyContract, A>(
  contract: C,
  handlers: object,
  // The layer is any layer (whatever it provides), only built and given to the handlers and hooks.
  options: ServerOptions<A, never> | ServerOptions<A, unknown> = {},
): Server<C> {
  const limits: ServerLimits = { ...defaultLimits, ...options.limits }
  checkLimits(limits)
  const path = normalizePath(options.path ?? "/switchyard")
  const transports = resolveTransports(options.transports, options.webrtc)
  // The server already depends on Effect (Effect handlers), so its codec is loaded at once, not on demand.
  registerEffectCodec(effectCodec)
  const compiled = compileContract(contract)
  const h = handlers as { rpc?: object; streams?: object; topics?: object }
  const topics = new TopicRegistry(
    new Set([...compiled.topics.values()].filter((t) => t.delivery === "unreliable").map((t) => t.name)),
    limits,
  )
  const onError = errorReporter(options.onError)
  // `listen()` rejects with the layer's failure, which otherwise only `onError` could hear.
  let listening = false
  const services = new HandlerServices(options.layer as Layer.Layer<unknown, unknown> | undefined, (error) => {
    if (!listening) onError(error, {})
  })
  const broker = options.broker ?? memoryBroker()
  // With node messages, this server is one node of several: sessions move, requests are relayed.
  const cluster = broker.nodes && new SessionCluster(broker.nodes, limits)
  const brokerListeners = new Set<(event: BrokerEvent) => void>()
  broker.start({
    id: broker.nodes?.nodeId ?? randomBytes(6).toString("base64url"),
    topics,
    status: (event) => {
      logBrokerEvent(event)
      for (const listener of [...brokerListeners]) hook(listener, event)
    },
    report: (error) => onError(error, {}),
  })
  topics.attach(broker.topics)
  const hook = <T extends unknown[]>(fn: ((...args: T) => void) | undefined, ...args: T) => {
    if (!fn) return
    try {
      fn(...args)
    } catch (error) {
      onError(error, {})
    }
  }

  const signalled = new Map<TransportId, RunningTransport>()
  const runtime: Runtime = {
    compiled,
    rpc: functionsOf(h.rpc, compiled.rpc.keys(), "rpc"),
    streams: functionsOf(h.streams, compiled.streams.keys(), "streams"),
    policies: presenceHooksOf(compiled, h.topics),
    limits,
    services,
    topics,
    presence: new PresenceHub(broker.presence, (error) => onError(error, {})),
    onError,
    signalled,
    accept: (link, info, signalledBy) => table.accept(link, info, signalledBy),
    peers: new PeerHub(compiled, options.peers as PeerOptions<unknown> | undefined, limits, onError, services),
    forget: (session, reason) => table.forget(session, reason),
  }
  // An in-process transport is reached without a URL, so no client is told of it.
  const offered: TransportOffer[] = transports
    .filter((t) => t.reach !== "in-process")
    .map((t) => ({ ...t.offer, id: t.id }))
  const table = new SessionTable(runtime, {
    limits,
    offered,
    peers: options.peers !== undefined,
    cluster,
    adopted: (session) => runtime.peers.join(session),
    started: (session) => {
      runtime.peers.join(session)
      hook(options.onSessionStart, { id: session.id, auth: session.auth as A })
    },
    ended: (session, reason) => hook(options.onSessionEnd, { id: session.id, auth: session.auth as A }, reason),
    quota: new SessionQuota(limits),
    identify: identifier(options.identify as ((auth: unknown) => string | undefined) | undefined, onError),
  })
  const offer: ServerOffer = { version: PROTOCOL_VERSION, transports: offered, limits: table.limits }
  const joined = cluster?.start(table)

  const gate = new ConnectionGate(options as ServerOptions<unknown>, limits, services, onError)
  const incomplete = new IncompleteBytes(limits, (request) => gate.clientAddress(request))
  const host: TransportHost = {
    limits,
    incomplete,
    accept: (link, info) => table.accept(link, info),
    admit: (request, keepRefused) => gate.admit(request, keepRefused),
    refusing: (link) => table.isRefusing(link),
    originAllowed: (request) => gate.originAllowed(request),
    onError,
    ...(cluster && { nodeId: cluster.nodeId }),
  }
  const running: RunningTransport[] = transports.map((transport) => transport.start(host))
  transports.forEach((t, i) => {
    const started = running[i]
    if (t.reach === "signalled" && started) signalled.set(t.id, started)
  })
  // With a cluster, a request of a link another node holds is relayed there first (docs/scaling.md).
  const serveLocal = (request: IncomingMessage, response: ServerResponse, query: URLSearchParams) => {
    if (!running.some((transport) => transport.request?.(request, response, query))) refuseGoneLink(response)
  }
  const relay = cluster && new HttpRelay(cluster, limits, serveLocal, incomplete)
  const routing = new HttpRouting(path, gate, relay ? [relay, ...running] : running, offer)
  let closed: Promise<void> | undefined

  const server: Server<C> = {
    accept: (link, info) => table.accept(link, info),
    topics: topicPublishers(contract, compiled, topics, runtime.presence, onError),
    get sessionCount() {
      return table.size
    },
    get incompleteBytes() {
      return incomplete.held()
    },
    attach: (httpServer) => routing.attach(httpServer),
    listen: async (port = 0, listenHost, listenOptions) => {
      listening = true
      await joined
      await services.ready
      // close() was called meanwhile: nothing is to listen (routing.listen refuses too).
      if (closed) throw new Error("switchyard: the server is closed")
      return routing.listen(port, listenHost, listenOptions)
    },
    on(_event, listener) {
      brokerListeners.add(listener)
      return () => brokerListeners.delete(listener)
    },
    close() {
      // authenticate's Effects still running are interrupted now: the layer is released only once they end.
      gate.close()
      closed ??= shutdown(table, routing, running, cluster)
        // After every session ended (its Effects and Streams interrupted), before the broker goes.
        .then(() => services.close().catch((error: unknown) => onError(error, {})))
        .then(() => broker.close())
      return closed
    },
  }
  // The layer is built from now on, once nothing above has thrown.
  services.start()
  return server
}

/**
 * Closes a server: stops taking connections first (so that clients reconnecting during shutdown are
 * refused), ends every session (each client gets its BYE), lets each transport close its links within its
 * grace period (WebSocket close handshakes, HTTP links handing over their last frames, WebRTC channels),
 * and only then stops listening.
 */
async function shutdown(
  table: SessionTable,
  routing: HttpRouting,
  running: readonly RunningTransport[],
  cluster: SessionCluster | undefined,
): Promise<void> {
  table.closing = true
  routing.closing = true
  // One node of several hands its sessions over first; only what nobody took ends (docs/scaling.md).
  // Its own HTTP server stops listening meanwhile: a balancer deals new connections to the others.
  if (cluster) void routing.stopListening()
  await cluster?.leave(table)
  table.endAll()
  await Promise.all(running.map((transport) => transport.close()))
  await routing.detach()
  await cluster?.close()
}

/** The server's `identify`, made safe: one that throws (or returns a non-string) counts against no identity. */
function identifier(
  identify: ((auth: unknown) => string | undefined) | undefined,
  onError: Runtime["onError"],
): ((auth: unknown) => string | undefined) | undefined {
  if (!identify) return undefined
  return (auth) => {
    try {
      const identity = identify(auth)
      return typeof identity === "string" ? identity : undefined
    } catch (error) {
      onError(error, {})
      return undefined
    }
  }
}

/** One log line per change of the broker's state. */
function logBrokerEvent(event: BrokerEvent): void {
  const after = event.downMs === undefined ? "" : ` after ${(event.downMs / 1000).toFixed(1)} s down`
  const line = `[switchyard] broker ${event.broker} ${event.state}${after}: ${event.reason}`
  if (event.state === "down") console.warn(line)
  else console.info(line)
}

/** The server's `onError`: a throwing hook must not take the server down nor leave the call it reports unanswered. */
function errorReporter(report: ServerOptions<unknown>["onError"]): Runtime["onError"] {
  const reportError = report ?? ((error: unknown) => console.error("[switchyard]", error))
  return (error, context) => {
    try {
      reportError(error, context)
    } catch (hookError) {
      console.error("[switchyard] onError threw", hookError)
    }
  }
}
