import { body, FrameType, type SignalKind, type TransportId } from "@switchyard/core"
import type { SessionPort } from "./runtime.ts"
import type { SignalSession } from "./transport.ts"

/** What SIGNAL frames need of their session. */
export interface SignallingSession extends SessionPort {
  /** The session's token: a link a signalled transport sets up may carry only this session. */
  readonly token: string
}

/**
 * The SIGNAL frames of one session (docs/webrtc.md): each goes to the signalled transport it names, which
 * sees the session as a `SignalSession` of its own. A session makes this on its first SIGNAL; most never do.
 */
export class SessionSignals {
  /** This session as each signalled transport it signalled to sees it. */
  private readonly seen = new Map<TransportId, SignalSession>()

  constructor(private readonly session: SignallingSession) {}

  /** A SIGNAL of `attempt`. One that names no transport (clients before SIGNAL named one) goes to the first. */
  receive(attempt: number, kind: SignalKind, data: unknown, named: TransportId | undefined): void {
    const { session } = this
    const { signalled } = session.runtime
    const id = named ?? signalled.keys().next().value
    const transport = id === undefined ? undefined : signalled.get(id)
    if (id === undefined || !transport?.signal) {
      const what = named === undefined ? "no signalled transport" : `no signalled transport ${named}`
      return session.send(FrameType.SIGNAL, body.signal(attempt, "end", `${what} here`))
    }
    transport.signal(this.signalSession(id), attempt, kind, data)
  }

  /** The session ended: each transport it signalled to drops what its attempts hold. */
  ended(): void {
    for (const [id, from] of this.seen) this.session.runtime.signalled.get(id)?.sessionEnded?.(from)
  }

  /** This session as the signalled transport `transport` sees it; made on first use. */
  private signalSession(transport: TransportId): SignalSession {
    let from = this.seen.get(transport)
    if (from) return from
    const { session } = this
    from = {
      id: session.id,
      remoteAddress: undefined,
      maxMessageBytes: session.runtime.limits.maxMessageBytes,
      reply: (attempt, kind, data) => {
        if (!session.isEnded) session.send(FrameType.SIGNAL, body.signal(attempt, kind, data))
      },
      accept: (link) =>
        session.runtime.accept(link, { transport, remoteAddress: undefined, auth: session.auth }, session.token),
    }
    this.seen.set(transport, from)
    return from
  }
}
