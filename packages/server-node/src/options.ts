import type { IncomingMessage } from "node:http"
import type { ErrorCode, TransportId } from "@switchyard/core"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { Broker } from "./broker/broker.ts"
import type { ServerLimits } from "./limits.ts"
import type { PeerOptions } from "./peers.ts"
import type { ServerTransport } from "./transport.ts"

/**
 * Options of `createServer`. `A`: what `authenticate` returns (`ctx.auth`); `R`: the services `layer`
 * provides to the handlers' Effects and Streams, and to the Effects of `authenticate`, `peers.authorize`
 * and the topic policies.
 */
export interface ServerOptions<A = undefined, R = never> {
  /** URL path the transports live under. Default `"/switchyard"`. */
  readonly path?: string
  /**
   * The transports offered, in order of preference (docs/negotiation.md): `ServerTransport`s
   * (`websocketServer()`, `sseServer()`, `longPollingServer()`, `pollingServer()`, `webrtcServer()` of
   * `@switchyard/webrtc-data/server`, `memoryServer()`), or the ids of the built-in ones. Default
   * `defaultTransports()`: `[websocketServer(), sseServer(), longPollingServer(), pollingServer()]`; a transport left out is
   * refused. A signalled transport (WebRTC) is offered first wherever it is listed: a client reaches it
   * only by upgrade, from a session already open.
   */
  readonly transports?: readonly (TransportId | ServerTransport)[]
  /**
   * Another way to add a signalled transport (`webrtcServer()`): the same as listing it in `transports`
   * (docs/webrtc.md).
   */
  readonly webrtc?: ServerTransport
  /**
   * Lets clients open connections to each other (`client.peers`, docs/peers.md); `authorize` decides
   * who may connect to whom. Without it every peer connection is refused with `PEER_FORBIDDEN`.
   */
  readonly peers?: PeerOptions<A, R>
  /**
   * Origins allowed to connect (`"https://app.example"`), or `"*"` for any. By default only requests
   * without an `Origin` header (non-browser clients) and same-origin requests are allowed; that rule
   * compares `Origin` with `Host`, which does not stop DNS rebinding: list your origins in production
   * (docs/limits.md#origin-allow-list).
   */
  readonly allowedOrigins?: readonly string[] | "*"
  /**
   * Runs once per connection (every reconnect too), before the handshake. Its result becomes `ctx.auth` of
   * the session the connection creates or resumes (docs/sessions.md#credentials); throwing (or
   * rejecting) refuses the connection with 401 (`UNAUTHORIZED`). It may return an Effect, run with the
   * services of `layer` (none without one): its success is `ctx.auth`; its failure refuses the connection
   * as a throw does, and so does a defect, which `onError` hears too.
   * @example
   * ```ts
   * import type { IncomingMessage } from "node:http"
   * import * as Context from "effect/Context"
   * import type * as Effect from "effect/Effect"
   *
   * class Users extends Context.Service<
   *   Users,
   *   { readonly byToken: (token: string | undefined) => Effect.Effect<{ id: string }, "NoSuchUser"> }
   * >()("app/Users") {}
   * // Given to createServer with `layer` providing Users; a NoSuchUser failure refuses the connection.
   * const authenticate = (request: IncomingMessage) => Users.use((users) => users.byToken(request.headers.authorization))
   * ```
   */
  readonly authenticate?: (request: IncomingMessage) => A | Promise<A> | Effect.Effect<A, unknown, R>
  /**
   * The identity a new session counts against for `maxSessionsPerIdentity` (docs/limits.md#sessions):
   * a user id, an API key's id, a tenant. Called with `authenticate`'s result when a HELLO needs a new
   * session; `undefined` counts against no identity (anonymous clients are bounded per address only).
   * @example
   * ```ts
   * declare function userOf(token: string | undefined): Promise<{ userId: string }> // the app's own
   * const options: ServerOptions<{ userId: string }> = {
   *   authenticate: (request) => userOf(request.headers.authorization),
   *   identify: (auth) => auth.userId, // a user's sessions count together, from any address
   * }
   * ```
   */
  readonly identify?: (auth: A) => string | undefined
  /**
   * The reverse proxies in front of this server, as addresses (`"10.0.0.7"`) or subnets (`"10.0.0.0/8"`,
   * `"fd00::/8"`). A request whose peer is one of them is counted under the address that proxy wrote in
   * `X-Forwarded-For` (read from the right, one hop per trusted proxy), for every per-address bound and
   * `ConnectionInfo.remoteAddress` (docs/limits.md#the-clients-address). Default: none; the socket's peer
   * is the client, and `X-Forwarded-For` is never read.
   */
  readonly trustedProxies?: readonly string[]
  /**
   * What this server shares with the other nodes of a cluster: topics, and with a broker that has
   * `nodes`, its sessions and HTTP links (docs/scaling.md). Default
   * `memoryBroker()`, private to this server. `memoryCluster().broker()` shares within one process,
   * `redisBroker({ url })` of `@switchyard/redis` across processes and machines.
   */
  readonly broker?: Broker
  /**
   * The services the handlers' Effects and Effect Streams may require (docs/tutorial-effect.md#3-the-server):
   * built once, when `createServer` is called, and released by `server.close()` after the Effects and
   * Streams still running have been interrupted and have ended (their finalizers, then the layer's, run).
   * A layer that fails to build makes `listen()` reject with an `Error` whose `cause` is its failure; when
   * no `listen()` is waiting at that moment (a server used through `attach()` or `accept()`, or one that
   * listens later), `onError` hears that error too, and its Effect and Stream handlers then fail with
   * `INTERNAL_ERROR`. Calls that arrive while the layer is being built wait for it; one cancelled meanwhile
   * (its client's `signal`, its session ending) never runs. `authenticate`, the topic policies, the presence
   * hooks and `peers.authorize` may return Effects too, run with the same services. Without a layer, every
   * one of those Effects and Streams must require nothing.
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
   *   { rpc: { now: () => Time.use((time) => time.now) } }, // an Effect<number, never, Time>
   *   { layer: Layer.succeed(Time)({ now: Effect.sync(() => Date.now()) }) },
   * )
   * await server.listen(3000) // rejects if the layer fails to build
   * ```
   */
  readonly layer?: Layer.Layer<R, unknown>
  /** Overrides of the limits in `docs/limits.md`. */
  readonly limits?: Partial<ServerLimits>
  /**
   * Called with handler defects, outputs that break the contract, and errors thrown by policies and hooks.
   * Default: `console.error`. An error it throws is logged, never propagated.
   */
  readonly onError?: (error: unknown, context: { readonly sessionId?: string; readonly channel?: string }) => void
  /** A new session started (not called on resume). */
  readonly onSessionStart?: (session: { readonly id: string; readonly auth: A }) => void
  /**
   * A session ended for good: the client closed it (`CLIENT_CLOSED`), its resume window passed
   * (`SESSION_LOST`), it overflowed (`REPLAY_OVERFLOW`), a resume could not be reconciled
   * (`SEQUENCE_GAP`), or the server closed (`SERVER_CLOSED`).
   */
  readonly onSessionEnd?: (session: { readonly id: string; readonly auth: A }, reason: ErrorCode) => void
}
