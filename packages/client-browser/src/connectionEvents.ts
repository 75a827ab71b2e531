import {
  type ClientLinkEvents,
  type ClientTransport,
  codeOfClose,
  isErrorCode,
  type Link,
  type ServerDataFrame,
  type SwitchyardError,
  switchyardError,
  type UnreliableFrame,
} from "@switchyard/core"

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

/**
 * Why a handshake put the session on its transport: the move under way (`switching`: an upgrade or a
 * reauthentication), else the first connection, a new session, a fallback or a plain resume.
 */
export function transportReason(
  switching: TransportReason | undefined,
  everConnected: boolean,
  resumed: boolean,
  fellBack: boolean,
): TransportReason {
  return switching ?? (!everConnected ? "connected" : !resumed ? "new session" : fellBack ? "fallback" : "resumed")
}

/** Why the session is on its transport, as `client.on("transport", (name, reason) => …)` reports it. */
export type TransportReason = "connected" | "resumed" | "new session" | "upgrade" | "fallback" | "reauthenticated"

/** What a link's events need of the connection whose session the link may carry. */
export interface LinkHost {
  readonly handshaken: boolean
  readonly session: { readonly received: number }
  carries(link: Link): boolean
  receive(transport: ClientTransport, link: Link, data: unknown): void
  linkClosed(error: SwitchyardError, refused: boolean): void
}

/** What the opener of a link hears while the link does not carry the session (a probe: its echo, its failure). */
export interface OwnLinkEvents {
  open(): void
  frame?(data: unknown): void
  close?(code: number, reason: string): void
}

/**
 * The events of a link that the connection, a probe (`upgrades.ts`) or a reauthentication
 * (`credentials.ts`) opens: while the link carries the session, its frames and its close go to the
 * connection; until then, to whoever opened it.
 */
export function linkEvents(
  host: LinkHost,
  transport: ClientTransport,
  link: () => Link | undefined,
  own: OwnLinkEvents,
): ClientLinkEvents {
  const carried = () => {
    const current = link()
    return current !== undefined && host.carries(current)
  }
  return {
    open: own.open,
    frame: (data) => (carried() ? host.receive(transport, link() as Link, data) : own.frame?.(data)),
    received: () => (carried() && host.handshaken ? host.session.received : 0),
    close: (code, reason) => (carried() ? linkClosed(host, code, reason) : own.close?.(code, reason)),
  }
}

/**
 * Tells `host` that its link closed, and why. Before the handshake, a reason that is a code is the server
 * refusing the link (`refused`: docs/sessions.md#when-the-server-refuses-a-connection), not the transport
 * failing; `TOO_MANY_CONNECTIONS`, no `SwitchyardError` code, comes as `CONNECTION_LOST` with it as `cause`.
 */
function linkClosed(host: LinkHost, code: number, reason: string): void {
  const known = isErrorCode(reason)
  const refused = !host.handshaken && (known || reason === "TOO_MANY_CONNECTIONS")
  const message = `connection closed (${code}${reason ? ` ${reason}` : ""})`
  const cause = refused && !known ? { cause: { code: reason } } : undefined
  host.linkClosed(switchyardError(known ? reason : codeOfClose(code), message, cause), refused)
}
