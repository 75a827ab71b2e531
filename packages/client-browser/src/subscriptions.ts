import type {
  CompiledTopic,
  FrameType,
  MessageFrame,
  PayloadCodec,
  Subscribed,
  SubscribeOptions,
  SwitchyardError,
  TopicPosition,
  TopicRecovery,
  TopicSubscription,
  UnreliableMessageFrame,
} from "@switchyard/core"
import type { PendingTable } from "./calls.ts"
import type { FeatureKit } from "./featureKit.ts"
import type { Wire } from "./wire.ts"

// Frame types as typed literals: importing `FrameType`, a value, would put core in a chunk shared with
// the root entry point (`featureKit.ts` says why); the types check each number against the enum.
const SUBSCRIBE: FrameType.SUBSCRIBE = 9
const UNSUBSCRIBE: FrameType.UNSUBSCRIBE = 10

interface Subscription {
  readonly topic: string
  readonly key: string
  readonly codec: PayloadCodec
  /** Declared `delivery: "unreliable"`: no positions, no recovery, latest value wins. */
  readonly unreliable: boolean
  /** `n` of the newest UNRELIABLE message delivered in this subscription's current SUBSCRIBE. */
  newest: number
  readonly listeners: Map<(message: unknown) => void, SubscribeOptions | undefined>
  /** The session epoch its SUBSCRIBE was sent in; a new session re-sends it. */
  sentIn: number
  /** Whether the server ever confirmed it: only then can a renewal have missed something. */
  confirmed: boolean
  /**
   * Where it is in its key's stream: the offset of the last publication delivered and the stream's
   * epoch. Undefined when the server keeps no history for the key, and before the first confirmation.
   */
  position: { offset: number; epoch: string } | undefined
  /** A renewal after a lost session awaits its confirmation, which tells `onRecover`. */
  recovering: boolean
  /** The `ready` promises waiting for the server's first answer. */
  waiting: Array<readonly [() => void, (error: SwitchyardError) => void]>
}

/**
 * The client's topic subscriptions (docs/topics.md): one SUBSCRIBE per topic and key however many
 * listeners, renewed from its position in every new session, with gaps and recoveries reported.
 * Loaded with `import()` when the app first subscribes (the runtime holds later operations back until it
 * is there; no MESSAGE can come for a topic before its SUBSCRIBE), so it imports types only and gets what
 * it runs of core from `kit` (`featureKit.ts` says why).
 */
export class Subscriptions {
  readonly #subscriptions = new Map<string, Subscription>()
  /** Counts sessions: a subscription sent in an earlier one is renewed. */
  #epoch = 0

  readonly #wire: Wire
  /** The client's requests: a SUBSCRIBE waits there for its RESULT. */
  readonly #pending: () => PendingTable
  readonly #kit: FeatureKit
  /** Passes a SUBSCRIBE's RESULT through: `null` (no history), or a valid `Subscribed`. */
  readonly #confirmation: PayloadCodec

  constructor(wire: Wire, pending: () => PendingTable, kit: FeatureKit) {
    this.#wire = wire
    this.#pending = pending
    this.#kit = kit
    this.#confirmation = {
      decode: (value) =>
        value === null || kit.isSubscribed(value)
          ? { ok: true, value }
          : { ok: false, error: "not a subscription confirmation ([offset, epoch, recovered] or null)" },
      encode: (value) => ({ ok: true, value }),
    }
  }

  subscribe(
    channel: CompiledTopic,
    key: string,
    listener: (message: unknown) => void,
    options: SubscribeOptions | undefined,
  ): TopicSubscription {
    if (this.#wire.closed) {
      const error = this.#kit.closedError()
      options?.onError?.(error)
      return subscription(() => {}, Promise.reject(error))
    }
    const topic = channel.name
    const ref = `${topic}\u0000${key}`
    let sub = this.#subscriptions.get(ref)
    if (!sub) {
      sub = {
        topic,
        key,
        codec: channel.message,
        unreliable: channel.delivery === "unreliable",
        newest: 0,
        listeners: new Map(),
        sentIn: this.#epoch,
        confirmed: false,
        position: undefined,
        recovering: false,
        waiting: [],
      }
      this.#subscriptions.set(ref, sub)
      this.#send(sub)
    }
    sub.listeners.set(listener, options)
    const current = sub
    // A key this client already holds is confirmed at once; else the server's first answer tells.
    const ready = current.confirmed
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => current.waiting.push([resolve, reject]))
    return subscription(() => {
      if (!current.listeners.delete(listener) || current.listeners.size > 0) return
      if (this.#subscriptions.get(ref) !== current) return
      this.#subscriptions.delete(ref)
      this.#wire.send(UNSUBSCRIBE, this.#kit.body.unsubscribe(topic, key), true)
    }, ready)
  }

  /**
   * Sends the SUBSCRIBE of `sub` in the current session, from its position when it has one (a renewal
   * after a lost session), else from now. Its RESULT is handled as it arrives, not a microtask later, so
   * that the position is set before the MESSAGE frames that follow it in the same batch.
   */
  #send(sub: Subscription): void {
    sub.sentIn = this.#epoch
    // A new session may be on another server, whose messages count from 1 again.
    sub.newest = 0
    const id = this.#wire.nextId()
    const since: TopicPosition | null = sub.position ? [sub.position.offset, sub.position.epoch] : null
    // An unreliable topic has no positions: the form without `since`.
    const frameBody = sub.unreliable
      ? this.#kit.body.subscribe(id, sub.topic, sub.key)
      : this.#kit.body.subscribe(id, sub.topic, sub.key, since)
    const seq = this.#wire.send(SUBSCRIBE, frameBody)
    if (seq === 0) {
      const error = this.#kit.queueFull()
      // Refused after `subscribe` has returned, as a request would be.
      queueMicrotask(() => this.#failed(sub, error))
      return
    }
    this.#pending().set({
      id,
      kind: "subscribe",
      seq,
      frameType: SUBSCRIBE,
      frameBody,
      output: this.#confirmation,
      error: undefined,
      resolve: (output) => this.#confirmed(sub, since, output as Subscribed | null),
      reject: (error) => this.#failed(sub, error),
    })
  }

  /**
   * A refused subscription ends; its listeners and the client hear why. A refused renewal after a lost
   * session first reports the gap that session made (nothing of it was replayed), so that it is never silent.
   */
  #failed(sub: Subscription, error: SwitchyardError): void {
    for (const [, reject] of sub.waiting.splice(0)) reject(error)
    // A closed client settles everything at once.
    if (this.#wire.closed) return
    const ref = `${sub.topic}\u0000${sub.key}`
    if (this.#subscriptions.get(ref) === sub) this.#subscriptions.delete(ref)
    if (sub.recovering) {
      sub.recovering = false
      this.#recovered(sub, { recovered: false }, "publications made while the session was lost could not be replayed")
    }
    for (const options of [...sub.listeners.values()]) {
      try {
        options?.onError?.(error)
      } catch (thrown) {
        this.#kit.report(thrown)
      }
    }
    this.#wire.error(error)
  }

  /**
   * The server confirmed `sub` (asked from `since`): it now stands at the confirmed position. After a
   * renewal, `onRecover` hears whether anything was missed, and the client an error when it was.
   */
  #confirmed(sub: Subscription, since: TopicPosition | null, output: Subscribed | null): void {
    // Unsubscribed meanwhile or not, `ready` tells the server's answer.
    for (const [resolve] of sub.waiting.splice(0)) resolve()
    if (this.#subscriptions.get(`${sub.topic}\u0000${sub.key}`) !== sub) return
    sub.position = output === null ? undefined : { offset: output[0], epoch: output[1] }
    sub.confirmed = true
    if (!sub.recovering) return
    sub.recovering = false
    const recovered = since !== null && output?.[2] === true
    // Within one epoch the server's offset tells how many publications went by since ours.
    const sameStream = since !== null && output !== null && output[1] === since[1] && output[0] > since[0]
    const missed = recovered ? 0 : sameStream ? output[0] - since[0] : undefined
    const info: TopicRecovery = missed === undefined ? { recovered } : { recovered, missed }
    if (recovered) return this.#recovered(sub, info)
    const what = missed === undefined ? "publications" : `${missed} publication${missed === 1 ? "" : "s"}`
    this.#recovered(sub, info, `${what} made while the session was lost could not be replayed`)
  }

  /** Tells `onRecover` of every listener of `sub`, and the client of a gap when there is one. */
  #recovered(sub: Subscription, info: TopicRecovery, gap?: string): void {
    for (const options of [...sub.listeners.values()]) {
      try {
        options?.onRecover?.(info)
      } catch (error) {
        this.#kit.report(error)
      }
    }
    if (gap) this.#wire.error(this.#kit.error("TOPIC_GAP", `${sub.topic}(${JSON.stringify(sub.key)}): ${gap}`))
  }

  /** The server lost the session: every subscription is renewed in the next one. */
  lost(): void {
    this.#epoch++
  }

  /** The new session is empty: renew every subscription from where it stood. */
  fresh(): void {
    for (const sub of this.#subscriptions.values()) {
      if (sub.sentIn === this.#epoch) continue
      // Only a subscription the server had confirmed can have missed something; an unreliable one
      // promises nothing about what it missed, so it is renewed without a recovery report.
      if (sub.confirmed && !sub.unreliable) sub.recovering = true
      this.#send(sub)
    }
  }

  /** A MESSAGE frame. */
  message(frame: MessageFrame): void {
    const sub = this.#subscriptions.get(`${frame[2]}\u0000${frame[3]}`)
    if (!sub) return
    const offset = frame[5]
    const position = sub.position
    const epoch = frame[6]
    if (epoch !== undefined && position !== undefined && offset !== undefined && epoch !== position.epoch) {
      // The key's history was lost mid-subscription (docs/protocol.md#a-new-epoch-mid-subscription).
      sub.position = { offset, epoch }
      this.#recovered(sub, { recovered: false }, "history lost (new epoch)")
    } else if (offset !== undefined && position !== undefined) {
      // The server sends each offset once, in order; this only guards the promise "never twice".
      if (offset <= position.offset) return
      if (offset !== position.offset + 1) {
        this.#wire.error(
          this.#kit.error(
            "TOPIC_GAP",
            `${frame[2]}(${JSON.stringify(frame[3])}): publications ${position.offset + 1} to ${offset - 1} never arrived`,
          ),
        )
      }
      position.offset = offset
    }
    this.#deliver(sub, frame[4])
  }

  /** A topic message sent unreliably (docs/delivery.md): delivered only when newer than the last. */
  unreliable(frame: UnreliableMessageFrame): void {
    const sub = this.#subscriptions.get(`${frame[2]}\u0000${frame[3]}`)
    if (!sub?.unreliable || frame[1] <= sub.newest) return
    sub.newest = frame[1]
    this.#deliver(sub, frame[4])
  }

  /** Decodes a topic message and hands it to every listener of `sub`; an invalid one is an `error` event. */
  #deliver(sub: Subscription, raw: unknown): void {
    const decoded = sub.codec.decode(raw)
    if (!decoded.ok) {
      return this.#wire.error(
        this.#kit.error("INVALID_OUTPUT", `topic ${sub.topic}: invalid message: ${decoded.error}`),
      )
    }
    for (const listener of [...sub.listeners.keys()]) {
      try {
        listener(decoded.value)
      } catch (error) {
        this.#kit.report(error)
      }
    }
  }

  clear(): void {
    this.#subscriptions.clear()
  }
}

/** The unsubscribe function with its `ready` promise, whose rejection is never reported as unhandled. */
function subscription(off: () => void, ready: Promise<void>): TopicSubscription {
  ready.catch(() => {})
  return Object.assign(off, { ready })
}
