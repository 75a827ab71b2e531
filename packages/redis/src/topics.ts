import { ErrorReply } from "@redis/client"
import type { TopicPosition } from "@switchyard/core"
import type { HistoryLimits, StreamRead, TopicBus, TopicSink } from "@switchyard/server-node"
import { type RedisConnections, unavailable, within } from "./connection.ts"
import { publishScript, readScript, runScript, touchScript } from "./scripts.ts"

/** Bounds of the Redis topics. */
export interface TopicTimings {
  /** How long a publish or a subscription waits for a Redis that is down before `BROKER_UNAVAILABLE`. */
  readonly unavailableAfterMs: number
  /** How long a key's epoch and newest offset are kept after its last use. */
  readonly metaTtlMs: number
}

/** A key this node listens to. */
interface Waiter {
  readonly epoch: string
  readonly offset: number
  readonly deadline: number
  readonly resolve: () => void
}

interface Listened {
  readonly ref: string
  readonly topic: string
  readonly key: string
  readonly channel: string
  readonly keys: readonly [meta: string, log: string]
  readonly history: HistoryLimits | undefined
  /** The epoch and offset of the last publication delivered to the node; `undefined` before the first sync. */
  epoch: string | undefined
  last: number
  /** Publications that arrived while the node fills a gap from the history (or before its first sync). */
  held: Array<readonly [offset: number, epoch: string, json: string]> | undefined
  /**
   * Publishes and reads that wait for the node to have delivered up to an offset, in the order Redis
   * answered them (so by offset: the first is the first done), and the timer of the first one's deadline.
   */
  readonly waiters: Waiter[]
  timer: ReturnType<typeof setTimeout> | undefined
  /** A sync is under way; `again`: another was asked for meanwhile. */
  syncing: boolean
  again: boolean
  /** Resolved once the first sync is done. */
  readonly synced: Promise<void>
  markSynced: () => void
}

// A node holds this many publications while it fills a gap; beyond that the oldest are dropped (a gap).
const MAX_HELD = 10_000

/**
 * Topics on Redis (docs/scaling.md#topics-across-nodes): a publication is numbered, kept in the key's
 * Stream and published by one script; each node subscribes to the channels of the keys it has
 * subscribers for, delivers each offset once and in order, and fills what it missed (a lost pub/sub
 * connection, a publication seen out of turn) from the Stream. What the Stream no longer holds shows as
 * a jump in offsets, a lost history as a new epoch: the subscribers' clients report `TOPIC_GAP`.
 */
export class RedisTopics implements TopicBus {
  readonly #keys = new Map<string, Listened>()
  #touching: ReturnType<typeof setTimeout> | undefined
  #touchAt = Number.POSITIVE_INFINITY

  constructor(
    private readonly connections: RedisConnections,
    private readonly sink: TopicSink,
    private readonly nodeId: string,
    private readonly prefix: string,
    private readonly timings: TopicTimings,
  ) {
    // A new subscriber connection: whatever was published meanwhile is filled from the history.
    connections.subscriber.onState((up) => {
      if (up) for (const state of this.#keys.values()) this.#sync(state)
    })
  }

  /** Resolves once Redis confirmed the SUBSCRIBE to the key's channel: from then on its publications come here. */
  listen(topic: string, key: string): Promise<void> {
    const ref = refOf(topic, key)
    if (this.#keys.has(ref)) return Promise.resolve()
    let markSynced = () => {}
    const synced = new Promise<void>((resolve) => {
      markSynced = resolve
    })
    const name = `${this.prefix}topic:${ref}`
    const state: Listened = {
      ref,
      topic,
      key,
      channel: name,
      keys: [`${name}:meta`, `${name}:log`],
      history: this.sink.history(topic),
      epoch: undefined,
      last: 0,
      held: [],
      waiters: [],
      timer: undefined,
      syncing: false,
      again: false,
      synced,
      markSynced,
    }
    if (!state.history) {
      state.held = undefined
      markSynced()
    }
    this.#keys.set(ref, state)
    if (state.history) this.#touchWithin(state.history.topicHistoryTtlMs)
    const subscribed = this.connections.subscriber.subscribe(name, (message) => this.#arrived(state, message))
    void subscribed.then(() => this.#sync(state))
    return subscribed
  }

  unlisten(topic: string, key: string): void {
    const ref = refOf(topic, key)
    const state = this.#keys.get(ref)
    if (!state) return
    this.#keys.delete(ref)
    this.connections.subscriber.unsubscribe(state.channel)
    this.#wake(state)
    state.markSynced()
  }

  publish(topic: string, key: string, json: string): Promise<void> {
    // Sent at once when the connection is up (no promise turn), so that publications keep their order.
    const client = this.connections.command.client
    if (!client) {
      return this.connections.command.ready(this.timings.unavailableAfterMs).then(() => this.publish(topic, key, json))
    }
    const ref = refOf(topic, key)
    const listened = this.#keys.get(ref)
    const name = listened?.channel ?? `${this.prefix}topic:${ref}`
    const history = this.sink.history(topic)
    if (!history) return client.publish(name, `0::${json}`).then(() => {}, failed)
    const args = [
      this.nodeId,
      name,
      json,
      String(Math.max(1, Math.floor(history.topicHistorySize))),
      String(Math.max(1, Math.floor(history.topicHistoryTtlMs))),
      String(this.timings.metaTtlMs),
    ]
    const keys = listened?.keys ?? [`${name}:meta`, `${name}:log`]
    return runScript(client, publishScript, keys, args).then((reply) => {
      // A subscribed publisher gets its own message before its publish is answered, as on one node.
      const state = this.#keys.get(ref)
      const [offset, epoch] = reply as [number, string]
      if (state) return this.#caughtUp(state, String(epoch), Number(offset))
    }, failed)
  }

  async read(topic: string, key: string, since: TopicPosition | null): Promise<StreamRead> {
    const state = this.#keys.get(refOf(topic, key))
    if (!state?.history) throw new Error(`read of ${topic}(${JSON.stringify(key)}), which this node does not listen to`)
    await within(state.synced, this.timings.unavailableAfterMs, "the topic's first sync").catch(() => {
      throw unavailable(`Redis did not answer in ${this.timings.unavailableAfterMs} ms`)
    })
    const read = await this.#read(state, since)
    await this.#caughtUp(state, read.epoch, read.offset)
    // The node may not have delivered up to there yet (its catch-up gave up waiting after 2 s): it answers
    // where it stands, so that no subscriber's position runs ahead of what it was sent (a session moved
    // meanwhile would renew past the rest). The rest comes to every subscriber live, in order.
    const offset = state.epoch === read.epoch ? Math.min(read.offset, state.last) : read.offset
    const after = read.covered ? read.entries.filter(([o]) => o <= offset).map((e) => e[1]) : undefined
    return { epoch: read.epoch, offset, after }
  }

  /** Closes: no more deliveries. */
  close(): void {
    for (const state of [...this.#keys.values()]) this.unlisten(state.topic, state.key)
    clearTimeout(this.#touching)
    this.#touching = undefined
  }

  /** Touches the listened keys' metas within a third of `ttlMs` (and of every shorter one). */
  #touchWithin(ttlMs: number): void {
    const at = performance.now() + Math.min(60_000, Math.max(250, ttlMs / 3))
    if (at >= this.#touchAt) return
    clearTimeout(this.#touching)
    this.#touchAt = at
    this.#touching = setTimeout(() => this.#touch(), at - performance.now())
    this.#touching.unref()
  }

  /**
   * Keeps alive the meta of each listened key nobody published on yet, which lives only for the history
   * TTL (so that made-up keys cost Redis nothing for long): its subscribers' epoch stays valid.
   */
  #touch(): void {
    this.#touching = undefined
    this.#touchAt = Number.POSITIVE_INFINITY
    const listened = [...this.#keys.values()].flatMap((s) => (s.history ? [[s.keys[0], s.history] as const] : []))
    if (listened.length === 0) return
    for (const [, history] of listened) this.#touchWithin(history.topicHistoryTtlMs)
    const client = this.connections.command.client
    for (let i = 0; client && i < listened.length; i += 500) {
      const batch = listened.slice(i, i + 500)
      const ttls = batch.map(([, history]) => String(Math.max(1, Math.floor(history.topicHistoryTtlMs))))
      runScript(
        client,
        touchScript,
        batch.map(([meta]) => meta ?? ""),
        ttls,
      ).catch(() => {
        // Redis is down: the next round does it (a meta lost meanwhile is a new epoch, as after any loss).
      })
    }
  }

  /**
   * Reads the key's history after `since`. A read whose connection dropped before its answer is read
   * again on the next connection, within `unavailableAfterMs` of the first try, as a publish waits for
   * one: a read changes nothing but TTLs, and a renewal refused for a blip of the connection (Redis
   * answering late under load, the node's event loop starved) would end a subscription whose client
   * then hears no gap for what it missed.
   */
  async #read(state: Listened, since: TopicPosition | null) {
    const deadline = Date.now() + this.timings.unavailableAfterMs
    let reply: unknown[] | undefined
    while (reply === undefined) {
      const client = await this.connections.command.ready(Math.max(1, deadline - Date.now()))
      reply = (await runScript(client, readScript, state.keys, [
        this.nodeId,
        String(since ? since[0] : -1),
        since ? since[1] : "",
        String(Math.max(1, Math.floor(state.history?.topicHistoryTtlMs ?? 1))),
        String(this.timings.metaTtlMs),
      ]).catch((error: unknown) => {
        // Redis's own error answer, or no time left: refused. The connection lost: read again.
        if (error instanceof ErrorReply || Date.now() >= deadline) failed(error)
        return undefined
      })) as unknown[] | undefined
    }
    const entries: Array<readonly [number, string]> = []
    for (let i = 3; i + 1 < reply.length; i += 2) entries.push([Number(reply[i]), String(reply[i + 1])])
    return { epoch: String(reply[0]), offset: Number(reply[1]), covered: Number(reply[2]) === 1, entries }
  }

  /** A message on a key's channel: `offset:epoch:json`. */
  #arrived(state: Listened, message: string): void {
    if (this.#keys.get(state.ref) !== state) return
    const colon = message.indexOf(":")
    const second = message.indexOf(":", colon + 1)
    const offset = Number(message.slice(0, colon))
    const epoch = message.slice(colon + 1, second)
    const json = message.slice(second + 1)
    if (!state.history) return this.sink.deliver(state.topic, state.key, json, 0, undefined)
    if (state.held) {
      state.held.push([offset, epoch, json])
      if (state.held.length > MAX_HELD) state.held.shift()
      return
    }
    this.#take(state, offset, epoch, json)
  }

  /** One publication in turn, or one that shows a gap (then filled from the history). */
  #take(state: Listened, offset: number, epoch: string, json: string): void {
    const sameEpoch = epoch === state.epoch
    if (sameEpoch && offset <= state.last) return
    const expected = sameEpoch ? state.last + 1 : 1
    if (offset > expected) {
      // Missed some: hold this one and fill from the history first.
      state.held = [[offset, epoch, json]]
      return this.#sync(state)
    }
    this.#deliver(state, offset, epoch, json)
  }

  #deliver(state: Listened, offset: number, epoch: string, json: string): void {
    state.epoch = epoch
    state.last = offset
    this.sink.deliver(state.topic, state.key, json, offset, epoch)
    if (state.waiters.length > 0) this.#wake(state)
  }

  /**
   * Brings the node up to date with the key's history: delivers what it holds after the node's last
   * offset (in the node's epoch), then what arrived meanwhile. Publications the history no longer holds
   * are skipped (the subscribers see the offsets jump); a new epoch is delivered as such (the
   * subscribers' MESSAGE carries it).
   */
  #sync(state: Listened): void {
    if (!state.history) return
    state.held ??= []
    if (state.syncing) {
      state.again = true
      return
    }
    state.syncing = true
    this.#catchUp(state).then(
      () => {
        state.syncing = false
        if (this.#keys.get(state.ref) !== state) return
        if (state.again) {
          state.again = false
          return this.#sync(state)
        }
        const held = state.held ?? []
        state.held = undefined
        state.markSynced()
        for (const entry of held) {
          // Taking one may start another sync (a gap), which holds the rest again.
          const holding = state.held as Listened["held"]
          if (holding) holding.push(entry)
          else this.#take(state, entry[0], entry[1], entry[2])
        }
      },
      () => {
        state.syncing = false
        state.again = false
        // Redis is down: a new subscriber connection syncs again; a lost command connection is retried.
        if (!this.connections.subscriber.up) return
        setTimeout(() => this.#keys.get(state.ref) === state && this.#sync(state), 250).unref()
      },
    )
  }

  /** Reads what the node missed and delivers it; afterwards the node stands where the history does. */
  async #catchUp(state: Listened): Promise<void> {
    if (state.epoch === undefined) {
      const read = await this.#read(state, null)
      state.epoch = read.epoch
      state.last = read.offset
      return
    }
    let read = await this.#read(state, [state.last, state.epoch])
    // Another epoch: the history was lost. Whatever the new one holds is delivered, as such.
    if (read.epoch !== state.epoch) read = await this.#read(state, [0, read.epoch])
    if (this.#keys.get(state.ref) !== state) return
    for (const [offset, json] of read.entries) {
      if (read.epoch !== state.epoch || offset > state.last) this.#deliver(state, offset, read.epoch, json)
    }
    // What the history no longer holds is lost: the next publication shows the jump.
    state.epoch = read.epoch
    state.last = read.offset
  }

  /** Waits (a little, 2 s at most) until the node has delivered `offset` of `epoch`. */
  #caughtUp(state: Listened, epoch: string, offset: number): Promise<void> {
    if (this.#done(state, epoch, offset)) return Promise.resolve()
    return new Promise((resolve) => {
      // Nearly always the last: Redis answers a node's publishes and reads in offset order.
      let at = state.waiters.length
      while (at > 0 && (state.waiters[at - 1] as Waiter).offset > offset) at--
      state.waiters.splice(at, 0, { epoch, offset, deadline: Date.now() + 2000, resolve })
      state.timer ??= setTimeout(() => this.#expire(state), 2000)
    })
  }

  #done(state: Listened, epoch: string, offset: number): boolean {
    return state.epoch !== epoch || state.last >= offset || this.#keys.get(state.ref) !== state
  }

  /** Answers the waiters the node has caught up with: the first ones, as they are in offset order. */
  #wake(state: Listened): void {
    const { waiters } = state
    let n = 0
    while (n < waiters.length && this.#done(state, (waiters[n] as Waiter).epoch, (waiters[n] as Waiter).offset)) n++
    for (const waiter of waiters.splice(0, n)) waiter.resolve()
    if (waiters.length === 0 && state.timer !== undefined) {
      clearTimeout(state.timer)
      state.timer = undefined
    }
  }

  /** The first waiter's deadline: it and every other one past its own are answered all the same. */
  #expire(state: Listened): void {
    state.timer = undefined
    const now = Date.now()
    const { waiters } = state
    let n = 0
    while (n < waiters.length && (waiters[n] as Waiter).deadline <= now) n++
    for (const waiter of waiters.splice(0, n)) waiter.resolve()
    const first = waiters[0]
    if (first) state.timer = setTimeout(() => this.#expire(state), Math.max(1, first.deadline - now))
  }
}

function refOf(topic: string, key: string): string {
  // The topic's length first, so that no topic and key can be mistaken for another pair.
  return `${topic.length}:${topic}:${key}`
}

function failed(error: unknown): never {
  throw error instanceof Error && "code" in error
    ? error
    : unavailable(`Redis: ${error instanceof Error ? error.message : String(error)}`)
}
