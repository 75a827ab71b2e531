/**
 * The words every transport, on either side, is written in: transport ids, what a server offers, the
 * link a session runs over, the client and server halves of a transport, and WebRTC's signalling. Types
 * only, so that the protocol, the session and negotiation can all use them without importing each other.
 */
import type { SessionLimits } from "../session/limits.ts"

/** The ids of the transports Switchyard ships. `"memory"` is the in-process pair used by tests. */
export type BuiltInTransportId = "webrtc" | "websocket" | "sse" | "long-polling" | "polling" | "memory"

/**
 * A transport's id: a built-in one, or any other that `isTransportId` accepts (lower-case letters, digits
 * and dashes, up to 32 characters), so that a new transport needs no edit here.
 */
export type TransportId = BuiltInTransportId | (string & {})

/**
 * One open connection as a session sees it. Transports fill this in; `send` takes one frame of text and
 * must keep order; `close` ends the connection (the transport reports the close back on its own).
 */
export interface Link {
  send(frame: string): void
  close(code: number, reason: string): void
  /**
   * Sends an UNRELIABLE frame latest-value-wins (docs/delivery.md): at most one frame waits per `slot`
   * (one stream, or one topic key, of the session), a newer one replaces it, and what waits is written
   * when the link can take it (at the end of the tick, while its send buffer is below its bound) or
   * dropped when the link closes. A link may send it on a lossy channel of its own (WebRTC's second data
   * channel). Without it, the session sends unreliable frames with `send`, unconflated.
   */
  sendLatest?(slot: object, frame: string): void
}

/** One transport as a server offers it. */
export interface TransportOffer {
  readonly id: TransportId
  /** Both directions on one connection (false: client→server goes over separate requests). */
  readonly duplex: boolean
  /** Binary frames on the wire (every transport carries binary payloads, as base64 inside JSON). */
  readonly binary: boolean
  /** Frames arrive in the order they were sent. */
  readonly ordered: boolean
  /** WebRTC only: the ICE servers (STUN, TURN with credentials) the client should use. */
  readonly iceServers?: readonly IceServer[]
}

/** An ICE server as `RTCPeerConnection` takes it. */
export interface IceServer {
  readonly urls: string | readonly string[]
  readonly username?: string
  readonly credential?: string
}

/** A server's answer to a negotiate request; also what WELCOME carries (`transports`). */
export interface ServerOffer {
  readonly version: number
  /** In the server's order of preference. */
  readonly transports: readonly TransportOffer[]
  readonly limits: SessionLimits
}

/** What a SIGNAL carries. */
export type SignalKind = "offer" | "answer" | "candidate" | "end"

/** Events a client-side link reports. `close` comes exactly once, also when the link never opened. */
export interface ClientLinkEvents {
  open(): void
  frame(data: unknown): void
  close(code: number, reason: string): void
  /**
   * The sequence number of the last data frame the session accepted: a transport whose downstream is a
   * series of requests (long polling, polling) sends it with each request as the cumulative ACK.
   */
  received?(): number
}

/**
 * How a signalled transport (WebRTC) sets itself up over the session that is already open: SIGNAL frames,
 * sequenced and replayed like any data frame, so that signalling survives a switch of the carrying
 * transport. One `Signalling` serves one attempt.
 */
export interface Signalling {
  /** Sends a signal to the server. */
  send(kind: SignalKind, data: unknown): void
  /** Signals from the server for this attempt, in order; returns the unsubscribe function. */
  onSignal(listener: (kind: SignalKind, data: unknown) => void): () => void
  /** What the server said of this transport in its offer (ICE servers for WebRTC). */
  readonly offer: TransportOffer | undefined
}

/**
 * What negotiation needs to know of a transport (docs/negotiation.md); `ClientTransport` carries it, so
 * that `plan()` and `fallback()` look nothing up by id.
 */
export interface NegotiationTraits {
  readonly id: TransportId
  /**
   * How likely it connects at once on an unknown network, lower first: where a session starts when
   * nothing is remembered. The built-ins: long polling 10, polling 20, SSE 30, WebSocket 40. Without one,
   * it starts only after every transport that has one.
   */
  readonly startRank?: number | undefined
  /**
   * It cannot open a session (WebRTC): it is only probed and moved to from a session already open, and
   * gets a `Signalling` to set itself up; it is never a start nor a fallback.
   */
  readonly signalled?: boolean | undefined
}

/**
 * The client half of a transport: opens links to a server URL. One file per transport in
 * `@switchyard/client-browser` fills this in; one of another package needs nothing else from Switchyard.
 */
export interface ClientTransport extends NegotiationTraits {
  /** How long a probe of this transport may take (ms), when it needs longer than the client's default. */
  readonly probeTimeoutMs?: number
  /**
   * A signalled transport's check of the `kind` and `data` of a SIGNAL from the server, which the client
   * hands to it (`webrtcTransport()`: `isSignalData`, docs/protocol.md#peers). The client checks a SIGNAL's
   * data with its signalled transport's rules; a client given no signalled transport (or one without this)
   * never reads that data, so it checks only the rest of the frame, as a client without peers does for PEER
   * data, and leaves the rules out of its bundle (docs/performance.md#bundle-size).
   */
  readonly signalData?: ((kind: unknown, data: unknown) => boolean) | undefined
  /**
   * Opens a link. `headers`: request headers the client's `auth` option gives (docs/sessions.md#credentials),
   * for the requests that open the link; a transport that cannot send headers (a browser's WebSocket) ignores them.
   */
  connect(url: string, events: ClientLinkEvents, signalling?: Signalling, headers?: LinkHeaders): Link
}

/** Request headers a link sends when it opens (the client's `auth` option). */
export type LinkHeaders = Readonly<Record<string, string>>

/** What a server knows about an incoming connection. */
export interface ConnectionInfo {
  readonly transport: TransportId
  readonly remoteAddress: string | undefined
  /** The `authenticate` hook's result: the handlers' `ctx.auth` in the session this connection creates or resumes. */
  readonly auth: unknown
}

/** Events a server-side link reports to the session runtime. */
export interface ServerLinkEvents {
  frame(data: unknown): void
  close(code: number, reason: string): void
  /**
   * The same link came back after its carrier reconnected (an SSE stream resumed with `Last-Event-ID`):
   * the client has every data frame up to `received`, and everything after it is sent again.
   */
  resume?(received: number): void
}

/**
 * The server's entry point for transports: each accepted connection is handed over as a `Link`, and the
 * runtime answers with the events sink the transport feeds.
 */
export type Acceptor = (link: Link, info: ConnectionInfo) => ServerLinkEvents
