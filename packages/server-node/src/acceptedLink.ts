import { type ConnectionInfo, closeCodeOf, control, type Link, type ServerLinkEvents } from "@switchyard/core"
import { type ConnectionRate, frameSize } from "./rateLimit.ts"
import type { ServerSession } from "./serverSession.ts"

/**
 * One link the session table accepted, as it goes from its handshake (PROBEs, then HELLO) to carrying a
 * session: the state it keeps for that (its handshake timer, PROBEs echoed, frames held during a
 * take-over), the bounds on its handshake, and the frame rate of the session it carries (cut past it).
 * What its other events mean is the table's to decide (`LinkEvents`, `sessionTable.ts`).
 */

/** What an accepted link's events go to: the session table. */
export interface LinkEvents {
  /** The frame rate of `session`, shared by its links. */
  rateOf(session: ServerSession): ConnectionRate
  /** A frame on a link that carries no session yet. */
  handshakeFrame(accepted: AcceptedLink, data: unknown): void
  /** The link closed. */
  linkClosed(accepted: AcceptedLink): void
  /** No HELLO came in time. */
  expire(accepted: AcceptedLink): void
}

/**
 * One link `accept` took: its handshake (PROBEs, then HELLO), then the events of the session it carries.
 * An object with its methods on the prototype rather than closures, and what only the handshake needs is
 * dropped once it is over, so that an idle connection holds little (docs/performance.md#idle-connections).
 */
export class AcceptedLink implements ServerLinkEvents {
  session: ServerSession | undefined
  /** Frames that came while another node hands the session over; `undefined` when none is under way. */
  held: unknown[] | undefined
  closed = false
  probes = 0
  handshake: ReturnType<typeof setTimeout> | undefined
  /** Its session's frame rate (docs/limits.md#connections-and-messages), shared by the session's connections. */
  private rate: ConnectionRate | undefined
  /** Cut for its rate: what it sends is ignored until it closes. */
  private cut = false
  /** What a HELLO needs; dropped once the link carries a session, as no frame reaches the handshake again. */
  info: ConnectionInfo | undefined

  constructor(
    private readonly table: LinkEvents,
    readonly link: Link,
    info: ConnectionInfo,
    readonly signalledBy: string | undefined,
  ) {
    this.info = info
  }

  /** The HELLO was answered: with a session, the link carries it from now on. */
  answered(session: ServerSession | undefined): void {
    this.session = session
    if (session) this.info = undefined
  }

  frame(data: unknown): void {
    if (this.session) return this.sessionFrame(this.session, data)
    this.table.handshakeFrame(this, data)
  }

  /** A frame on a link that carries `session`, counted against the connection's rate limit. */
  private sessionFrame(session: ServerSession, data: unknown): void {
    if (this.cut) return
    this.rate ??= this.table.rateOf(session)
    const verdict = this.rate.take(frameSize(data))
    if (verdict !== "cut") return session.receive(this.link, data, verdict === "over")
    // It kept sending past the refusals: the connection goes, the session stays for a resume.
    this.cut = true
    this.link.send(control.notice("RATE_LIMITED", "too many frames past this connection's rate limit"))
    this.link.close(closeCodeOf("RATE_LIMITED"), "RATE_LIMITED")
  }

  close(): void {
    this.table.linkClosed(this)
  }

  resume(received: number): void {
    this.session?.resume(this.link, received)
  }
}

export function expireHandshake(table: LinkEvents, accepted: AcceptedLink): void {
  table.expire(accepted)
}

/** PROBE frames a link may carry before its HELLO. */
export const MAX_PROBES = 4

/** Frames a link may send after its HELLO while another node hands its session over (docs/limits.md). */
export const MAX_HELD_FRAMES = 8
