import type { ClientTransport, ServerDataFrame, SwitchyardError, UnreliableFrame } from "@switchyard/core"

/** What the connection tells the client runtime. */
export interface ConnectionEvents {
  /**
   * A handshake completed: `resumed` when the server still had the session, else a new one. `reason` says
   * why the session is on this transport.
   */
  ready(info: {
    readonly transport: ClientTransport
    readonly sessionId: string
    readonly resumed: boolean
    readonly reason: TransportReason
    /** The session's peer id, when the server takes peer connections. */
    readonly peerId: string | undefined
  }): void
  /** A data frame arrived in order, exactly once. */
  data(frame: ServerDataFrame): void
  /** An UNRELIABLE frame arrived on the session's link (or its lossy channel), after the handshake. */
  unreliable(frame: UnreliableFrame): void
  /** The link went down; the session waits for the next one. */
  down(error: SwitchyardError): void
  /**
   * The server ended the session (BYE, or it did not know our token). Called while the session still
   * holds its frames (so `session.written` tells what may have reached the server); `fresh` follows once
   * the session is empty and ready to carry a new one.
   */
  lost(error: SwitchyardError): void
  /** The session was reset after `lost`: frames sent from now on start the new session. */
  fresh(): void
  /** The server refused us for good (an unsupported protocol version): no more reconnecting. */
  fatal(error: SwitchyardError): void
  /** A NOTICE or a protocol violation worth reporting: an `error` event of the client. */
  error(error: SwitchyardError): void
}

/** Why the session is on its transport, as `client.on("transport", (name, reason) => …)` reports it. */
export type TransportReason = "connected" | "resumed" | "new session" | "upgrade" | "fallback"
