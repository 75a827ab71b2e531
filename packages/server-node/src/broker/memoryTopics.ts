import { randomBytes } from "node:crypto"
import type { TopicPosition } from "@switchyard/core"
import type { HistoryLimits, StreamRead, TopicBus, TopicSink } from "./topicBus.ts"

// Node caps timers at 2^31 − 1 ms; a longer wait is re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The recent publications of one key: a ring of messages (JSON text) and their publish times. Offsets
 * are contiguous, so they are not stored: the newest entry has offset `top`, the one before `top - 1`,
 * and so on.
 */
class History {
  /** Made when the key's history starts; a new History, and so a new epoch, after it is lost. */
  readonly epoch = randomBytes(9).toString("base64url")
  /** Offset of the newest publication; 0 before the first. */
  top = 0
  // Both grow with the publications, up to `size` (the ring fills index 0, 1, 2, … before it wraps), so
  // that the many keys that see few publications cost little.
  private readonly messages: Array<string | undefined> = []
  private readonly times: number[] = []
  /** Ring index of the oldest entry kept. */
  private start = 0
  private count = 0

  constructor(
    private readonly size: number,
    readonly ttlMs: number,
  ) {}

  /** Appends publication `top + 1`. The oldest entry makes room when the ring is full. */
  push(json: string, now: number): void {
    this.top++
    const at = (this.start + this.count) % this.size
    this.messages[at] = json
    this.times[at] = now
    if (this.count < this.size) this.count++
    else this.start = (this.start + 1) % this.size
  }

  /** Drops entries older than the TTL, oldest first. */
  expire(now: number): void {
    while (this.count > 0 && (this.times[this.start] as number) + this.ttlMs <= now) {
      this.messages[this.start] = undefined
      this.start = (this.start + 1) % this.size
      this.count--
    }
  }

  /** Every publication after `offset`, or `undefined` when some are no longer kept. */
  after(offset: number, now: number): string[] | undefined {
    if (offset > this.top) return undefined
    if (offset === this.top) return []
    this.expire(now)
    const oldest = this.top - this.count + 1
    if (offset + 1 < oldest) return undefined
    const out: string[] = []
    for (let o = offset + 1; o <= this.top; o++)
      out.push(this.messages[(this.start + o - oldest) % this.size] as string)
    return out
  }
}

interface SharedKey {
  /** The nodes listening to the key. An array: usually one or a few, and walked on every publication. */
  readonly sinks: TopicSink[]
  readonly history: History | undefined
  /** Last publication, or the moment the last node left: an idle key is forgotten a TTL after it. */
  touched: number
  idle: ReturnType<typeof setTimeout> | undefined
}

/**
 * The topics of one memory cluster (one process): every key's history and the nodes listening to it.
 * A publication is numbered, kept and delivered to each listening node synchronously, in the caller's
 * stack, so that one node behaves exactly as a server without a cluster.
 *
 * A key's state (history, epoch) exists from the first time a node listens to it until no node has
 * listened to it, and nothing was published to it, for `topicHistoryTtlMs`. Publishing to a key no node
 * listened to in that time keeps nothing: no client can hold a position in a stream that does not exist.
 */
export class MemoryTopics {
  private readonly keys = new Map<string, Map<string, SharedKey>>()

  /** The bus of one node. */
  bus(sink: TopicSink): TopicBus {
    return {
      listen: (topic, key) => this.listen(sink, topic, key),
      unlisten: (topic, key) => this.unlisten(sink, topic, key),
      publish: (topic, key, json) => this.publish(topic, key, json),
      read: (topic, key, since) => this.read(sink, topic, key, since),
    }
  }

  private listen(sink: TopicSink, topic: string, key: string): void {
    let byKey = this.keys.get(topic)
    if (!byKey) {
      byKey = new Map()
      this.keys.set(topic, byKey)
    }
    let state = byKey.get(key)
    if (!state) {
      state = { sinks: [], history: newHistory(sink.history(topic)), touched: 0, idle: undefined }
      byKey.set(key, state)
    }
    if (state.idle !== undefined) {
      clearTimeout(state.idle)
      state.idle = undefined
    }
    if (!state.sinks.includes(sink)) state.sinks.push(sink)
  }

  private unlisten(sink: TopicSink, topic: string, key: string): void {
    const state = this.keys.get(topic)?.get(key)
    if (!state) return
    const at = state.sinks.indexOf(sink)
    if (at < 0) return
    state.sinks.splice(at, 1)
    if (state.sinks.length > 0) return
    if (!state.history) return this.forget(topic, key, state)
    state.touched = Date.now()
    this.watchIdle(topic, key, state)
  }

  private publish(topic: string, key: string, json: string): void {
    const state = this.keys.get(topic)?.get(key)
    if (!state) return
    const { history, sinks } = state
    if (!history) {
      for (const sink of sinks) sink.deliver(topic, key, json, 0, undefined)
      return
    }
    const now = Date.now()
    history.push(json, now)
    history.expire(now)
    state.touched = now
    const { top, epoch } = history
    for (const sink of sinks) sink.deliver(topic, key, json, top, epoch)
  }

  private read(sink: TopicSink, topic: string, key: string, since: TopicPosition | null): StreamRead {
    let history = this.keys.get(topic)?.get(key)?.history
    if (!history) {
      // Only a node that listens reads; a key it never listened to has a stream made for the occasion.
      this.listen(sink, topic, key)
      history = this.keys.get(topic)?.get(key)?.history
      this.unlisten(sink, topic, key)
    }
    if (!history) return { epoch: "-", offset: 0, after: undefined }
    const after = since && since[1] === history.epoch ? history.after(since[0], Date.now()) : undefined
    return { epoch: history.epoch, offset: history.top, after }
  }

  /** Forgets a key that no node listens to once a TTL has passed since it was last touched. */
  private watchIdle(topic: string, key: string, state: SharedKey): void {
    const wait = state.touched + (state.history?.ttlMs ?? 0) - Date.now()
    if (wait <= 0) return this.forget(topic, key, state)
    state.idle = setTimeout(
      () => {
        state.idle = undefined
        if (state.sinks.length === 0) this.watchIdle(topic, key, state)
      },
      Math.min(wait, MAX_TIMER_MS),
    )
    state.idle.unref()
  }

  private forget(topic: string, key: string, state: SharedKey): void {
    const byKey = this.keys.get(topic)
    if (byKey?.get(key) !== state) return
    byKey.delete(key)
    if (byKey.size === 0) this.keys.delete(topic)
  }
}

function newHistory(limits: HistoryLimits | undefined): History | undefined {
  if (!limits) return undefined
  const size = Math.floor(limits.topicHistorySize)
  // A TTL that is not a number (NaN) would make the idle timer spin: it counts as 0.
  const ttl = Number.isNaN(limits.topicHistoryTtlMs) ? 0 : Math.max(limits.topicHistoryTtlMs, 0)
  return size > 0 ? new History(size, ttl) : undefined
}
