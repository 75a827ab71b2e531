import type { TransportOffer } from "./negotiation.ts"
import type { SignalKind } from "./protocol/frames.ts"
import type { Link } from "./session.ts"

/**
 * Transport ids, in the order of preference of DESIGN.md. `"memory"` is the in-process pair used by tests.
 */
export type TransportId = "webrtc" | "websocket" | "sse" | "long-polling" | "polling" | "memory"

/** What a transport can carry; reported so that negotiation can rank transports. */
export interface TransportCapabilities {
  /** Both directions on one connection (false: client→server goes over separate requests). */
  readonly duplex: boolean
  /** Binary frames on the wire (all transports carry binary payloads inside JSON as base64). */
  readonly binary: boolean
}

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
 * The client half of a transport: opens links to a server URL. One file per transport in
 * `@switchyard/client-browser` fills this in. A `signalled` transport (WebRTC) cannot open a session:
 * it is only probed and moved to from a session already open, and gets a `Signalling` to set itself up.
 */
export interface ClientTransport {
  readonly id: TransportId
  readonly capabilities: TransportCapabilities
  readonly signalled?: boolean
  /** How long a probe of this transport may take (ms), when it needs longer than the client's default. */
  readonly probeTimeoutMs?: number
  connect(url: string, events: ClientLinkEvents, signalling?: Signalling): Link
}

/** What a server knows about an incoming connection. */
export interface ConnectionInfo {
  readonly transport: TransportId
  readonly remoteAddress: string | undefined
  /** The `authenticate` hook's result; it becomes the handlers' `ctx.auth`. */
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
