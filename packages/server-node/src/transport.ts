import type { IncomingMessage, ServerResponse } from "node:http"
import type { Duplex } from "node:stream"
import type {
  ConnectionInfo,
  HttpErrorCode,
  Link,
  ServerLinkEvents,
  SignalKind,
  TransportId,
  TransportOffer,
} from "@switchyard/core"
import type { IncompleteBytes } from "./incompleteBytes.ts"
import type { ServerLimits } from "./limits.ts"

/**
 * The server half of a transport. `createServer` walks the list it is given (`options.transports`),
 * puts each transport's `offer` in the server's offer, and calls `start` once; what `start` returns says
 * which requests the transport claims. One file per transport fills this in
 * (`transports/websocket.ts`, `transports/sse.ts`, `transports/longPolling.ts`, `transports/polling.ts`,
 * `transports/memory.ts`, and `webrtcServer()` in `@switchyard/webrtc-data/server`).
 *
 * @example
 * ```ts
 * import { createServer, longPollingServer, pollingServer, sseServer, websocketServer } from "@switchyard/server-node"
 * import { webrtcServer } from "@switchyard/webrtc-data/server"
 *
 * createServer(Chat, handlers, {
 *   transports: [websocketServer(), sseServer(), longPollingServer(), pollingServer(), webrtcServer()],
 * })
 * ```
 */
export interface ServerTransport {
  /** The id clients name it by, in the offer and in `ConnectionInfo.transport`. */
  readonly id: TransportId
  /** What the server's offer says of this transport: its traits (and the ICE servers for WebRTC). */
  readonly offer: Omit<TransportOffer, "id">
  /**
   * How a client reaches it: `"request"` (HTTP requests or an upgrade on the server's path), `"signalled"`
   * (set up over a session already open, with SIGNAL frames: offered first, as the client can only
   * upgrade to it), or `"in-process"` (links handed straight to `accept`, as the in-memory pair).
   */
  readonly reach: "request" | "signalled" | "in-process"
  /** Called once by the server it is registered with. A transport object serves one server. */
  start(host: TransportHost): RunningTransport
}

/** A started transport: the entry points it claims, and how it closes. */
export interface RunningTransport {
  /**
   * An HTTP request on the server's path (`query` is its search params). Returns false when the request
   * is not this transport's (another transport's `?transport=` or link), so that the next one is asked.
   */
  request?(request: IncomingMessage, response: ServerResponse, query: URLSearchParams): boolean
  /** An HTTP upgrade on the server's path. Returns false when it is not this transport's. */
  upgrade?(request: IncomingMessage, socket: Duplex, head: Buffer): boolean
  /** A SIGNAL frame from a session (signalled transports): the first one of an attempt starts it. */
  signal?(from: SignalSession, attempt: number, kind: SignalKind, data: unknown): void
  /** A session ended: drop whatever its signalled attempts hold. */
  sessionEnded?(from: SignalSession): void
  /**
   * The server is closing (its sessions have already sent their BYE): close every link, wait a grace
   * period for what they still hold to reach the clients, and resolve.
   */
  close(): Promise<void>
}

/** What the server gives each transport it starts. */
export interface TransportHost {
  /** The server's limits (`docs/limits.md`). */
  readonly limits: ServerLimits
  /**
   * Hands an open connection to the session table: the link's first frames are the handshake, and the
   * answer is the events sink the transport feeds.
   */
  accept(link: Link, info: ConnectionInfo): ServerLinkEvents
  /**
   * Whether a connection from `request` may open: the Origin allow-list, the per-IP connection bound and
   * the `authenticate` hook. An admitted connection must `release()` when it closes. With `keepRefused`, a
   * connection `authenticate` refuses keeps its place in the bound until the refusal's `release()` (a
   * transport that tells the refusal over the connection itself: the WebSocket's close 4211).
   */
  admit(request: IncomingMessage, keepRefused?: boolean): Promise<Admission>
  /**
   * The bytes of request bodies and WebSocket messages being received, per address and in all: a transport
   * takes what it holds of an unfinished body or message here, and gives it back (docs/limits.md).
   */
  readonly incomplete: IncompleteBytes
  /**
   * Whether the HELLO `link` carried was refused a new session, its answer held for `refusalDelayMs`: the
   * link is then closed with the refusal's BYE. An HTTP transport answers the opening POST at that moment.
   */
  refusing?(link: Link): boolean
  /** Whether the request's `Origin` may connect (the first check of `admit`, for requests that open nothing). */
  originAllowed(request: IncomingMessage): boolean
  /** The server's `onError` (never throws). */
  onError(error: unknown, context: { readonly sessionId?: string; readonly channel?: string }): void
  /**
   * With a cluster, this node's id: an HTTP transport starts each link id with it and a dot
   * (`<nodeId>.<random>`), so that another node relays the link's requests here (docs/scaling.md).
   */
  readonly nodeId?: string
}

/** The answer of `TransportHost.admit`. */
export type Admission =
  | {
      readonly ok: true
      readonly auth: unknown
      readonly release: () => void
      /**
       * The connection is over but lingers (a closed HTTP link keeping its last frames for a while): it
       * still counts toward `maxConnectionsPerIp`, but when a new connection from its address would pass the
       * bound, the oldest such connection's `forget` is called (it must `release()`) to make room.
       */
      readonly linger: (forget: () => void) => void
      /** The client's address, behind trusted proxies too (docs/limits.md#the-clients-address). */
      readonly address: string | undefined
    }
  | {
      readonly ok: false
      /** Answered with its HTTP status from core's `errorCodes` (`httpStatusOf`). */
      readonly code: HttpErrorCode
      readonly message: string
      /**
       * Given to `admit(request, true)` for an `UNAUTHORIZED` refusal: it counts toward
       * `maxConnectionsPerIp` until this is called, when its answer is done.
       */
      readonly release?: () => void
    }

/** What a signalled transport may do with the session that signals to it. */
export interface SignalSession {
  /** The session's public id. */
  readonly id: string
  readonly remoteAddress: string | undefined
  /** The server's `maxMessageBytes`: a transport reading frames in pieces stops well above it. */
  readonly maxMessageBytes: number
  /** Sends a signal back over the session (sequenced and replayed like any data frame). */
  reply(attempt: number, kind: SignalKind, data: unknown): void
  /**
   * Hands a connection that is open to the server, as `TransportHost.accept` does; the link may carry
   * only this session (it passed no origin check, connection bound or `authenticate` of its own).
   */
  accept(link: Link): ServerLinkEvents
}
