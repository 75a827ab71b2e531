import { randomBytes } from "node:crypto"
import {
  body,
  type ClientFrame,
  closeCodeOf,
  control,
  decodeClientFrame,
  type ErrorCode,
  FrameType,
  type Link,
  peekRequestHeader,
} from "@switchyard/core"
import type { Json } from "./broker/nodeBus.ts"
import { Calls } from "./calls.ts"
import type { PeerEndpoint } from "./peers.ts"
import type { Runtime, SessionPort } from "./runtime.ts"
import { SessionLink } from "./sessionLink.ts"
import { SessionSignals } from "./sessionSignals.ts"
import type { GhostWork, RemoteWork, ServerSessionSnapshot } from "./sessionSnapshot.ts"
import { Subscriptions } from "./subscriptions.ts"
import type { Subscriber } from "./topics.ts"

/** Where the frames of a ghost (work left running on a node that handed its session over) go. */
export interface GhostOutlet {
  frame(type: number, frameBody: string): void
  latest(slot: object, frame: string): void
}

/**
 * One session on the server: its link, replay and heartbeat (`sessionLink.ts`), and dispatch of every
 * client frame to its calls and streams (`calls.ts`), its subscriptions (`subscriptions.ts`), its peers
 * (`peers.ts`) or the signalled transport. It outlives its links: while disconnected it keeps running
 * handlers and queueing their results for replay, until the client resumes or the resume window passes.
 */
export class ServerSession extends SessionLink implements Subscriber, PeerEndpoint, SessionPort {
  /** Its calls and streams, and its subscriptions: made when first needed, as an idle session has none. */
  private callsMade: Calls | undefined
  private subscriptionsMade: Subscriptions | undefined
  /** Its SIGNAL frames (docs/webrtc.md): made on the first one. */
  private signals: SessionSignals | undefined
  /** Set once the session was handed to another node: its work still running here forwards frames there. */
  private ghost: GhostOutlet | undefined
  /** Its calls and streams still running on other nodes (with a cluster, after a take-over). */
  remote: RemoteWork | undefined

  constructor(
    runtime: Runtime,
    readonly id: string,
    readonly token: string,
    /** `authenticate`'s result for the connection that created or last resumed it (docs/sessions.md#credentials). */
    public auth: unknown,
    /** The public id other clients connect to (docs/peers.md); made when first asked for if not given. */
    private peerIdMade: string | undefined,
  ) {
    super(runtime)
  }

  /** The public id other clients connect to (docs/peers.md); never the token. Without peers, never made. */
  get peerId(): string {
    this.peerIdMade ??= randomBytes(16).toString("base64url")
    return this.peerIdMade
  }

  private get calls(): Calls {
    this.callsMade ??= new Calls(this)
    return this.callsMade
  }

  private get subscriptions(): Subscriptions {
    this.subscriptionsMade ??= new Subscriptions(this, this)
    return this.subscriptionsMade
  }

  /** One frame arrived on `link`; past its rate (`overRate`), a request is refused for its id. Never throws. */
  receive(link: Link, data: unknown, overRate = false): void {
    if (link !== this.link || this.ended) return
    this.heard()
    const head = overRate && typeof data === "string" ? peekRequestHeader(data) : undefined
    if (head) return this.refused(data, "RATE_LIMITED", "past this connection's rate limit; retry later", head)
    const decoded = decodeClientFrame(data, this.runtime.limits)
    if (!decoded.ok) return this.refused(data, decoded.code, decoded.message, decoded.request)
    const f = decoded.frame
    switch (f[0]) {
      case FrameType.ACK:
      case FrameType.PONG:
        if (!this.session.acknowledge(f[1])) this.violation("SEQUENCE_GAP", "acknowledged a frame never sent")
        return
      case FrameType.BYE:
        return this.end("CLIENT_CLOSED", "the client closed the session")
      case FrameType.NOTICE:
        return
      case FrameType.HELLO:
        return this.invalid("INVALID_FRAME", "HELLO is only valid as the first frame of a connection")
      case FrameType.PROBE:
        return this.invalid("INVALID_FRAME", "PROBE is only valid before HELLO")
    }
    const arrival = this.session.arrive(f[1])
    if (arrival === "gap")
      return this.violation("SEQUENCE_GAP", `expected frame ${this.session.received + 1}, got ${f[1]}`)
    if (arrival === "deliver") this.dispatch(f)
  }

  /** Ends the session for good: aborts its work, drops its subscriptions, tells the client why. */
  end(code: ErrorCode, message: string): void {
    if (this.ended) return
    this.ended = true
    if (this.expiry !== undefined) clearTimeout(this.expiry)
    this.stopHeartbeat()
    this.runtime.peers.leave(this)
    this.callsMade?.abortAll(code)
    this.remote?.abortAll()
    this.subscriptionsMade?.dropAll()
    const link = this.link
    if (link) {
      link.send(control.bye(code, message))
      link.close(closeCodeOf(code), code)
    }
    this.link = undefined
    // After the BYE: the link may be one of this session's own attempts, and dropping the attempts
    // closes it (ATTEMPT_ENDED).
    this.signals?.ended()
    this.session.reset()
    this.runtime.forget(this, code)
  }

  /** A topic message for this session (Subscriber). */
  deliver(messageBody: string): void {
    this.send(FrameType.MESSAGE, messageBody)
  }

  /**
   * An UNRELIABLE frame for this session (a message of an unreliable topic, an item of an unreliable
   * stream): latest-value-wins on the current link, and dropped when there is none. It is never numbered
   * nor kept for replay, so it can never overflow the session (docs/delivery.md).
   */
  deliverLatest(slot: object, frame: string): void {
    if (this.ghost) return this.ghost.latest(slot, frame)
    const link = this.link
    if (this.ended || !link) return
    if (link.sendLatest) link.sendLatest(slot, frame)
    else link.send(frame)
  }

  /** A PEER frame for this session (PeerEndpoint). */
  sendPeer(frameBody: string): void {
    this.send(FrameType.PEER, frameBody)
  }

  /** Whether a relayed peer message of `size` fits in half the replay buffer (PeerEndpoint). */
  roomFor(size: number): boolean {
    const { maxReplayFrames, maxReplayBytes } = this.runtime.limits
    return this.session.pending < maxReplayFrames / 2 && !this.session.wouldOverflow(size + maxReplayBytes / 2)
  }

  /** Whether an unreliable peer message goes now (PeerEndpoint): a live link, at most `max` frames unacknowledged. */
  readonly keepsUp = (max: number): boolean =>
    !this.ended && !this.ghost && this.link !== undefined && this.session.pending <= max

  send(type: number, frameBody: string): void {
    if (this.ended) return
    if (this.ghost) return this.ghost.frame(type, frameBody)
    if (this.session.send(type, frameBody) === 0) {
      this.end("REPLAY_OVERFLOW", "the client fell too far behind: the replay buffer is full")
    }
  }

  // --- Across nodes (docs/scaling.md#sessions-across-nodes) ---

  /** Carries on a session another node handed over; it waits for its client's link, as after a drop. */
  static restore(runtime: Runtime, snapshot: ServerSessionSnapshot, token: string, remote: RemoteWork): ServerSession {
    const session = new ServerSession(runtime, snapshot.id, token, snapshot.auth, snapshot.peerId)
    session.session.restore(snapshot.session)
    session.currentTransport = snapshot.transport
    for (const ghost of snapshot.ghosts) remote.add(ghost)
    session.remote = remote
    for (const { topic, key, since, member } of snapshot.subscriptions) {
      session.subscriptions.renew(topic, key, since === null ? undefined : [since[0], since[1]], member)
    }
    for (const { topic, key } of snapshot.watching ?? []) session.subscriptions.rewatch(topic, key)
    for (const { id, topic, key, since } of snapshot.subscribing) session.subscriptions.subscribe(id, topic, key, since)
    for (const p of snapshot.listing ?? []) session.subscriptions.presenceOf(p.id, p.topic, p.key, p.watch)
    session.linkClosed(undefined)
    return session
  }

  /**
   * Hands the session to another node: its link closes (the client has moved), and what it holds is
   * returned. Calls and streams still running stay here as a ghost whose frames go to `outlet`; `running`
   * tells when none is left. Peer connections (this node's hub) close, told to the client in its replay.
   */
  handOver(key: string, nodeId: string, outlet: GhostOutlet): ServerSessionSnapshot {
    this.runtime.peers.leave(this, true)
    const subscriptions = this.subscriptions.handOver()
    const snapshot: ServerSessionSnapshot = {
      id: this.id,
      key,
      peerId: this.peerId,
      auth: this.auth as Json,
      transport: this.currentTransport,
      session: this.session.snapshot(),
      subscriptions: subscriptions.held,
      subscribing: subscriptions.pending,
      listing: subscriptions.listing,
      watching: subscriptions.watching,
      ghosts: [...(this.remote?.list() ?? []), ...this.work().map((work) => ({ ...work, node: nodeId }))],
    }
    this.ghost = outlet
    this.remote = undefined
    if (this.expiry !== undefined) clearTimeout(this.expiry)
    this.stopHeartbeat()
    const link = this.link
    this.link = undefined
    this.session.reset()
    link?.close(closeCodeOf("CONNECTION_REPLACED"), "CONNECTION_REPLACED")
    return snapshot
  }

  /** Calls, streams and client publications running on this node. */
  get running(): number {
    return (this.callsMade?.running ?? 0) + (this.subscriptionsMade?.publishes().length ?? 0)
  }

  /** What runs here, as a hand-over lists it: calls, streams, and PUBLISH requests not answered yet. */
  private work(): Array<Omit<GhostWork, "node">> {
    const publishes = this.subscriptionsMade?.publishes() ?? []
    return [...(this.callsMade?.ids() ?? []), ...publishes.map((id) => ({ id, stream: false, publish: true }))]
  }

  /** A frame of this session's work on another node (a ghost): sequenced here like any other. */
  remoteFrame(type: number, frameBody: string): void {
    // Work already answered here (its node was declared gone) stays answered once.
    if (this.remote?.arrived(type, frameBody)) this.send(type, frameBody)
  }

  /** Ghost side: the owner forwarded the client's CANCEL or CREDIT, or ended the session (`abort`). */
  ghostCancel(id: number): void {
    this.calls.cancel(id)
  }

  ghostCredit(id: number, credit: number): void {
    this.calls.credit(id, credit)
  }

  ghostAbort(): void {
    this.callsMade?.abortAll("SESSION_LOST")
    this.subscriptionsMade?.abandonPublishes()
  }

  /** Ghost side: the owner is gone; what runs here stops, and is returned to be answered by the next one. */
  abandon(): Array<Omit<GhostWork, "node">> {
    const work = this.work()
    this.ghostAbort()
    return work
  }

  /**
   * A frame the codec refused. A request too large or too deep is answered with an ERROR for its id and
   * counted in the sequence (the client may have queued it before it knew our limits), as is a request
   * whose head the codec could read (`request`: a SUBSCRIBE with a malformed `since`); anything else is
   * a protocol error answered with a NOTICE.
   */
  private refused(data: unknown, code: ErrorCode, message: string, request?: { seq: number; id: number }): void {
    const head =
      request ??
      ((code === "MESSAGE_TOO_LARGE" || code === "FRAME_TOO_DEEP") && typeof data === "string"
        ? peekRequestHeader(data)
        : undefined)
    if (!head) return this.invalid(code, message)
    const arrival = this.session.arrive(head.seq)
    if (arrival === "deliver") return this.fail(head.id, code, message)
    if (arrival === "gap")
      this.violation("SEQUENCE_GAP", `expected frame ${this.session.received + 1}, got ${head.seq}`)
  }

  private dispatch(f: ClientFrame): void {
    switch (f[0]) {
      case FrameType.CALL:
        return this.calls.call(f[2], f[3], f[4])
      case FrameType.STREAM:
        return this.calls.stream(f[2], f[3], f[4], f[5])
      case FrameType.CANCEL:
        return this.remote?.has(f[2]) ? this.remote.cancel(f[2]) : this.calls.cancel(f[2])
      case FrameType.CREDIT:
        return this.remote?.has(f[2]) ? this.remote.credit(f[2], f[3]) : this.calls.credit(f[2], f[3])
      case FrameType.SUBSCRIBE:
        return this.subscriptions.subscribe(f[2], f[3], f[4], f[5])
      case FrameType.UNSUBSCRIBE:
        return this.subscriptions.unsubscribe(f[2], f[3])
      case FrameType.PUBLISH:
        return this.subscriptions.publish(f[2], f[3], f[4], f[5])
      case FrameType.PRESENCE:
        return this.subscriptions.presenceOf(f[2], f[3], f[4], f[5])
      case FrameType.SIGNAL:
        this.signals ??= new SessionSignals(this)
        return this.signals.receive(f[2], f[3], f[4], f[5])
      case FrameType.PEER:
        return this.runtime.peers.receive(this, f[2], f[3], f[4])
    }
  }

  fail(id: number, code: ErrorCode, message: string, data?: string): void {
    this.send(FrameType.ERROR, body.error(id, code, message, data))
  }
}
