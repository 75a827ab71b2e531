import type { Json, NodeBus, NodeMessage } from "./broker/nodeBus.ts"
import { GhostRoutes, passedOn } from "./ghostRoutes.ts"
import { Ghosts } from "./ghosts.ts"
import type { HandOut } from "./handOut.ts"
import type { ServerSession } from "./serverSession.ts"
import { RemoteWork, type ServerSessionSnapshot } from "./sessionSnapshot.ts"
import { directoryKey, HANDED_TO_MS, type TakeOver, TakeOvers } from "./takeOvers.ts"

/** The limits a node of a cluster uses (`ServerLimits`, docs/limits.md). */
export interface ClusterLimits {
  /** How long a HELLO waits for another node to hand its session over (ms). */
  readonly takeOverTimeoutMs: number
  /** How long `close()` lets other nodes take this node's sessions over before ending the rest (ms). */
  readonly handOverGraceMs: number
  /** The largest snapshot handed to another node (JSON characters). */
  readonly maxSnapshotChars: number
}

/** What the cluster needs of the session table. */
export interface SessionHolder {
  /** Takes the live session of `token` out of the table, without ending it; `undefined` if none. */
  handOut(token: string): ServerSession | undefined
  /** The node a session was handed out to holds it now: it counts here no longer. */
  handedOn(session: ServerSession): void
  /**
   * Puts a session another node handed over into the table, waiting for its client's link; `previous`:
   * the object this node handed out, when the hand-over failed and the session is put back.
   */
  adopt(snapshot: ServerSessionSnapshot, token: string, remote: RemoteWork, previous?: ServerSession): ServerSession
}

/** A message handler for the HTTP relay (`httpRelay.ts`), which shares the bus. */
export type RelayHandler = (from: string, message: NodeMessage) => boolean

/**
 * The session side of one node in a cluster (docs/scaling.md#sessions-across-nodes): sessions are owned
 * by one node, recorded in the directory under a hash of their token. A HELLO naming a session another
 * live node owns takes it over from there; the work it left running stays there as a ghost whose frames
 * come here to be sequenced; when a node dies, what its ghosts were running is answered `SESSION_LOST`.
 */
export class SessionCluster {
  readonly nodeId: string
  private readonly owned = new Map<string, ServerSession>()
  private readonly ghosts: Ghosts
  private readonly routes: GhostRoutes
  /** Take-overs this node asked for. */
  private readonly takeOvers: TakeOvers
  /** Where sessions handed on lately went, for a take-over that asks here before the directory says so. */
  private readonly handedTo = new Map<string, string>()
  /** Sessions handed out and not confirmed yet, by key: put back if refused, or if their new node is gone. */
  private readonly unconfirmed = new Map<string, HandOut>()
  private readonly latestSlots = new WeakMap<ServerSession, Map<string, object>>()
  private holder: SessionHolder | undefined
  private readonly relays: RelayHandler[] = []
  private readonly goneListeners: Array<(node: string) => void> = []
  private readonly closers: Array<() => void> = []

  constructor(
    readonly nodes: NodeBus,
    private readonly limits: ClusterLimits,
  ) {
    this.nodeId = nodes.nodeId
    this.ghosts = new Ghosts(nodes)
    this.routes = new GhostRoutes(nodes, (from, message) => this.ghostFrame(from, message))
    this.takeOvers = new TakeOvers(nodes, limits, (snapshot, token, from) => this.adopt(snapshot, token, from))
  }

  /** Joins the cluster. */
  start(holder: SessionHolder): Promise<void> {
    this.holder = holder
    this.nodes.onNodeGone((node) => this.gone(node))
    const joined = this.nodes.start((from, message) => this.receive(from, message))
    this.takeOvers.joining(joined)
    return joined
  }

  /** Another part of the node that talks over the bus (the HTTP relay), hears of nodes gone, and closes. */
  use(handler: RelayHandler, gone: (node: string) => void, close: () => void): void {
    this.relays.push(handler)
    this.goneListeners.push(gone)
    this.closers.push(close)
  }

  /** Leaves the cluster, last of all (after the transports closed). */
  async close(): Promise<void> {
    for (const close of this.closers) close()
    await this.nodes.close()
  }

  /** The directory key of a token: a hash, so that the token itself never leaves the nodes' memory. */
  keyOf(token: string): string {
    return directoryKey(token)
  }

  /** A session this node owns now: new, or adopted. */
  claim(session: ServerSession): void {
    const key = this.keyOf(session.token)
    this.owned.set(key, session)
    void this.nodes.claim(key)
  }

  /** A session of this node ended for good. */
  release(session: ServerSession): void {
    const key = this.keyOf(session.token)
    if (this.owned.get(key) !== session) return
    this.owned.delete(key)
    void this.nodes.release(key)
  }

  /**
   * A HELLO named `token`, which this node does not hold: asks its owner, if a live one, to hand it over.
   * `done` is called once, the session in the table when `taken`.
   */
  takeOver(token: string, done: (outcome: TakeOver) => void): void {
    this.takeOvers.ask(token, done)
  }

  /** Adopts a snapshot for the client whose HELLO carried `token`, if the token is the session's. */
  private adopt(snapshot: ServerSessionSnapshot, token: string, from: string): boolean {
    const key = this.keyOf(token)
    if (snapshot.key !== key || !this.holder) return false
    this.routes.adopted(key, from, new Set(snapshot.ghosts.map((ghost) => ghost.node)))
    this.holder.adopt(snapshot, token, new RemoteWork(key, (node, message) => this.nodes.send(node, message)))
    return true
  }

  /** Sessions handed over whose work still runs here. */
  get ghostCount(): number {
    return this.ghosts.count
  }

  /**
   * The node leaves gracefully (`server.close()`): each client's link is closed without ending its
   * session, so that the client reconnects at once, lands on another node and that node takes the session
   * over; ghosts finish the calls in flight and forward their results. Returns when nothing is left here,
   * or when the grace period is over (the caller ends what remains).
   */
  async leave(sessions: { held(): ServerSession[]; readonly size: number }): Promise<void> {
    for (const session of sessions.held()) session.closeLink("SERVER_CLOSED")
    const deadline = Date.now() + this.limits.handOverGraceMs
    // Also until the ghost nodes of sessions handed on confirmed they send to the new owner.
    const busy = () => sessions.size + this.ghosts.count + this.routes.pending + this.unconfirmed.size > 0
    while (busy() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    this.ghosts.abortAll()
  }

  private receive(from: string, m: NodeMessage): void {
    switch (m.t) {
      case "take":
        try {
          return this.handOut(from, m.rid as number, m.key as string)
        } catch (error) {
          // Answered even so, so that the asking node does not wait for its timeout; the bus reports it.
          this.nodes.send(from, { t: "none", rid: m.rid as number })
          throw error
        }
      case "taken":
        return this.takeOvers.taken(from, m)
      case "answer?":
        return this.takeOvers.askedAgain(from, m)
      case "adopted":
      case "refused": {
        const handOut = this.unconfirmed.get(m.key as string)
        // The answer to this hand-out (a node older than the rid answers without it).
        if (handOut?.to !== from || (m.rid !== undefined && m.rid !== handOut.rid)) return
        return m.t === "adopted" ? this.confirmed(handOut) : void this.putBack(handOut)
      }
      case "none":
        return this.takeOvers.none(m.rid as number)
      case "moved":
        return this.takeOvers.follow(m.rid as number, m.key as string, m.to as string)
      case "ghost-frame":
      case "ghost-latest":
        return this.ghostFrame(from, m)
      case "ghost-cancel":
      case "ghost-credit":
      case "ghost-abort":
        return this.ghosts.control(m)
      case "ghost-retarget":
        this.ghosts.retarget(m.key as string, m.to as string)
        return this.nodes.send(from, { t: "ghost-retargeted", key: m.key as string })
      case "ghost-retargeted":
        return this.routes.retargeted(from, m.key as string)
      case "ghost-switched":
        return this.routes.switched(m.key as string, m.node as string)
    }
    for (const relay of this.relays) if (relay(from, m)) return
  }

  /** The owner of the session a node asks for: hand it over, leaving its running work here as a ghost. */
  private handOut(from: string, rid: number, key: string): void {
    const pending = this.unconfirmed.get(key)
    if (pending && pending.to !== from) return void pending.askers.push([from, rid])
    // The node it was handed to asks again: what it was sent was lost; it is sent anew.
    if (pending) this.putBack(pending)
    const owned = this.owned.get(key)
    const session = owned && this.holder?.handOut(owned.token)
    if (!owned || !session) {
      // Handed on a moment ago, and the new owner's claim may not be in the directory yet: say where.
      const to = this.handedTo.get(key)
      return this.nodes.send(from, to === undefined ? { t: "none", rid } : { t: "moved", rid, key, to })
    }
    this.owned.delete(key)
    const ghostNodes = new Set(session.remote?.list().map((ghost) => ghost.node))
    const snapshot = this.ghosts.leave(key, session, from, (outlet) => session.handOver(key, this.nodeId, outlet))
    const handOut: HandOut = { key, to: from, rid, session, snapshot, ghostNodes, limbo: [], askers: [] }
    const size = JSON.stringify(snapshot).length
    if (size > this.limits.maxSnapshotChars) {
      // Sent, it could cut the receiver's pub/sub connection (Redis's output buffer limit): it ends here.
      const why = `the session is too large to move to another node (${size} characters of snapshot)`
      this.putBack(handOut)?.end("REPLAY_OVERFLOW", why)
      return this.nodes.send(from, { t: "none", rid })
    }
    this.unconfirmed.set(key, handOut)
    this.nodes.send(from, { t: "taken", rid, snapshot: snapshot as unknown as Json })
    handOut.timer = setInterval(() => this.nodes.send(from, { t: "answer?", rid, key }), this.limits.takeOverTimeoutMs)
    handOut.timer.unref()
  }

  /** The node a session was handed to has it: its ghosts and what came meanwhile go there. */
  private confirmed(handOut: HandOut): void {
    const { key, to: from } = handOut
    this.unconfirmed.delete(key)
    clearInterval(handOut.timer)
    this.holder?.handedOn(handOut.session)
    this.handedTo.set(key, from)
    setTimeout(() => this.handedTo.get(key) === from && this.handedTo.delete(key), HANDED_TO_MS).unref()
    // Work of this session running on other nodes now sends straight to its new owner.
    this.routes.handedOn(key, from, handOut.ghostNodes)
    for (const [, m] of handOut.limbo) this.nodes.send(from, m)
    this.ghosts.confirm(key)
    for (const [asker, rid] of handOut.askers) this.handOut(asker, rid, key)
  }

  /** A hand-over refused (late, or by a node that asked again), or its node gone: the session is held here again. */
  private putBack(handOut: HandOut): ServerSession | undefined {
    if (this.unconfirmed.get(handOut.key) === handOut) this.unconfirmed.delete(handOut.key)
    clearInterval(handOut.timer)
    const { key, snapshot, session: previous } = handOut
    const remote = new RemoteWork(key, (node, m) => this.nodes.send(node, m))
    const session = this.holder?.adopt(snapshot, previous.token, remote, previous)
    this.ghosts.retarget(key, this.nodeId)
    for (const [from, m] of handOut.limbo) this.ghostFrame(from, m)
    for (const [asker, rid] of handOut.askers) this.handOut(asker, rid, key)
    return session
  }

  /** A ghost's frame: the owner sequences it; a node that handed the session on passes it along. */
  private ghostFrame(from: string, m: NodeMessage): void {
    const key = m.key as string
    const session = this.owned.get(key)
    const pending = session ? undefined : this.unconfirmed.get(key)
    if (pending) return void pending.limbo.push([from, passedOn(from, m)])
    if (!session) return this.routes.forward(passedOn(from, m))
    if (this.routes.hold(from, m)) return
    if (m.t === "ghost-frame") return session.remoteFrame(m.type as number, m.body as string)
    const slots = this.latestSlots.get(session) ?? new Map<string, object>()
    this.latestSlots.set(session, slots)
    // Numbered by the node running the ghost, which a frame passed on names.
    const name = `${(m.node as string | undefined) ?? from}\u0000${m.slot}`
    const slot = slots.get(name) ?? {}
    slots.set(name, slot)
    session.deliverLatest(slot, m.frame as string)
  }

  /** Node `node` died or left: what it ran for sessions here is lost, and so is what runs here for it. */
  private gone(node: string): void {
    this.takeOvers.gone(node)
    for (const handOut of [...this.unconfirmed.values()]) if (handOut.to === node) this.putBack(handOut)
    // Frames a node was passing on from ghosts may be gone with it: that work is lost too.
    for (const { key, node: ghostNode } of this.routes.gone(node)) this.lost(this.owned.get(key), ghostNode, true)
    for (const session of this.owned.values()) this.lost(session, node, false)
    this.ghosts.gone(node)
    for (const listener of this.goneListeners) listener(node)
  }

  /** What node `node` ran for `session` is lost: answered `SESSION_LOST`, and stopped there when `stop`. */
  private lost(session: ServerSession | undefined, node: string, stop: boolean): void {
    const lost = session?.remote?.lost(node) ?? []
    if (!session || lost.length === 0) return
    if (stop) this.nodes.send(node, { t: "ghost-abort", key: this.keyOf(session.token) })
    for (const work of lost) {
      session.fail(
        work.id,
        "SESSION_LOST",
        work.stream
          ? "the node running this stream is gone: the stream ended early"
          : work.publish
            ? "the node publishing this message is gone: it may or may not have been published"
            : "the node running this call is gone: it may or may not have run",
      )
    }
  }
}
