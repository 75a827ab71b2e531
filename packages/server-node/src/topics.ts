import { randomBytes } from "node:crypto"
import {
  body,
  type CompiledTopic,
  ContractError,
  stringifyPayload,
  type TopicPosition,
  unreliableFrame,
} from "@switchyard/core"

/** A subscriber as the registry sees it: something that takes one encoded MESSAGE body. */
export interface Subscriber {
  deliver(messageBody: string): void
  /**
   * A message of an unreliable topic: the whole UNRELIABLE frame, the same text for every subscriber,
   * and its slot (the key, the same object for every message of the key) for latest-value conflation.
   */
  deliverLatest(slot: object, frame: string): void
}

/** The server limits that bound topic history (`docs/limits.md`). */
export interface HistoryLimits {
  readonly topicHistorySize: number
  readonly topicHistoryTtlMs: number
}

/** What a new subscription learns about its key's stream, at the instant it joins. */
export interface Joined {
  /** The stream's epoch; `undefined` when the server keeps no history. */
  readonly epoch: string | undefined
  /** Offset of the key's newest publication (0 before the first). */
  readonly offset: number
  /**
   * MESSAGE bodies after the position the subscriber asked for, oldest first (empty when it missed
   * nothing); `undefined` when it asked for none, or when the history cannot cover it (another epoch,
   * publications already dropped, or an offset the stream never reached).
   */
  readonly replay: readonly string[] | undefined
}

// Node caps timers at 2^31 − 1 ms; a longer wait is re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The recent publications of one key: a ring of MESSAGE bodies (the text every subscriber was sent, with
 * its offset) and their publish times. Offsets are contiguous, so they are not stored: the newest entry
 * has offset `top`, the one before `top - 1`, and so on.
 */
class History {
  /** Made when the key's history starts; a new History, and so a new epoch, after it is lost. */
  readonly epoch = randomBytes(9).toString("base64url")
  /** Offset of the newest publication; 0 before the first. */
  top = 0
  // Both grow with the publications, up to `size` (the ring fills index 0, 1, 2, … before it wraps), so
  // that the many keys that see few publications cost little.
  private readonly bodies: Array<string | undefined> = []
  private readonly times: number[] = []
  /** Ring index of the oldest entry kept. */
  private start = 0
  private count = 0

  constructor(
    private readonly size: number,
    readonly ttlMs: number,
  ) {}

  /** Appends the MESSAGE body of publication `top + 1`. The oldest entry makes room when the ring is full. */
  push(text: string, now: number): void {
    this.top++
    const at = (this.start + this.count) % this.size
    this.bodies[at] = text
    this.times[at] = now
    if (this.count < this.size) this.count++
    else this.start = (this.start + 1) % this.size
  }

  /** Drops entries older than the TTL, oldest first. */
  expire(now: number): void {
    while (this.count > 0 && (this.times[this.start] as number) + this.ttlMs <= now) {
      this.bodies[this.start] = undefined
      this.start = (this.start + 1) % this.size
      this.count--
    }
  }

  /** The bodies of every publication after `offset`, or `undefined` when some are no longer kept. */
  after(offset: number, now: number): string[] | undefined {
    if (offset > this.top) return undefined
    if (offset === this.top) return []
    this.expire(now)
    const oldest = this.top - this.count + 1
    if (offset + 1 < oldest) return undefined
    const out: string[] = []
    for (let o = offset + 1; o <= this.top; o++) out.push(this.bodies[(this.start + o - oldest) % this.size] as string)
    return out
  }
}

interface KeyState {
  /** Each subscriber, and whether its MESSAGE frames carry offsets (it asked for positions). */
  readonly subscribers: Map<Subscriber, boolean>
  /** Subscribers without offsets, so that their MESSAGE body is built only when one exists. */
  plain: number
  readonly history: History | undefined
  /** Last publication, or the moment the last subscriber left: an idle key is forgotten a TTL after it. */
  touched: number
  idle: ReturnType<typeof setTimeout> | undefined
}

/**
 * Local fan-out of topic messages, with a bounded history per key. A message is validated and serialised
 * once per publish; its MESSAGE body (with its offset) is built once, kept in the key's history and sent
 * as is to every subscriber, which only adds its own sequence number. Delivery is synchronous and in
 * publish order, so every subscriber of a key sees one order, and a subscription that joins (and is
 * replayed its missed publications) can never overlap or miss a publication made at the same time.
 *
 * A key's state (subscribers, history, epoch) exists from its first subscription until it has had no
 * subscriber, and no publication, for `topicHistoryTtlMs`. Publishing to a key nobody subscribed to in
 * that time keeps nothing: no client can hold a position in a stream that does not exist.
 */
export class TopicRegistry {
  private readonly keys = new Map<string, Map<string, KeyState>>()
  /**
   * Numbers every message of an unreliable topic, across keys: `n` of its UNRELIABLE frame. One counter
   * for the registry, so that `n` keeps growing for a key even when its state is forgotten and made again
   * (a client that resubscribes at once could otherwise see `n` start over and drop newer messages).
   */
  private unreliableCount = 0

  /** `unreliable`: the topics declared `delivery: "unreliable"`, which keep no history. */
  constructor(private readonly unreliable: ReadonlySet<string> = new Set()) {}

  /**
   * Adds `subscriber` to a key and tells it where the key's stream stands. `since` is the position it
   * asks to resume from, `null` for none, or `undefined` for a subscriber without positions (its MESSAGE
   * frames carry no offset). The history bounds come with each subscription because history starts with
   * a key's first subscription.
   */
  subscribe(
    topic: string,
    key: string,
    subscriber: Subscriber,
    since: TopicPosition | null | undefined,
    limits: HistoryLimits,
  ): Joined {
    let byKey = this.keys.get(topic)
    if (!byKey) {
      byKey = new Map()
      this.keys.set(topic, byKey)
    }
    let state = byKey.get(key)
    if (!state) {
      const size = this.unreliable.has(topic) ? 0 : Math.floor(limits.topicHistorySize)
      // A TTL that is not a number (NaN) would make the idle timer spin: it counts as 0.
      const ttl = Number.isNaN(limits.topicHistoryTtlMs) ? 0 : Math.max(limits.topicHistoryTtlMs, 0)
      const history = size > 0 ? new History(size, ttl) : undefined
      state = { subscribers: new Map(), plain: 0, history, touched: 0, idle: undefined }
      byKey.set(key, state)
    }
    if (state.idle !== undefined) {
      clearTimeout(state.idle)
      state.idle = undefined
    }
    const { history } = state
    const positions = since !== undefined && history !== undefined
    if (state.subscribers.get(subscriber) === false) state.plain--
    if (!positions) state.plain++
    state.subscribers.set(subscriber, positions)
    if (!history) return { epoch: undefined, offset: 0, replay: undefined }
    const replay = since && since[1] === history.epoch ? history.after(since[0], Date.now()) : undefined
    return { epoch: history.epoch, offset: history.top, replay }
  }

  unsubscribe(topic: string, key: string, subscriber: Subscriber): void {
    const byKey = this.keys.get(topic)
    const state = byKey?.get(key)
    if (!byKey || !state) return
    const positions = state.subscribers.get(subscriber)
    if (positions === undefined) return
    state.subscribers.delete(subscriber)
    if (!positions) state.plain--
    if (state.subscribers.size > 0) return
    if (!state.history) return this.forget(topic, key, state)
    state.touched = Date.now()
    this.watchIdle(topic, key, state)
  }

  /** Subscribers of one key, for tests and metrics. */
  count(topic: string, key: string): number {
    return this.keys.get(topic)?.get(key)?.subscribers.size ?? 0
  }

  /**
   * Validates, encodes once and fans out. Throws `INVALID_INPUT` when the message does not match the
   * topic's schema.
   */
  publish(channel: CompiledTopic, key: string, message: unknown): void {
    const encoded = channel.message.encode(message)
    const json = encoded.ok ? stringifyPayload(encoded.value) : undefined
    if (json === undefined) {
      const why = encoded.ok ? "it cannot be serialised as JSON" : encoded.error
      throw new ContractError("INVALID_INPUT", `topic ${channel.name}: invalid message: ${why}`)
    }
    this.publishEncoded(channel.name, key, json)
  }

  /** Keeps (when the key has history) and fans out a message already validated and serialised. */
  publishEncoded(topic: string, key: string, json: string): void {
    const state = this.keys.get(topic)?.get(key)
    if (!state) return
    if (this.unreliable.has(topic)) {
      // One frame text for every subscriber; the key's state is the conflation slot.
      const frame = unreliableFrame(++this.unreliableCount, body.message(topic, key, json))
      for (const subscriber of state.subscribers.keys()) subscriber.deliverLatest(state, frame)
      return
    }
    const { history } = state
    let withOffset: string | undefined
    if (history) {
      const now = Date.now()
      withOffset = body.message(topic, key, json, history.top + 1)
      history.push(withOffset, now)
      history.expire(now)
      state.touched = now
    }
    if (state.subscribers.size === 0) return
    const plain = state.plain > 0 || withOffset === undefined ? body.message(topic, key, json) : ""
    for (const [subscriber, positions] of state.subscribers) {
      subscriber.deliver(positions && withOffset !== undefined ? withOffset : plain)
    }
  }

  /** Forgets a key that has no subscribers once a TTL has passed since it was last touched. */
  private watchIdle(topic: string, key: string, state: KeyState): void {
    const wait = state.touched + (state.history?.ttlMs ?? 0) - Date.now()
    if (wait <= 0) return this.forget(topic, key, state)
    state.idle = setTimeout(
      () => {
        state.idle = undefined
        if (state.subscribers.size === 0) this.watchIdle(topic, key, state)
      },
      Math.min(wait, MAX_TIMER_MS),
    )
    state.idle.unref()
  }

  private forget(topic: string, key: string, state: KeyState): void {
    const byKey = this.keys.get(topic)
    if (byKey?.get(key) !== state) return
    byKey.delete(key)
    if (byKey.size === 0) this.keys.delete(topic)
  }
}
