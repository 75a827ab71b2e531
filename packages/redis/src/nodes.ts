import { randomBytes } from "node:crypto"
import type { NodeBus, NodeMessage } from "@switchyard/server-node"
import { type RedisConnections, within } from "./connection.ts"
import { heartbeatScript, keepScript, leaveScript, releaseScript } from "./nodeScripts.ts"
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
}

/** What this node knows of another (or of itself): which process it is, and the numbers between them. */
interface Peer {
  /** The incarnation of the process: random per process, so that one restarted under the same id is new. */
  readonly incarnation: string
  /** The last number sent to this incarnation. */
  sent: number
  /** The last number heard from it; `-1` after it was declared gone: take the next one as it comes. */
  heard: number
}

/**
 * The node bus on Redis (docs/scaling.md#node-messages-and-the-directory-on-redis), on the broker's two
 * connections. Messages: a channel per node, `<prefix>n:<id>`, each message `<from> <n> <json>` where
 * `n` counts per sender→receiver: one connection publishes them in call order and one delivers them, so
 * they arrive in order; a jump in `n` (lost during an outage) is told as the sender gone, so that what
 * was in flight between the two ends (`SESSION_LOST`, relays answered) rather than silently missing a part.
 * Liveness: `<prefix>node:<id>` with a TTL, refreshed by a heartbeat that also lists the live members of
 * `<prefix>nodes`; joins and leaves are announced on `<prefix>node-events` so that they are seen at once.
 * The directory: `<prefix>own:<key>` holds the owner's id, its TTL refreshed while the node owns it.
 *
 * @example
 * const nodes = new RedisNodes(connections, "node-a", "switchyard:", timings)
 * await nodes.start((from, message) => console.log(from, message))
 * nodes.send("node-b", { t: "hello" })
 */
export class RedisNodes implements NodeBus {
  readonly counts: NodeCounts = { sent: 0, dropped: 0, received: 0, gaps: 0, stale: 0 }
  /**
   * This process's random id. Every message carries its sender's and its receiver's: a node restarted
   * under the same id (within `nodeTtlMs`, its old liveness key still there) is a new node, the old
   * process gone for the others, and the numbering between the two starts again.
   */
  readonly incarnation = randomBytes(6).toString("base64url")
  #receive: ((from: string, message: NodeMessage) => void) | undefined
  #closed = false
  readonly #listeners = new Set<(nodeId: string) => void>()
  /** The other nodes alive, as last heard, with when that was (performance.now()). */
  readonly #alive = new Map<string, number>()
  /**
   * Nodes that said goodbye, with when and which incarnation: a heartbeat answered before their goodbye
   * must not revive them (a new process under the same id is another matter).
   */
  readonly #departed = new Map<string, { readonly at: number; readonly incarnation: string }>()
  /** Each node heard of, this one included: its incarnation and the numbers between the two. */
  readonly #peers = new Map<string, Peer>()
  /** Incarnations replaced by a newer one, per node: late messages from them are dropped. */
  readonly #former = new Map<string, string[]>()
  /** Directory keys this node claimed, each with the number of its claim (a later claim wins a race). */
  readonly #owned = new Map<string, number>()
  readonly #pending = new Map<string, "claim" | "release">()
  #claims = 0
  /** Until then, a node missing from a heartbeat is not declared gone: Redis lost the keys, or this node was away. */
  #graceUntil = 0
  #beating = false
  #keeping = false
  readonly #timers: Array<ReturnType<typeof setInterval>> = []
  #offState: (() => void) | undefined

  constructor(
    private readonly connections: RedisConnections,
    readonly nodeId: string,
    private readonly prefix: string,
    private readonly timings: NodeTimings,
  ) {
    if (!/^[A-Za-z0-9_-]+$/.test(nodeId)) throw new Error(`a node id is letters, digits, - and _: ${nodeId}`)
    this.#peers.set(nodeId, { incarnation: this.incarnation, sent: 0, heard: 0 })
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
      void this.#beat()
      this.#flush()
    })
    this.connections.start()
    const every = (ms: number, task: () => void) => {
      const timer = setInterval(task, ms)
      timer.unref()
      this.#timers.push(timer)
    }
    every(this.timings.nodeTtlMs / 5, () => void this.#beat())
    every(this.timings.ownerTtlMs / 3, () => void this.#keep(false))
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
    const peer = this.#peers.get(to)
    // Numbered even when dropped, so that the receiver sees the jump at the next message.
    const n = peer ? ++peer.sent : 0
    const client = this.connections.command.client
    if (this.#closed || !client || !peer || !this.alive(to)) {
      this.counts.dropped++
      return
    }
    this.counts.sent++
    const header = `${this.nodeId} ${this.incarnation} ${peer.incarnation} ${n}`
    // Not awaited: one connection writes its commands in call order, so messages leave in send order.
    client.sendCommand(["PUBLISH", `${this.prefix}n:${to}`, `${header} ${JSON.stringify(message)}`]).catch(() => {
      this.counts.dropped++
    })
  }

  async claim(key: string): Promise<void> {
    this.#owned.set(key, ++this.#claims)
    this.#pending.delete(key)
    await this.#write(key, "claim")
  }

  async lookup(key: string): Promise<string | undefined> {
    const wait = this.timings.unavailableAfterMs
    const client = await this.connections.command.ready(wait)
    const owner = await within(client.sendCommand(["GET", this.#ownKey(key)]), wait, "GET")
    return typeof owner === "string" ? owner : undefined
  }

  async release(key: string): Promise<void> {
    if (!this.#owned.delete(key)) return
    this.#pending.delete(key)
    await this.#write(key, "release")
  }

  alive(nodeId: string): boolean {
    if (nodeId === this.nodeId) return this.#receive !== undefined && !this.#closed
    return this.#alive.has(nodeId)
  }

  onNodeGone(listener: (nodeId: string) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const timer of this.#timers) clearInterval(timer)
    this.#offState?.()
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

  #ownKey(key: string): string {
    return `${this.prefix}own:${key}`
  }

  #nodeKey(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`
  }

  /** Writes a claim or a release; while Redis is down it waits in `#pending` for the connection to be back. */
  async #write(key: string, what: "claim" | "release"): Promise<void> {
    const client = this.connections.command.client
    try {
      if (!client) throw new Error("down")
      const ownKey = this.#ownKey(key)
      if (what === "claim")
        await client.sendCommand(["SET", ownKey, this.nodeId, "PX", String(this.timings.ownerTtlMs)])
      else await runScript(client, releaseScript, [ownKey], [this.nodeId])
    } catch {
      if (!this.#closed && !this.#pending.has(key)) this.#pending.set(key, what)
    }
  }

  #flush(): void {
    const pending = [...this.#pending]
    this.#pending.clear()
    for (const [key, what] of pending) void this.#write(key, what)
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
      void this.#keep(true)
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
    const known = this.#peers.get(id)
    if (known?.incarnation === incarnation) return known
    const former = this.#former.get(id) ?? []
    if (former.includes(incarnation)) return undefined
    const peer: Peer = { incarnation, sent: 0, heard: 0 }
    this.#peers.set(id, peer)
    if (known) {
      // A few are enough: a process restarted many times over sends nothing late from the early ones.
      this.#former.set(id, [...former.slice(-3), known.incarnation])
      if (known.heard !== -1) {
        this.#alive.delete(id)
        this.#tellGone(id)
      }
    }
    return peer
  }

  #message(text: string): void {
    if (this.#closed) return
    const [from = "", incarnation = "", to = "", number = ""] = text.split(" ", 4)
    const n = Number(number)
    const json = text.slice(from.length + incarnation.length + to.length + number.length + 4)
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
    if (last >= 0 && n !== last + 1) {
      this.counts.gaps++
      this.#tellGone(from)
    }
    this.counts.received++
    try {
      this.#receive?.(from, JSON.parse(json) as NodeMessage)
    } catch (error) {
      // Not into node-redis's reader: thrown on a turn of its own, as an uncaught error.
      setImmediate(() => {
        throw error
      })
    }
  }

  /** Node `id` died or left: forget it, take its next message as it comes, and tell the listeners. */
  #gone(id: string): void {
    if (!this.#alive.delete(id)) return
    const peer = this.#peers.get(id)
    if (peer) peer.heard = -1
    this.#tellGone(id)
  }

  #tellGone(id: string): void {
    for (const listener of [...this.#listeners]) listener(id)
  }

  /**
   * Extends the TTL of the directory entries this node still owns and forgets the others (handed over
   * or released elsewhere); `restore` writes back those Redis lost.
   */
  async #keep(restore: boolean): Promise<void> {
    const client = this.connections.command.client
    if (this.#keeping || this.#closed || !client || this.#owned.size === 0) return
    this.#keeping = true
    const owned = [...this.#owned]
    const args = [this.nodeId, String(this.timings.ownerTtlMs), restore ? "1" : "0"]
    try {
      for (let i = 0; i < owned.length; i += 500) {
        const batch = owned.slice(i, i + 500)
        const keys = batch.map(([key]) => this.#ownKey(key))
        const reply = (await within(
          runScript(client, keepScript, keys, args),
          this.timings.unavailableAfterMs,
          "keep",
        )) as number[] | undefined
        batch.forEach(([key, claim], j) => {
          if (reply?.[j] === 0 && this.#owned.get(key) === claim) this.#owned.delete(key)
        })
      }
    } catch {
      // Redis is down: the next round (or the next heartbeat after it is back) does it.
    } finally {
      this.#keeping = false
    }
  }
}
