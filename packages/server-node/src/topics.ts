import {
  body,
  type CompiledTopic,
  ContractError,
  stringifyPayload,
  type TopicPosition,
  unreliableFrame,
} from "@switchyard/core"
import type { HistoryLimits, StreamRead, TopicBus, TopicSink } from "./broker/topicBus.ts"

/** A subscriber as the registry sees it: something that takes one encoded MESSAGE body. */
export interface Subscriber {
  deliver(messageBody: string): void
  /**
   * A message of an unreliable topic: the whole UNRELIABLE frame, the same text for every subscriber,
   * and its slot (the key, the same object for every message of the key) for latest-value conflation.
   */
  deliverLatest(slot: object, frame: string): void
}

/** What a new subscription learns about its key's stream, at the instant it joins. */
export interface Joined {
  /** The stream's epoch; `undefined` when the server keeps no history, or the subscriber asked for no positions. */
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

interface KeyState {
  /** Each subscriber, and whether its MESSAGE frames carry offsets (it asked for positions). */
  readonly subscribers: Map<Subscriber, boolean>
  /** Subscribers without offsets, so that their MESSAGE body is built only when one exists. */
  plain: number
  /** The epoch of the last publication delivered (or of the first read): a delivery in another one is a gap. */
  epoch: string | undefined
  /** Offset of the last publication delivered here (or of the stream's top at the first read). */
  last: number
  /**
   * Subscribers whose join waits for the broker's answer (a remote broker), with what was delivered to
   * the key meanwhile: offset and MESSAGE body. They get it after their confirmation and replay.
   */
  waiting: Map<Subscriber, Array<readonly [number, string]>> | undefined
  /**
   * While a remote broker starts delivering the key to this node: resolved once it does. Subscribers
   * without positions wait for it (in `unheard`) before their confirmation, as nothing reaches them before.
   */
  listening: Promise<void> | undefined
  unheard: Set<Subscriber> | undefined
}

const noPositions: Joined = { epoch: undefined, offset: 0, replay: undefined }

/**
 * This node's topic subscribers, and the local fan-out of what the broker delivers. A message is
 * validated and serialised once per publish, by the node that publishes; the broker numbers it and hands
 * it to every node listening to its key; each node builds its MESSAGE body (with the offset) once and
 * sends it as is to every local subscriber, which only adds its own sequence number. The broker delivers
 * a key's publications in one order to every node, so every subscriber of a key sees that order.
 *
 * On the memory broker everything is synchronous: a subscription that joins (and is replayed what it
 * missed) can never overlap or miss a publication made at the same time. On a remote broker a joining
 * subscription waits for the broker's answer, and what the key delivers meanwhile is kept for it and
 * sent after its replay, by offset, so that nothing is missed or sent twice either.
 */
export class TopicRegistry implements TopicSink {
  private readonly keys = new Map<string, Map<string, KeyState>>()
  /**
   * Numbers every message of an unreliable topic, across keys: `n` of its UNRELIABLE frame. One counter
   * for the registry, so that `n` keeps growing for a key even when its state is forgotten and made again
   * (a client that resubscribes at once could otherwise see `n` start over and drop newer messages).
   */
  private unreliableCount = 0
  private bus: TopicBus | undefined

  /** `unreliable`: the topics declared `delivery: "unreliable"`, which keep no history. */
  constructor(
    private readonly unreliable: ReadonlySet<string>,
    private readonly limits: HistoryLimits,
  ) {}

  /** Connects the registry to its broker's topics (once, when the server starts its broker). */
  attach(bus: TopicBus): void {
    this.bus = bus
  }

  history(topic: string): HistoryLimits | undefined {
    return this.unreliable.has(topic) || !(this.limits.topicHistorySize >= 1) ? undefined : this.limits
  }

  /**
   * Adds `subscriber` to a key and tells `joined` where the key's stream stands: at once on the memory
   * broker, when the broker answers on a remote one (an `Error` if it cannot). `since` is the position
   * it asks to resume from, `null` for none, or `undefined` for a subscriber without positions (its
   * MESSAGE frames carry no offset).
   */
  subscribe(
    topic: string,
    key: string,
    subscriber: Subscriber,
    since: TopicPosition | null | undefined,
    joined: (joined: Joined | Error) => void,
  ): void {
    const bus = this.started()
    let byKey = this.keys.get(topic)
    if (!byKey) {
      byKey = new Map()
      this.keys.set(topic, byKey)
    }
    let state = byKey.get(key)
    if (!state) {
      const made: KeyState = {
        subscribers: new Map(),
        plain: 0,
        epoch: undefined,
        last: 0,
        waiting: undefined,
        listening: undefined,
        unheard: undefined,
      }
      state = made
      byKey.set(key, made)
      const listened = bus.listen(topic, key)
      if (listened instanceof Promise) {
        const heard = () => {
          made.listening = undefined
        }
        made.listening = listened.then(heard, heard)
      }
    }
    const positions = since !== undefined && this.history(topic) !== undefined
    if (state.subscribers.get(subscriber) === false) state.plain--
    if (!positions) state.plain++
    state.subscribers.set(subscriber, positions)
    if (!positions) return this.joinPlain(state, subscriber, joined)
    let read: StreamRead | Promise<StreamRead>
    try {
      read = bus.read(topic, key, since)
    } catch (error) {
      return joined(error as Error)
    }
    if (!(read instanceof Promise)) return joined(this.joinedFrom(topic, key, state, read))
    const kept: Array<readonly [number, string]> = []
    state.waiting ??= new Map()
    state.waiting.set(subscriber, kept)
    const current = state
    const settle = (result: StreamRead | Error) => {
      // Left meanwhile: the request is answered all the same, without positions.
      if (current.waiting?.get(subscriber) !== kept) return joined(noPositions)
      current.waiting.delete(subscriber)
      if (current.waiting.size === 0) current.waiting = undefined
      if (result instanceof Error) return joined(result)
      joined(this.joinedFrom(topic, key, current, result))
      // What the key delivered while the read was under way, after what the read already covers.
      for (const [offset, messageBody] of kept) if (offset > result.offset) subscriber.deliver(messageBody)
    }
    read.then(settle, (error: unknown) => settle(error instanceof Error ? error : new Error(String(error))))
  }

  unsubscribe(topic: string, key: string, subscriber: Subscriber): void {
    const byKey = this.keys.get(topic)
    const state = byKey?.get(key)
    if (!byKey || !state) return
    const positions = state.subscribers.get(subscriber)
    if (positions === undefined) return
    state.subscribers.delete(subscriber)
    state.waiting?.delete(subscriber)
    state.unheard?.delete(subscriber)
    if (!positions) state.plain--
    if (state.subscribers.size > 0) return
    byKey.delete(key)
    if (byKey.size === 0) this.keys.delete(topic)
    this.bus?.unlisten(topic, key)
  }

  /**
   * Where `subscriber` stands in its key's stream: the offset and epoch of the last publication it was
   * given, for a session handed over to another node; `null` when the key keeps no history, or while
   * its join still waits for the broker (it was given nothing yet).
   */
  position(topic: string, key: string, subscriber: Subscriber): TopicPosition | null {
    const state = this.keys.get(topic)?.get(key)
    if (!state?.subscribers.get(subscriber) || state.waiting?.has(subscriber) || state.epoch === undefined) return null
    return [state.last, state.epoch]
  }

  /**
   * Subscribers of one key on this node whose subscription has started, for tests and metrics: one still
   * waiting for a remote broker's answer counts once it has it, so that a publish made after the count
   * says so reaches it, as on one node.
   */
  count(topic: string, key: string): number {
    const state = this.keys.get(topic)?.get(key)
    return state ? state.subscribers.size - (state.waiting?.size ?? 0) - (state.unheard?.size ?? 0) : 0
  }

  /** A subscriber without positions: confirmed at once, or once the broker delivers its key here. */
  private joinPlain(state: KeyState, subscriber: Subscriber, joined: (joined: Joined | Error) => void): void {
    const listening = state.listening
    if (!listening) return joined(noPositions)
    state.unheard ??= new Set()
    state.unheard.add(subscriber)
    void listening.then(() => {
      state.unheard?.delete(subscriber)
      if (state.unheard?.size === 0) state.unheard = undefined
      joined(noPositions)
    })
  }

  /**
   * Validates, encodes once and publishes through the broker. Throws `INVALID_INPUT` when the message
   * does not match the topic's schema; what the broker returns tells when it was taken.
   */
  publish(channel: CompiledTopic, key: string, message: unknown): void | Promise<void> {
    const encoded = channel.message.encode(message)
    const json = encoded.ok ? stringifyPayload(encoded.value) : undefined
    if (json === undefined) {
      const why = encoded.ok ? "it cannot be serialised as JSON" : encoded.error
      throw new ContractError("INVALID_INPUT", `topic ${channel.name}: invalid message: ${why}`)
    }
    return this.publishEncoded(channel.name, key, json)
  }

  /** Publishes a message already validated and serialised. */
  publishEncoded(topic: string, key: string, json: string): void | Promise<void> {
    return this.started().publish(topic, key, json)
  }

  /** One publication from the broker: fanned out to this node's subscribers of the key. */
  deliver(topic: string, key: string, json: string, offset: number, epoch: string | undefined): void {
    const state = this.keys.get(topic)?.get(key)
    if (!state) return
    if (this.unreliable.has(topic)) {
      // One frame text for every subscriber; the key's state is the conflation slot.
      const frame = unreliableFrame(++this.unreliableCount, body.message(topic, key, json))
      for (const subscriber of state.subscribers.keys()) subscriber.deliverLatest(state, frame)
      return
    }
    let withOffset: string | undefined
    if (offset > 0) {
      // A new epoch in the middle of a subscription: the key's history was lost, and the MESSAGE says so.
      const renewed = epoch !== state.epoch && state.epoch !== undefined
      withOffset = body.message(topic, key, json, offset, renewed ? epoch : undefined)
      state.epoch = epoch
      state.last = offset
    }
    const plain = state.plain > 0 || withOffset === undefined ? body.message(topic, key, json) : ""
    const { waiting } = state
    for (const [subscriber, positions] of state.subscribers) {
      const messageBody = positions && withOffset !== undefined ? withOffset : plain
      const kept = waiting?.get(subscriber)
      if (kept) kept.push([offset, messageBody])
      else subscriber.deliver(messageBody)
    }
  }

  private joinedFrom(topic: string, key: string, state: KeyState, read: StreamRead): Joined {
    state.epoch ??= read.epoch
    if (state.epoch === read.epoch && read.offset > state.last) state.last = read.offset
    const { after } = read
    // `after` holds offsets `since + 1` to `read.offset`.
    const first = read.offset - (after?.length ?? 0) + 1
    const replay = after?.map((json, i) => body.message(topic, key, json, first + i))
    return { epoch: read.epoch, offset: read.offset, replay }
  }

  private started(): TopicBus {
    if (!this.bus) throw new Error("the topic registry has no broker")
    return this.bus
  }
}
