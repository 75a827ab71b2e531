import { createHash } from "node:crypto"
import type { Json, NodeBus, NodeMessage } from "./broker/nodeBus.ts"
import type { GhostOutlet, ServerSession } from "./serverSession.ts"
import { isTerminal, RemoteWork, type ServerSessionSnapshot } from "./sessionSnapshot.ts"

/** The limits a node of a cluster uses (`ServerLimits`, docs/limits.md). */
export interface ClusterLimits {
  /** How long a HELLO waits for another node to hand its session over (ms). */
  readonly takeOverTimeoutMs: number
  /** How long `close()` lets other nodes take this node's sessions over before ending the rest (ms). */
  readonly handOverGraceMs: number
}

/** What the cluster needs of the session table. */
export interface SessionHolder {
  /** Takes the live session of `token` out of the table, without ending it; `undefined` if none. */
  handOut(token: string): ServerSession | undefined
  /** Puts a session another node handed over into the table, waiting for its client's link. */
  adopt(snapshot: ServerSessionSnapshot, remote: RemoteWork): ServerSession
}

/** What a HELLO naming a session this node does not hold comes to. */
export type TakeOver = { readonly kind: "none" } | { readonly kind: "timeout" } | { readonly kind: "taken" }

/** A session's work left running on this node after its hand-over, and where its frames go. */
interface Ghost {
  readonly session: ServerSession
  target: string
  readonly slots: Map<object, number>
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
  private readonly ghosts = new Map<string, Ghost[]>()
  /** Where each session this node handed over went: frames of ghosts that still send here follow it. */
  private readonly moved = new Map<string, string>()
  private readonly waiting = new Map<
    number,
    { readonly owner: string; settle(snapshot?: ServerSessionSnapshot): void }
  >()
  private readonly latestSlots = new WeakMap<ServerSession, Map<string, object>>()
  private rid = 0
  private holder: SessionHolder | undefined
  private readonly relays: RelayHandler[] = []
  private readonly goneListeners: Array<(node: string) => void> = []
  private readonly closers: Array<() => void> = []

  constructor(
    readonly nodes: NodeBus,
    private readonly limits: ClusterLimits,
  ) {
    this.nodeId = nodes.nodeId
  }

  /** Joins the cluster. */
  start(holder: SessionHolder): Promise<void> {
    this.holder = holder
    this.nodes.onNodeGone((node) => this.gone(node))
    return this.nodes.start((from, message) => this.receive(from, message))
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
    this.moved.delete(key)
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
    this.nodes.lookup(key).then(
      (owner) => {
        if (owner === undefined || owner === this.nodeId || !this.nodes.alive(owner)) return done({ kind: "none" })
        const rid = ++this.rid
        const timer = setTimeout(() => {
          // The session may still come, late: `receive` adopts it then, for the client's next attempt.
          this.waiting.delete(rid)
          done({ kind: "timeout" })
        }, this.limits.takeOverTimeoutMs)
        timer.unref()
        this.waiting.set(rid, {
          owner,
          settle: (snapshot) => {
            clearTimeout(timer)
            this.waiting.delete(rid)
            try {
              if (snapshot) this.adopt(snapshot)
            } catch (error) {
              // A snapshot this node cannot restore (another shape, in a rolling upgrade): a new session,
              // not a HELLO left waiting; the bus reports the error.
              done({ kind: "none" })
              throw error
            }
            done(snapshot ? { kind: "taken" } : { kind: "none" })
          },
        })
        this.nodes.send(owner, { t: "take", rid, key, token })
      },
      () => done({ kind: "timeout" }),
    )
  }

  private adopt(snapshot: ServerSessionSnapshot): void {
    const key = this.keyOf(snapshot.token)
    this.holder?.adopt(snapshot, new RemoteWork(key, (node, message) => this.nodes.send(node, message)))
  }

  /** Sessions handed over whose work still runs here. */
  get ghostCount(): number {
    let count = 0
    for (const list of this.ghosts.values()) count += list.length
    return count
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
    while ((sessions.size > 0 || this.ghosts.size > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    for (const list of this.ghosts.values()) for (const ghost of list) ghost.session.ghostAbort()
    this.ghosts.clear()
  }

  private receive(from: string, m: NodeMessage): void {
    switch (m.t) {
      case "take":
        try {
          return this.handOut(from, m.rid as number, m.key as string, m.token as string)
        } catch (error) {
          // Answered even so, so that the asking node does not wait for its timeout; the bus reports it.
          this.nodes.send(from, { t: "none", rid: m.rid as number })
          throw error
        }
      case "taken": {
        const snapshot = m.snapshot as unknown as ServerSessionSnapshot
        const waiting = this.waiting.get(m.rid as number)
        return waiting ? waiting.settle(snapshot) : this.adopt(snapshot)
      }
      case "none":
        return this.waiting.get(m.rid as number)?.settle()
      case "ghost-frame":
      case "ghost-latest":
        return this.ghostFrame(from, m)
      case "ghost-cancel":
      case "ghost-credit":
      case "ghost-abort":
        return this.toGhosts(m)
    }
    for (const relay of this.relays) if (relay(from, m)) return
  }

  /** The owner of the session a node asks for: hand it over, leaving its running work here as a ghost. */
  private handOut(from: string, rid: number, key: string, token: string): void {
    const session = this.holder?.handOut(token)
    if (!session) return this.nodes.send(from, { t: "none", rid })
    this.owned.delete(key)
    this.moved.set(key, from)
    const ghost: Ghost = { session, target: from, slots: new Map() }
    const snapshot = session.handOver(this.nodeId, this.outlet(key, ghost))
    if (session.running > 0) this.ghosts.set(key, [...(this.ghosts.get(key) ?? []), ghost])
    this.nodes.send(from, { t: "taken", rid, snapshot: snapshot as unknown as Json })
  }

  private outlet(key: string, ghost: Ghost): GhostOutlet {
    return {
      frame: (type, body) => {
        this.nodes.send(ghost.target, { t: "ghost-frame", key, type, body })
        if (isTerminal(type)) this.idle(key, ghost)
      },
      latest: (slot, frame) => {
        let n = ghost.slots.get(slot)
        if (n === undefined) {
          n = ghost.slots.size
          ghost.slots.set(slot, n)
        }
        this.nodes.send(ghost.target, { t: "ghost-latest", key, slot: n, frame })
      },
    }
  }

  /** A ghost with nothing left running is dropped. */
  private idle(key: string, ghost: Ghost): void {
    if (ghost.session.running > 0) return
    const rest = (this.ghosts.get(key) ?? []).filter((g) => g !== ghost)
    if (rest.length > 0) this.ghosts.set(key, rest)
    else this.ghosts.delete(key)
  }

  /** A ghost's frame: the owner sequences it; a node that handed the session on passes it along. */
  private ghostFrame(from: string, m: NodeMessage): void {
    const key = m.key as string
    const session = this.owned.get(key)
    if (!session) {
      const next = this.moved.get(key)
      if (next !== undefined) this.nodes.send(next, m)
      return
    }
    if (m.t === "ghost-frame") return session.remoteFrame(m.type as number, m.body as string)
    const slots = this.latestSlots.get(session) ?? new Map<string, object>()
    this.latestSlots.set(session, slots)
    const name = `${from}\u0000${m.slot}`
    const slot = slots.get(name) ?? {}
    slots.set(name, slot)
    session.deliverLatest(slot, m.frame as string)
  }

  /** The owner forwarded a CANCEL or CREDIT for a ghost's work, or ended the session. */
  private toGhosts(m: NodeMessage): void {
    const key = m.key as string
    for (const ghost of this.ghosts.get(key) ?? []) {
      if (m.t === "ghost-abort") ghost.session.ghostAbort()
      else if (m.t === "ghost-cancel") ghost.session.ghostCancel(m.id as number)
      else ghost.session.ghostCredit(m.id as number, m.credit as number)
      this.idle(key, ghost)
    }
  }

  /** Node `node` died or left: what it ran for sessions here is lost, and so is what runs here for it. */
  private gone(node: string): void {
    for (const waiting of [...this.waiting.values()]) if (waiting.owner === node) waiting.settle()
    for (const session of this.owned.values()) {
      for (const lost of session.remote?.lost(node) ?? []) {
        session.fail(
          lost.id,
          "SESSION_LOST",
          lost.stream
            ? "the node running this stream is gone: the stream ended early"
            : "the node running this call is gone: it may or may not have run",
        )
      }
    }
    for (const [key, list] of [...this.ghosts]) {
      for (const ghost of list) if (ghost.target === node) ghost.session.ghostAbort()
      const rest = list.filter((ghost) => ghost.target !== node)
      if (rest.length > 0) this.ghosts.set(key, rest)
      else this.ghosts.delete(key)
    }
    for (const listener of this.goneListeners) listener(node)
  }
}
