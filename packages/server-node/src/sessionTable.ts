import { randomBytes } from "node:crypto"
import {
  type ConnectionInfo,
  control,
  decodeClientFrame,
  type ErrorCode,
  FrameType,
  type Link,
  PROTOCOL_VERSION,
  type ServerLinkEvents,
  type SessionLimits,
  type TransportOffer,
} from "@switchyard/core"
import { AcceptedLink, expireHandshake, type LinkEvents, MAX_HELD_FRAMES, MAX_PROBES } from "./acceptedLink.ts"
import type { SessionCluster } from "./cluster.ts"
import type { ServerLimits } from "./limits.ts"
import { LinkRefusals, refuseLink, TRY_AGAIN_LATER } from "./linkRefusals.ts"
import type { ConnectionRate } from "./rateLimit.ts"
import type { Runtime } from "./runtime.ts"
import { ServerSession } from "./serverSession.ts"
import { SessionAccounts } from "./sessionAccounts.ts"
import type { SessionQuota } from "./sessionQuota.ts"
import type { RemoteWork, ServerSessionSnapshot } from "./sessionSnapshot.ts"

/** What the session table needs from the server that holds it. */
export interface SessionTableOptions {
  readonly limits: ServerLimits
  /** The transports the WELCOME frame offers. */
  readonly offered: readonly TransportOffer[]
  /** Whether clients may connect to each other: the WELCOME then carries the session's peer id. */
  readonly peers: boolean
  /** A new session started (not called on resume). */
  started(session: ServerSession): void
  /** A session another node handed over is now held here. */
  adopted(session: ServerSession): void
  /** With a cluster: the other nodes, the directory, take-overs (docs/scaling.md). */
  readonly cluster?: SessionCluster | undefined
  /** A session ended for good. */
  ended(session: ServerSession, reason: ErrorCode): void
  /** Sessions per address and identity, new sessions per address over time (docs/limits.md#sessions). */
  readonly quota?: SessionQuota | undefined
  /** The identity a new session counts against (the server's `identify`; never throws). */
  readonly identify?: ((auth: unknown) => string | undefined) | undefined
}

/**
 * The sessions of one server, by token, and the handshake that puts a link into one of them: PROBEs
 * echoed, then HELLO starts a session or resumes one (docs/sessions.md, docs/negotiation.md).
 */
export class SessionTable implements LinkEvents {
  private readonly sessions = new Map<string, ServerSession>()
  /** Links still in their handshake (open, no HELLO yet), with their handshake timer. */
  private readonly handshaking = new Map<Link, ReturnType<typeof setTimeout>>()
  /** Links whose HELLO was refused a new session, until their answer goes (`refusalDelayMs`). */
  private readonly refusing: LinkRefusals
  private readonly sessionLimits: SessionLimits
  /** Its sessions' frame rates, counts per address and identity, identities (docs/limits.md#sessions). */
  private readonly accounts: SessionAccounts
  /** Set when the server starts shutting down: a link's handshake is then refused. */
  closing = false

  constructor(
    private readonly runtime: Runtime,
    private readonly options: SessionTableOptions,
  ) {
    const { limits } = options
    this.accounts = new SessionAccounts(limits, options.quota, options.identify)
    this.refusing = new LinkRefusals(limits)
    this.sessionLimits = {
      maxMessageBytes: limits.maxMessageBytes,
      heartbeatIntervalMs: limits.heartbeatIntervalMs,
      heartbeatTimeoutMs: limits.heartbeatTimeoutMs,
      resumeWindowMs: limits.resumeWindowMs,
      maxDepth: limits.maxDepth,
    }
  }

  /** Sessions held now, connected or waiting to be resumed. */
  get size(): number {
    return this.sessions.size
  }

  /** The limits a WELCOME (and the offer) tells clients. */
  get limits(): SessionLimits {
    return this.sessionLimits
  }

  /** `ended` ended: forgotten if the table holds that very object, not an older one under its token. */
  forget(ended: { readonly token: string }, reason: ErrorCode): void {
    this.accounts.release(ended)
    const session = this.sessions.get(ended.token)
    if (!session || session !== ended) return
    this.sessions.delete(ended.token)
    this.options.cluster?.release(session)
    this.options.ended(session, reason)
  }

  /** Takes the live session of `token` out for another node, not ending it: it counts here until `handedOn`. */
  handOut(token: string): ServerSession | undefined {
    const session = this.sessions.get(token)
    if (!session || session.isEnded) return undefined
    this.sessions.delete(token)
    return session
  }

  /** The node `session` was handed out to confirmed it holds it now: it counts here no longer. */
  readonly handedOn = (session: ServerSession): void => this.accounts.release(session)

  /**
   * Holds a session another node handed over, until its client's HELLO (which counts it); or, `previous`
   * being the object handed out, one put back after a failed hand-over, still counted, with its frame rate.
   */
  adopt(snapshot: ServerSessionSnapshot, token: string, remote: RemoteWork, previous?: ServerSession): ServerSession {
    const session = ServerSession.restore(this.runtime, snapshot, token, remote)
    this.sessions.get(session.token)?.end("CONNECTION_REPLACED", "the session moved to another node")
    if (previous) this.accounts.putBack(previous, session)
    this.sessions.set(session.token, session)
    this.options.cluster?.claim(session)
    this.options.adopted(session)
    return session
  }

  /** Every session held, for a node handing them over as it leaves. */
  held(): ServerSession[] {
    return [...this.sessions.values()]
  }

  /**
   * Ends every session (server shutdown): clients get their BYE with `SERVER_CLOSED`, on their session's
   * link and on every link still in its handshake. A client moving its session to a new link has left the
   * old one (its BYE is ignored there) and waits for WELCOME on the new one, where the transport's close
   * would otherwise cut it before its HELLO is answered.
   */
  endAll(): void {
    for (const session of [...this.sessions.values()]) session.end("SERVER_CLOSED", "the server is shutting down")
    this.refusing.refuseAll("SERVER_CLOSED", "the server is shutting down")
    for (const [link, handshake] of [...this.handshaking]) {
      clearTimeout(handshake)
      this.handshaking.delete(link)
      refuseLink(link, "SERVER_CLOSED", "the server is shutting down")
    }
  }

  /**
   * Takes a link that has just opened, until its HELLO names a session. `signalledBy`: for a link a
   * signalled transport (WebRTC) set up, the token of the session that signalled it. Such a link may
   * carry only that session: it passed no origin check, connection bound or `authenticate` of its own.
   */
  accept(link: Link, info: ConnectionInfo, signalledBy?: string): ServerLinkEvents {
    const accepted = new AcceptedLink(this, link, info, signalledBy)
    const handshake = setTimeout(expireHandshake, this.options.limits.handshakeTimeoutMs, this, accepted)
    handshake.unref()
    accepted.handshake = handshake
    this.handshaking.set(link, handshake)
    return accepted
  }

  /** No HELLO came in time. */
  expire(accepted: AcceptedLink): void {
    accepted.handshake = undefined
    this.handshaking.delete(accepted.link)
    refuseLink(accepted.link, "HANDSHAKE_REQUIRED", "no HELLO in time")
  }

  /** The link's handshake is over (a HELLO, or a close): its timer goes. */
  handshakeOver(accepted: AcceptedLink): void {
    if (accepted.handshake === undefined) return
    clearTimeout(accepted.handshake)
    accepted.handshake = undefined
    this.handshaking.delete(accepted.link)
  }

  /** The frame rate of `session`'s links (docs/limits.md#connections-and-messages). */
  rateOf(session: ServerSession): ConnectionRate {
    return this.accounts.rateOf(session)
  }

  /** The link closed. */
  linkClosed(accepted: AcceptedLink): void {
    accepted.closed = true
    this.handshakeOver(accepted)
    this.refusing.drop(accepted.link)
    accepted.session?.linkClosed(accepted.link)
  }

  /** A frame on a link that carries no session yet: a PROBE, the HELLO, or what follows a HELLO being taken over. */
  handshakeFrame(accepted: AcceptedLink, data: unknown): void {
    const { link, info } = accepted
    if (!info) return
    if (accepted.held) {
      // A client sends nothing before its WELCOME but PROBEs: more than a few frames is not one.
      if (accepted.held.length < MAX_HELD_FRAMES) return void accepted.held.push(data)
      accepted.held = undefined
      accepted.closed = true
      return refuseLink(link, "HANDSHAKE_REQUIRED", "too many frames before the WELCOME")
    }
    // Its HELLO was refused; the answer is on its way.
    if (this.refusing.has(link)) return
    if (this.closing) {
      this.handshakeOver(accepted)
      return refuseLink(link, "SERVER_CLOSED", "the server is shutting down")
    }
    const decoded = decodeClientFrame(data, this.options.limits)
    // A client moving its session here first checks that the link carries frames both ways: each
    // PROBE is echoed, up to a few, and HELLO must still follow within the handshake timeout.
    if (decoded.ok && decoded.frame[0] === FrameType.PROBE && ++accepted.probes <= MAX_PROBES) {
      return link.send(control.probe(decoded.frame[1]))
    }
    this.handshakeOver(accepted)
    if (!decoded.ok || decoded.frame[0] !== FrameType.HELLO) {
      return refuseLink(link, "HANDSHAKE_REQUIRED", "the first frame must be HELLO")
    }
    const [, version, token, received] = decoded.frame
    const { cluster } = this.options
    if (!cluster || token === null || version !== PROTOCOL_VERSION || this.sessions.has(token)) {
      return accepted.answered(this.hello(link, info, accepted.signalledBy, version, token, received))
    }
    // Another node may own it: ask, then answer the HELLO as usual (docs/scaling.md#take-over).
    accepted.held = []
    cluster.takeOver(token, (outcome) => {
      const frames = accepted.held ?? []
      accepted.held = undefined
      if (accepted.closed) return
      if (outcome.kind === "timeout") {
        // CONNECTION_LOST's close code (1006) cannot be sent: 1013 is "try again later".
        return refuseLink(
          link,
          "CONNECTION_LOST",
          "the node holding this session did not hand it over in time; retry",
          TRY_AGAIN_LATER,
        )
      }
      const session = this.hello(link, info, accepted.signalledBy, version, token, received)
      accepted.answered(session)
      for (const frame of frames) session?.receive(link, frame)
    })
  }

  /** Whether `link`'s HELLO was refused a new session and waits for its answer (`refusalDelayMs`). */
  isRefusing(link: Link): boolean {
    return this.refusing.has(link)
  }

  /** A HELLO: starts or resumes the session it names, or refuses the link. */
  private hello(
    link: Link,
    info: ConnectionInfo,
    signalledBy: string | undefined,
    version: number,
    token: string | null,
    received: number,
  ): ServerSession | undefined {
    if (version !== PROTOCOL_VERSION) {
      return void refuseLink(
        link,
        "UNSUPPORTED_VERSION",
        `protocol ${version} is not supported; this server speaks ${PROTOCOL_VERSION}`,
      )
    }
    let target = token === null ? undefined : this.sessions.get(token)
    const resumed = target !== undefined && !target.isEnded
    if (signalledBy !== undefined && (token !== signalledBy || !resumed)) {
      return void refuseLink(link, "HANDSHAKE_REQUIRED", "this link carries only the session that set it up")
    }
    if (!target || !resumed) {
      const identity = this.options.identify?.(info.auth)
      const refusal =
        this.sessions.size >= this.options.limits.maxSessions
          ? { code: "LIMIT_EXCEEDED" as const, message: "the server holds too many sessions" }
          : this.options.quota?.admit(info.remoteAddress, identity)
      if (refusal) return void this.refusing.later(link, refusal.code, refusal.message)
      target = new ServerSession(
        this.runtime,
        randomBytes(9).toString("base64url"),
        randomBytes(18).toString("base64url"),
        info.auth,
        undefined,
      )
      this.sessions.set(target.token, target)
      this.options.quota?.hold(target, info.remoteAddress, identity)
      this.options.cluster?.claim(target)
      this.options.started(target)
    } else if (signalledBy === undefined) {
      // A resume takes the auth `authenticate` gave this connection, if it names the session's identity (a
      // signalled link carries the auth of when it opened: written, it could undo a reauthentication).
      const refusal = this.accounts.resume(target, info)
      if (refusal) return void refuseLink(link, "AUTH_REFUSED", refusal)
      target.auth = info.auth
    }
    const welcome = control.welcome(
      PROTOCOL_VERSION,
      target.token,
      target.id,
      resumed,
      target.received,
      this.sessionLimits,
      this.options.offered,
      this.options.peers ? target.peerId : undefined,
    )
    if (!target.attach(link, info.transport, welcome, resumed ? received : 0)) {
      // The client's view of the session cannot be reconciled with ours: end it on both sides.
      target.end("SEQUENCE_GAP", "the client claims frames this session never sent")
      return void refuseLink(link, "SEQUENCE_GAP", "the client claims frames this session never sent")
    }
    return target
  }
}
