import type { TopicPosition } from "@switchyard/core"
import type { HistoryLimits, StreamRead, TopicBus, TopicSink } from "@switchyard/server-node"
import { type RedisConnections, unavailable, within } from "./connection.ts"
import { publishScript, readScript, runScript } from "./scripts.ts"

/** Bounds of the Redis topics. */
export interface TopicTimings {
  /** How long a publish or a subscription waits for a Redis that is down before `BROKER_UNAVAILABLE`. */
  readonly unavailableAfterMs: number
  /** How long a key's epoch and newest offset are kept after its last use. */
  readonly metaTtlMs: number
}

/** A key this node listens to. */
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
  /** Publishes and reads that wait for the node to have delivered up to an offset. */
  readonly waiters: Set<() => void>
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
      waiters: new Set(),
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
    for (const wake of state.waiters) wake()
    state.markSynced()
  }

  async publish(topic: string, key: string, json: string): Promise<void> {
    const client = await this.connections.command.ready(this.timings.unavailableAfterMs)
    const history = this.sink.history(topic)
    const ref = refOf(topic, key)
    const name = `${this.prefix}topic:${ref}`
    if (!history) {
      await client.publish(name, `0::${json}`).catch(failed)
      return
    }
    const reply = (await runScript(
      client,
      publishScript,
      [`${name}:meta`, `${name}:log`],
      [
        this.nodeId,
        name,
        json,
        String(Math.max(1, Math.floor(history.topicHistorySize))),
        String(Math.max(1, Math.floor(history.topicHistoryTtlMs))),
        String(this.timings.metaTtlMs),
      ],
    ).catch(failed)) as [number, string]
    // A subscribed publisher gets its own message before its publish is answered, as on one node.
    const state = this.#keys.get(ref)
    if (state) await this.#caughtUp(state, String(reply[1]), Number(reply[0]))
  }

  async read(topic: string, key: string, since: TopicPosition | null): Promise<StreamRead> {
    const state = this.#keys.get(refOf(topic, key))
    if (!state?.history) throw new Error(`read of ${topic}(${JSON.stringify(key)}), which this node does not listen to`)
    await within(state.synced, this.timings.unavailableAfterMs, "the topic's first sync").catch(() => {
      throw unavailable(`Redis did not answer in ${this.timings.unavailableAfterMs} ms`)
    })
    const read = await this.#read(state, since)
    await this.#caughtUp(state, read.epoch, read.offset)
    return { epoch: read.epoch, offset: read.offset, after: read.covered ? read.entries.map((e) => e[1]) : undefined }
  }

  /** Closes: no more deliveries. */
  close(): void {
    for (const state of [...this.#keys.values()]) this.unlisten(state.topic, state.key)
  }

  async #read(state: Listened, since: TopicPosition | null) {
    const client = await this.connections.command.ready(this.timings.unavailableAfterMs)
    const reply = (await runScript(client, readScript, state.keys, [
      this.nodeId,
      String(since ? since[0] : -1),
      since ? since[1] : "",
      String(Math.max(1, Math.floor(state.history?.topicHistoryTtlMs ?? 1))),
      String(this.timings.metaTtlMs),
    ]).catch(failed)) as unknown[]
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
    for (const wake of state.waiters) wake()
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

  /** Waits (a little) until the node has delivered `offset` of `epoch`. */
  #caughtUp(state: Listened, epoch: string, offset: number): Promise<void> {
    const done = () => state.epoch !== epoch || state.last >= offset || this.#keys.get(state.ref) !== state
    if (done()) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        if (!done()) return
        clearTimeout(timer)
        state.waiters.delete(wake)
        resolve()
      }
      const timer = setTimeout(() => {
        state.waiters.delete(wake)
        resolve()
      }, 2000)
      state.waiters.add(wake)
    })
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
