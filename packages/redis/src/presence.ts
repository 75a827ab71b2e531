import type { NodeBus, PresenceBus, PresenceChange, PresenceEntry } from "@switchyard/server-node"
import { type RedisConnections, unavailable } from "./connection.ts"
import { joinScript, leaveScript, sweepScript } from "./presenceScripts.ts"
import { runScript } from "./scripts.ts"

/** A key this node watches: its listeners, and the members as this node last knew them. */
interface Watched {
  readonly hash: string
  readonly listeners: Set<(change: PresenceChange) => void>
  /** Resolved once the channel is subscribed: a list read after it misses no event. */
  readonly subscribed: Promise<void>
  /** The members in the order they joined, once listed; `undefined` while (re)listing, changes held in `held`. */
  members: Map<string, string> | undefined
  held: PresenceChange[]
  /** Resolved once `members` is set (or the listing failed). */
  listed: Promise<void>
}

/**
 * Presence on Redis (docs/scaling.md#presence-across-nodes): a hash per key whose entries are tagged with
 * the node that holds each member's session, changed by scripts that publish each join and leave on the
 * key's channel, to the nodes that watch it. When the node bus says a node is gone (`onNodeGone`: its
 * liveness key lapsed, within `nodeTtlMs` × 1.2 of its death), every node that heard it runs the sweep,
 * which removes that node's members and announces their leaves; the first one removes, the others find
 * nothing. After a lost subscriber connection each watched key is listed again and what changed
 * meanwhile is told as joins and leaves.
 *
 * @example
 * ```ts
 * declare const connections: RedisConnections
 * declare const nodes: RedisNodes
 * const presence = new RedisPresence(connections, "node-a", "switchyard:", 2000, nodes)
 * ```
 * await presence.join("room", "lobby", { id: "s1", data: '{"name":"Ada"}' }, 1000)
 */
export class RedisPresence implements PresenceBus {
  readonly #watched = new Map<string, Watched>()
  readonly #offs: Array<() => void> = []

  constructor(
    private readonly connections: RedisConnections,
    readonly nodeId: string,
    private readonly prefix: string,
    private readonly unavailableAfterMs: number,
    liveness: Pick<NodeBus, "onNodeGone"> | undefined,
  ) {
    // A node that is only out of touch ("lost": messages between the two were lost) keeps its members.
    if (liveness)
      this.#offs.push(
        liveness.onNodeGone((node, why) => {
          if (why === "gone") void this.sweep(node).catch(() => {})
        }),
      )
    this.#offs.push(
      connections.subscriber.onState((up) => {
        if (up) for (const watched of this.#watched.values()) this.#relist(watched)
      }),
    )
  }

  async join(topic: string, key: string, entry: PresenceEntry, max: number): Promise<boolean> {
    const reply = await this.#run(
      joinScript,
      [this.#hash(topic, key)],
      [entry.id, this.nodeId, entry.data, String(max), this.prefix],
    )
    return Number(reply) === 1
  }

  async leave(topic: string, key: string, id: string): Promise<void> {
    await this.#run(leaveScript, [this.#hash(topic, key)], [id, this.nodeId, this.prefix])
  }

  async list(topic: string, key: string): Promise<readonly PresenceEntry[]> {
    const hash = this.#hash(topic, key)
    // A watched key is answered from what this node knows, which is exactly what its watchers were told:
    // a watcher applies that list, then the changes after it, and none is lost between the two.
    const watched = this.#watched.get(hash)
    if (watched) {
      await watched.listed
      const { members } = watched
      if (members) return [...members].map(([id, data]) => ({ id, data }))
    }
    return this.#read(hash)
  }

  watch(topic: string, key: string, listener: (change: PresenceChange) => void): () => void {
    const hash = this.#hash(topic, key)
    let watched = this.#watched.get(hash)
    if (!watched) {
      const state: Watched = {
        hash,
        listeners: new Set(),
        subscribed: this.connections.subscriber.subscribe(hash, (message) => this.#arrived(state, message)),
        members: undefined,
        held: [],
        listed: Promise.resolve(),
      }
      watched = state
      this.#watched.set(hash, state)
      this.#relist(state)
    }
    const current = watched
    current.listeners.add(listener)
    return () => {
      if (!current.listeners.delete(listener) || current.listeners.size > 0) return
      if (this.#watched.get(hash) !== current) return
      this.#watched.delete(hash)
      this.connections.subscriber.unsubscribe(hash)
    }
  }

  /** Removes every member of node `nodeId` (it is gone) and announces their leaves. Returns how many. */
  async sweep(nodeId: string): Promise<number> {
    return Number(await this.#run(sweepScript, [`${this.prefix}presence-node:${nodeId}`], [nodeId, this.prefix]))
  }

  close(): void {
    for (const off of this.#offs.splice(0)) off()
    for (const hash of this.#watched.keys()) this.connections.subscriber.unsubscribe(hash)
    this.#watched.clear()
  }

  async #run(script: string, keys: string[], args: string[]): Promise<unknown> {
    const client = await this.connections.command.ready(this.unavailableAfterMs)
    return runScript(client, script, keys, args).catch((error: unknown) => {
      throw unavailable(`Redis: ${error instanceof Error ? error.message : String(error)}`)
    })
  }

  async #read(hash: string): Promise<PresenceEntry[]> {
    const client = await this.connections.command.ready(this.unavailableAfterMs)
    const fields = (await client.sendCommand(["HGETALL", hash])) as unknown
    const flat = Array.isArray(fields)
      ? fields.map(String)
      : Object.entries(fields as object)
          .flat()
          .map(String)
    const members: Array<readonly [number, PresenceEntry]> = []
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const id = flat[i] as string
      if (id.startsWith("\0")) continue
      const value = flat[i + 1] as string
      const a = value.indexOf(" ")
      const b = value.indexOf(" ", a + 1)
      members.push([Number(value.slice(0, a)), { id, data: value.slice(b + 1) }])
    }
    return members.sort((x, y) => x[0] - y[0]).map(([, entry]) => entry)
  }

  /** A change on a key's channel. */
  #arrived(watched: Watched, message: string): void {
    if (this.#watched.get(watched.hash) !== watched) return
    const colon = message.indexOf(":")
    const length = Number(message.slice(1, colon))
    const id = message.slice(colon + 1, colon + 1 + length)
    const change: PresenceChange = {
      kind: message[0] === "j" ? "join" : "leave",
      entry: { id, data: message.slice(colon + 1 + length) },
    }
    if (watched.members) this.#apply(watched, change)
    else watched.held.push(change)
  }

  /** Applies a change to what the node knows, and tells the listeners when it is one. */
  #apply(watched: Watched, change: PresenceChange): void {
    const members = watched.members as Map<string, string>
    const { id, data } = change.entry
    if (change.kind === "join") {
      if (members.get(id) === data) return
      members.set(id, data)
    } else if (!members.delete(id)) return
    for (const listener of [...watched.listeners]) listener(change)
  }

  /**
   * Lists a key (again) once its channel is subscribed: the first time, that is what the node knows;
   * after a lost subscriber connection, what changed meanwhile is told as leaves and joins. Changes that
   * arrive meanwhile are applied after the list (one already in it is no change).
   */
  #relist(watched: Watched): void {
    const before = watched.members
    watched.members = undefined
    let done = () => {}
    watched.listed = new Promise((resolve) => {
      done = resolve
    })
    watched.subscribed
      .then(() => this.#read(watched.hash))
      .then(
        (entries) => {
          if (this.#watched.get(watched.hash) !== watched) return done()
          const next = new Map(entries.map((e) => [e.id, e.data]))
          watched.members = before ?? next
          if (before) {
            for (const [id, data] of before) if (!next.has(id)) this.#apply(watched, leave(id, data))
            for (const [id, data] of next) this.#apply(watched, { kind: "join", entry: { id, data } })
          }
          for (const change of watched.held.splice(0)) this.#apply(watched, change)
          done()
        },
        () => {
          done()
          // Redis is down: the subscriber's next "up" lists again; until then, changes are held.
          watched.members ??= before
          if (watched.members) for (const change of watched.held.splice(0)) this.#apply(watched, change)
          else setTimeout(() => this.#watched.get(watched.hash) === watched && this.#relist(watched), 250).unref()
        },
      )
  }

  #hash(topic: string, key: string): string {
    // The topic's length first, so that no topic and key can be mistaken for another pair.
    return `${this.prefix}presence:${topic.length}:${topic}:${key}`
  }
}

function leave(id: string, data: string): PresenceChange {
  return { kind: "leave", entry: { id, data } }
}
