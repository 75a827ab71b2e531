import { createHash } from "node:crypto"
import type { Json, NodeBus, NodeMessage } from "./broker/nodeBus.ts"
import { GhostRoutes, passedOn } from "./ghostRoutes.ts"
import { Ghosts } from "./ghosts.ts"
import type { HandOut } from "./handOut.ts"
import type { ServerSession } from "./serverSession.ts"
import { RemoteWork, type ServerSessionSnapshot } from "./sessionSnapshot.ts"

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

/** How long a node remembers where it handed a session, for take-overs that asked it too early (ms). */
const HANDED_TO_MS = 10_000

/** How many times a take-over follows a session that was handed on before it asked. */
const MAX_HOPS = 2

/** What a HELLO naming a session this node does not hold comes to. */
export type TakeOver = { readonly kind: "none" } | { readonly kind: "timeout" } | { readonly kind: "taken" }

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
  private readonly waiting = new Map<
    number,
    { owner: string; hops: number; settle(snapshot?: ServerSessionSnapshot): boolean }
  >()
  /** Where sessions handed on lately went, for a take-over that asks here before the directory says so. */
  private readonly handedTo = new Map<string, string>()
  /** What this node answered to the snapshots it was sent lately, by its take-over's rid: adopted or not. */
  private readonly answered = new Map<number, boolean>()
  /** Sessions handed out and not confirmed yet, by key: put back if refused, or if their new node is gone. */
  private readonly unconfirmed = new Map<string, HandOut>()
  private readonly latestSlots = new WeakMap<ServerSession, Map<string, object>>()
  private rid = 0
  private holder: SessionHolder | undefined
  /** Settles once this node has joined: until then it knows no node alive, and could take over nothing. */
  private joined: Promise<void> = Promise.resolve()
  private isJoined = false
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
  }

  /** Joins the cluster. */
  start(holder: SessionHolder): Promise<void> {
    this.holder = holder
    this.nodes.onNodeGone((node) => this.gone(node))
    this.joined = this.nodes.start((from, message) => this.receive(from, message))
    this.joined.then(
      () => {
        this.isJoined = true
      },
      () => {},
    )
    return this.joined
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
    return createHash("sha256").update(token).digest("base64url")
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
    const key = this.keyOf(token)
    this.whenJoined()
      .then(() => this.nodes.lookup(key))
      .then(
        (owner) => {
          if (owner === undefined || owner === this.nodeId || !this.nodes.alive(owner)) return done({ kind: "none" })
          const rid = ++this.rid
          const timer = setTimeout(() => {
            // A snapshot that comes later is refused: its owner puts the session back, for the client's retry.
            this.waiting.delete(rid)
            done({ kind: "timeout" })
          }, this.limits.takeOverTimeoutMs)
          timer.unref()
          const asking = {
            owner,
            hops: 0,
            settle: (snapshot?: ServerSessionSnapshot) => {
              clearTimeout(timer)
              this.waiting.delete(rid)
              let adopted: boolean
              try {
                adopted = snapshot !== undefined && this.adopt(snapshot, token, asking.owner)
              } catch (error) {
                // A snapshot this node cannot restore (another shape, in a rolling upgrade): a new session,
                // not a HELLO left waiting; the bus reports the error.
                done({ kind: "none" })
                throw error
              }
              done(adopted ? { kind: "taken" } : { kind: "none" })
              return adopted
            },
          }
          this.waiting.set(rid, asking)
          // By key: the token itself never crosses the bus (a Redis client could read it there).
          this.nodes.send(owner, { t: "take", rid, key })
        },
        () => done({ kind: "timeout" }),
      )
  }

  /** Adopts a snapshot for the client whose HELLO carried `token`, if the token is the session's. */
  /**
   * Settles once this node has joined, within `takeOverTimeoutMs`. A server attached to an HTTP server
   * serves before it joined (`listen()` waits), when it knows no node alive: its HELLOs wait instead.
   */
  private whenJoined(): Promise<void> {
    if (this.isJoined) return Promise.resolve()
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<void>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("the node has not joined its cluster yet")),
        this.limits.takeOverTimeoutMs,
      )
    })
    return Promise.race([this.joined, late]).finally(() => clearTimeout(timer))
  }

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
      case "taken": {
        const snapshot = m.snapshot as unknown as ServerSessionSnapshot
        let adopted = false
        try {
          adopted = this.waiting.get(m.rid as number)?.settle(snapshot) === true
        } finally {
          // The node that handed it out keeps the session until it hears which (even when adopting threw).
          this.answer(from, snapshot.key, m.rid as number, adopted)
        }
        return
      }
      case "answer?":
        // Asked again (the answer may have been lost): none yet while the snapshot may still come in time.
        if (!this.waiting.has(m.rid as number)) this.answer(from, m.key as string, m.rid as number)
        return
      case "adopted":
      case "refused": {
        const handOut = this.unconfirmed.get(m.key as string)
        // The answer to this hand-out (a node older than the rid answers without it).
        if (handOut?.to !== from || (m.rid !== undefined && m.rid !== handOut.rid)) return
        return m.t === "adopted" ? this.confirmed(handOut) : void this.putBack(handOut)
      }
      case "none":
        return void this.waiting.get(m.rid as number)?.settle()
      case "moved":
        return this.follow(m.rid as number, m.key as string, m.to as string)
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

  /** Tells the node that handed a session out whether this one adopted it (`adopted`: now, else as told before). */
  private answer(to: string, key: string, rid: number, adopted = this.answered.get(rid) === true): void {
    if (!this.answered.has(rid)) setTimeout(() => this.answered.delete(rid), HANDED_TO_MS).unref()
    this.answered.set(rid, adopted)
    this.nodes.send(to, { t: adopted ? "adopted" : "refused", key, rid })
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

  /** The node asked for a session had handed it on to `to`: ask there, at most twice. */
  private follow(rid: number, key: string, to: string): void {
    const waiting = this.waiting.get(rid)
    if (!waiting) return
    if (waiting.hops >= MAX_HOPS || to === this.nodeId || !this.nodes.alive(to)) return void waiting.settle()
    waiting.hops++
    waiting.owner = to
    this.nodes.send(to, { t: "take", rid, key })
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
    for (const waiting of [...this.waiting.values()]) if (waiting.owner === node) waiting.settle()
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
