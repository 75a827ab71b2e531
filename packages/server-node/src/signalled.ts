import type { Link, ServerLinkEvents, SignalKind, TransportId, TransportOffer } from "@switchyard/core"

/**
 * A transport set up over a session that is already open (WebRTC, `@switchyard/webrtc-data`): the client
 * sends SIGNAL frames on its session, the transport answers through `reply`, and once its own connection
 * is open it hands that connection to the server as a `Link` with `accept`. From there it is a link like
 * any other: the client PROBEs it, then moves its session there with HELLO (docs/negotiation.md).
 */
export interface SignalledServerTransport {
  readonly id: TransportId
  /** What the server's offer says of this transport (its traits, and the ICE servers for WebRTC). */
  readonly offer: Omit<TransportOffer, "id">
  /** A signal from a session: the first one of an attempt starts it. */
  signal(from: SignalSession, attempt: number, kind: SignalKind, data: unknown): void
  /** The session ended: drop whatever its attempts hold. */
  sessionEnded(from: SignalSession): void
  /** The server is closing: close everything. */
  close(): Promise<void>
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
  /** Hands a connection that is open to the server, as any transport does on accepting one. */
  accept(link: Link): ServerLinkEvents
}
