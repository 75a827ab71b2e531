import { randomBytes } from "node:crypto"
import type { NodeBus, NodeGone, NodeMessage } from "@switchyard/server-node"
import { type RedisConnections, within } from "./connection.ts"
import { NodeDirectory } from "./nodeDirectory.ts"
import { type Peer, Peers } from "./nodePeers.ts"
import { heartbeatScript, leaveScript } from "./nodeScripts.ts"
import { formatNodeMessage, NodeMessageError, NodeMessageReports, parseNodeMessage } from "./nodeWire.ts"
import { runScript } from "./scripts.ts"

/** Bounds of the Redis node bus. */
export interface NodeTimings {
  /** How long `start()` and `lookup()` wait for a Redis that is down. */
  readonly unavailableAfterMs: number
  /**
   * TTL of a node's liveness key, refreshed every fifth of it: a node killed without `close()` is gone
   * for the others within `nodeTtlMs` and a fifth (plus a round trip).
   */
  readonly nodeTtlMs: number
  /** TTL of a session's directory entry, refreshed every third of it while its owner lives. */
  readonly ownerTtlMs: number
}

/** What a node's bus did, for logs and tests. */
export interface NodeCounts {
  /** Messages published. */
  sent: number
  /** Messages dropped: Redis was down (or the PUBLISH failed), the bus was closed, or `to` not alive. */
  dropped: number
  /** Messages delivered to `receive`. */
  received: number
  /** Times a sender's numbering jumped: its messages were lost on the way (a Redis outage). */
  gaps: number
  /** Messages for an earlier process under this node's id (sent before the sender heard of this one): dropped. */
  stale: number
  /** Resets sent and received: messages were lost between two nodes, and both ends were told the other gone. */
  resets: number
  /** Messages refused (not node messages, another version) or whose handling threw, each reported. */
  refused: number
}

/**
 * The node bus on Redis (docs/scaling.md#node-messages-and-the-directory-on-redis), on the broker's two
 * connections. Messages: a channel per node, `<prefix>n:<id>`, each numbered per sender→receiver
 * (`nodeWire.ts`): one connection publishes them in call order and one delivers them, so they arrive in
 * order. A message lost (dropped while Redis was down, or published to nobody) or a jump in the numbers
 * is told on **both** sides by a reset: each end tells its listeners the other is gone, so that what was
 * in flight between them ends (`SESSION_LOST`, relays answered) rather than silently missing a part.
 * Liveness: `<prefix>node:<id>` with a TTL, refreshed by a heartbeat that also lists the live members of
 * `<prefix>nodes`; joins and leaves are announced on `<prefix>node-events` so that they are seen at once.
 * The directory: `nodeDirectory.ts`.
 *
 * @example
 * ```ts
 * declare const connections: RedisConnections
 * declare const timings: NodeTimings
 * const nodes = new RedisNodes(connections, "node-a", "switchyard:", timings)
 * ```
 * await nodes.start((from, message) => console.log(from, message))
 * nodes.send("node-b", { t: "hello" })
 */
export class RedisNodes implements NodeBus {
  readonly counts: NodeCounts = { sent: 0, dropped: 0, received: 0, gaps: 0, stale: 0, resets: 0, refused: 0 }
  /**
   * This process's random id. Every message carries its sender's and its receiver's: a node restarted
   * under the same id (within `nodeTtlMs`, its old liveness key still there) is a new node, the old
   * process gone for the others, and the numbering between the two starts again.
   */
  readonly incarnation = randomBytes(6).toString("base64url")
  #receive: ((from: string, message: NodeMessage) => void) | undefined
  #closed = false
  readonly #listeners = new Set<(nodeId: string, why: NodeGone) => void>()
  readonly #reports = new NodeMessageReports()
  /** The other nodes alive, as last heard, with when that was (performance.now()). */
  readonly #alive = new Map<string, number>()
  /**
   * Nodes that said goodbye, with when and which incarnation: a heartbeat answered before their goodbye
   * must not revive them (a new process under the same id is another matter).
   */
  readonly #departed = new Map<string, { readonly at: number; readonly incarnation: string }>()
  /** Each node heard of, this one included: its incarnation and the numbers between the two. */
  readonly #peers = new Peers()
  /** Until then, a node missing from a heartbeat is not declared gone: Redis lost the keys, or this node was away. */
  #graceUntil = 0
  #beating = false
  readonly #timers: Array<ReturnType<typeof setInterval>> = []
  #offState: (() => void) | undefined
  readonly #directory: NodeDirectory

  constructor(
    private readonly connections: RedisConnections,
    readonly nodeId: string,
    private readonly prefix: string,
    private readonly timings: NodeTimings,
  ) {
    if (!/^[A-Za-z0-9_-]+$/.test(nodeId)) throw new Error(`a node id is letters, digits, - and _: ${nodeId}`)
    this.#directory = new NodeDirectory(connections, nodeId, prefix, timings)
    this.#peers.learn(nodeId, this.incarnation)
  }

  async start(receive: (from: string, message: NodeMessage) => void): Promise<void> {
    if (this.#receive || this.#closed) throw new Error("a node bus starts once")
    this.#receive = receive
    const { subscriber, command } = this.connections
    // Subscribed before the first heartbeat announces this node: nobody can send here too early.
    const subscribed = Promise.all([
      subscriber.subscribe(`${this.prefix}n:${this.nodeId}`, (text) => this.#message(text)),
      subscriber.subscribe(`${this.prefix}node-events`, (text) => this.#event(text)),
    ])
    this.#offState = this.connections.onState(({ up }) => {
      if (!up) return
      this.#payResets()
      void this.#beat()
      this.#directory.flush()
    })
    this.connections.start()
    const every = (ms: number, task: () => void) => {
      const timer = setInterval(task, ms)
      timer.unref()
      this.#timers.push(timer)
    }
    every(this.timings.nodeTtlMs / 5, () => {
      this.#payResets()
      void this.#beat()
    })
    every(this.timings.ownerTtlMs / 3, () => void this.#directory.keep(false))
    await subscribed
    const wait = this.timings.unavailableAfterMs
    try {
      await Promise.all([subscriber.ready(wait), command.ready(wait)])
      await this.#beat()
    } catch {
      // Redis is down: the node serves its own clients, and announces itself once Redis is back.
    }
  }

  send(to: string, message: NodeMessage): void {
    this.#publish(to, "m", JSON.stringify(message))
  }

  /**
   * Publishes a message (`m`) or a reset (`r`) to `to`. One lost on the way (Redis down, the PUBLISH
   * failed, or it reached no subscriber: the receiver's pub/sub was down) is owed as a reset, so that the
   * receiver learns of it even when nothing follows it.
   */
  #publish(to: string, kind: "m" | "r", body: string): void {
    const peer = this.#peers.get(to)
    // Numbered even when dropped, so that the receiver sees the jump at the next message.
    const n = peer ? ++peer.sent : 0
    const client = this.connections.command.client
    if (this.#closed || !peer || !this.alive(to)) {
      this.counts.dropped++
      return
    }
    const lost = () => {
      this.counts.dropped++
      if (this.#peers.get(to) === peer && !this.#closed) peer.owed = true
    }
    if (!client) return lost()
    this.counts.sent++
    const text = formatNodeMessage({
      from: this.nodeId,
      incarnation: this.incarnation,
      to: peer.incarnation,
      n,
      kind,
      body,
    })
    // Not awaited: one connection writes its commands in call order, so messages leave in send order.
    client.sendCommand(["PUBLISH", `${this.prefix}n:${to}`, text]).then((receivers) => {
      if (Number(receivers) === 0) lost()
      else if (kind === "r") peer.told = false
    }, lost)
  }

  /**
   * Pays the resets owed (Redis takes messages again): each node that lost a message from this one is
   * told gone here, and sent a reset so that it tells its own listeners this one is gone.
   */
  #payResets(): void {
    if (!this.connections.command.client || !this.connections.up) return
    for (const [id, peer] of this.#peers.all()) {
      if (!peer.owed || !this.alive(id) || id === this.nodeId) continue
      peer.owed = false
      this.counts.resets++
      if (!peer.told) this.#tellGone(id, "lost")
      peer.told = true
      this.#publish(id, "r", "")
    }
  }

  claim(key: string): Promise<void> {
    return this.#directory.claim(key)
  }

  lookup(key: string): Promise<string | undefined> {
    return this.#directory.lookup(key)
  }

  release(key: string): Promise<void> {
    return this.#directory.release(key)
  }

  alive(nodeId: string): boolean {
    if (nodeId === this.nodeId) return this.#receive !== undefined && !this.#closed
    return this.#alive.has(nodeId)
  }

  onNodeGone(listener: (nodeId: string, why: NodeGone) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Calls `listener` with each message this node refuses or fails to handle (`redisBroker()` reports them
   * to the server's `onError`); without a listener each is logged. The node goes on either way.
   */
  onError(listener: (error: NodeMessageError) => void): () => void {
    return this.#reports.listen(listener)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const timer of this.#timers) clearInterval(timer)
    this.#offState?.()
    this.#directory.close()
    const client = this.connections.command.client
    if (client && this.#receive) {
      // After every message this node sent (same connection): the others hear them, then the goodbye.
      const leave = runScript(
        client,
        leaveScript,
        [this.#nodeKey(this.nodeId), `${this.prefix}nodes`],
        [this.nodeId, `${this.prefix}node-events`, this.incarnation],
      )
      await within(leave, this.timings.unavailableAfterMs, "leave").catch(() => {})
    }
    this.connections.subscriber.unsubscribe(`${this.prefix}n:${this.nodeId}`)
    this.connections.subscriber.unsubscribe(`${this.prefix}node-events`)
    this.#alive.clear()
  }

  #nodeKey(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`
  }

  /** Refreshes this node's liveness key and learns who else is alive; declares gone who is not. */
  async #beat(): Promise<void> {
    const client = this.connections.command.client
    if (this.#beating || this.#closed || !this.#receive || !client || !this.connections.up) return
    this.#beating = true
    const askedAt = performance.now()
    const { nodeTtlMs, unavailableAfterMs } = this.timings
    try {
      const reply = await within(
        runScript(
          client,
          heartbeatScript,
          [this.#nodeKey(this.nodeId), `${this.prefix}nodes`],
          [this.nodeId, String(nodeTtlMs), this.#nodeKey(""), `${this.prefix}node-events`, this.incarnation],
        ),
        unavailableAfterMs,
        "heartbeat",
      )
      this.#heartbeat(reply as Array<number | string>, askedAt)
    } catch {
      // The connection's health check reports a lost Redis; nobody is declared gone meanwhile.
    } finally {
      this.#beating = false
    }
  }

  #heartbeat([existed, ...pairs]: Array<number | string>, askedAt: number): void {
    if (this.#closed) return
    const now = performance.now()
    const { nodeTtlMs } = this.timings
    if (existed !== 1) {
      // This node's own key had lapsed: it is new, Redis lost its keys (restart, FLUSHALL) or it was
      // cut off longer than the TTL. The others may not have refreshed theirs yet: wait a TTL before
      // judging them, and write back the directory entries Redis lost.
      this.#graceUntil = now + nodeTtlMs
      void this.#directory.keep(true)
    }
    for (const [id, { at }] of this.#departed) if (now - at > 2 * nodeTtlMs) this.#departed.delete(id)
    const live = new Set<string>()
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const [id, incarnation] = [String(pairs[i]), String(pairs[i + 1])]
      live.add(id)
      if (id === this.nodeId || this.#departed.get(id)?.incarnation === incarnation) continue
      if (!this.#learn(id, incarnation)) continue
      this.#alive.set(id, now)
    }
    if (askedAt < this.#graceUntil) return
    for (const [id, at] of [...this.#alive]) if (!live.has(id) && at < askedAt) this.#gone(id)
  }

  /** A join (`+<id> <incarnation>`) or a leave (`-<id> <incarnation>`) announced on `<prefix>node-events`. */
  #event(text: string): void {
    const [id = "", incarnation = ""] = text.slice(1).split(" ")
    if (!/^[+-][A-Za-z0-9_-]+ [A-Za-z0-9_-]+$/.test(text))
      return this.#refuse(
        new NodeMessageError("NODE_MESSAGE_REFUSED", `not a node event: ${JSON.stringify(text.slice(0, 80))}`),
      )
    if (id === this.nodeId || this.#closed) return
    if (text.startsWith("+")) {
      if (!this.#learn(id, incarnation)) return
      this.#departed.delete(id)
      this.#alive.set(id, performance.now())
    } else if (this.#peers.get(id)?.incarnation === incarnation) {
      // The goodbye of the process this node knows (an earlier one's goodbye changes nothing).
      this.#departed.set(id, { at: performance.now(), incarnation })
      this.#gone(id)
    }
  }

  /**
   * What is known of node `id`, which a message, a heartbeat or a join names as `incarnation`: a new one
   * is a new process under that id (restarted), and the one this node knew is gone. `undefined` for an
   * incarnation already replaced (a late message of an earlier process).
   */
  #learn(id: string, incarnation: string): Peer | undefined {
    const { peer, replaced } = this.#peers.learn(id, incarnation)
    if (replaced && replaced.heard !== -1) {
      this.#alive.delete(id)
      this.#tellGone(id, "gone")
    }
    return peer
  }

  #message(text: string): void {
    if (this.#closed) return
    const message = parseNodeMessage(text)
    if (message instanceof NodeMessageError) return this.#refuse(message)
    const { from, incarnation, to, n, kind } = message
    if (to !== this.incarnation) {
      // Sent to an earlier process under this node's id, before the sender heard of this one.
      this.counts.stale++
      return
    }
    const peer = this.#learn(from, incarnation)
    const last = peer?.heard ?? 0
    // Older than one already delivered: it came late on a connection that died; counted lost already.
    if (!peer || (last >= 0 && n <= last)) return
    peer.heard = n
    if (!this.#departed.has(from)) this.#alive.set(from, performance.now())
    const gap = last >= 0 && n !== last + 1
    if (gap) this.counts.gaps++
    if (gap || kind === "r") {
      // Messages were lost between the two: what was in flight ends on both sides. A reset answers a
      // gap (and pays one owed); a reset received needs none back.
      if (kind === "r") this.counts.resets++
      peer.owed = false
      if (!peer.told) this.#tellGone(from, "lost")
      peer.told = kind === "m" && from !== this.nodeId
      if (peer.told) this.#publish(from, "r", "")
    }
    if (kind === "r") return
    let parsed: NodeMessage
    try {
      parsed = JSON.parse(message.body) as NodeMessage
    } catch {
      return this.#refuse(new NodeMessageError("NODE_MESSAGE_REFUSED", `a node message from ${from} is not JSON`))
    }
    this.counts.received++
    try {
      this.#receive?.(from, parsed)
    } catch (error) {
      // Not thrown into node-redis's reader (nor as an uncaught error): one bad message must not take
      // the process down (a snapshot of a newer shape in a rolling upgrade, a bug).
      const reason = error instanceof Error ? error.message : String(error)
      this.#refuse(
        new NodeMessageError("NODE_MESSAGE_FAILED", `node message ${parsed.t} from ${from} failed: ${reason}`, {
          cause: error,
        }),
      )
    }
  }

  #refuse(error: NodeMessageError): void {
    this.counts.refused++
    this.#reports.report(error)
  }

  /** Node `id` died or left: forget it, take its next message as it comes, and tell the listeners. */
  #gone(id: string): void {
    if (!this.#alive.delete(id)) return
    const peer = this.#peers.get(id)
    if (peer) peer.heard = -1
    this.#tellGone(id, "gone")
  }

  #tellGone(id: string, why: NodeGone): void {
    for (const listener of [...this.#listeners]) listener(id, why)
  }
}
