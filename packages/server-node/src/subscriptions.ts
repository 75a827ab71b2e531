import { body, type ErrorCode, FrameType, SwitchyardError, type TopicPosition } from "@switchyard/core"
import { CallContext } from "./callContext.ts"
import { encodePayload } from "./encodePayload.ts"
import { decide } from "./policies.ts"
import type { SessionPort } from "./runtime.ts"
import type { Joined, Subscriber } from "./topics.ts"

/**
 * The topic subscriptions of one session (SUBSCRIBE, UNSUBSCRIBE, PUBLISH): the topic policies, and the
 * replay of what a renewed subscription missed (docs/topics.md).
 */
/** A SUBSCRIBE not answered yet (its policy or the broker still deciding): what a hand-over carries on. */
export interface PendingSubscribe {
  readonly id: number
  readonly topic: string
  readonly key: string
  /** As the client asked: a position, `null` for none yet, absent for a subscriber without positions. */
  readonly since?: TopicPosition | null
}

/** A subscription as a hand-over carries it: where it stood, `null` for a topic without positions. */
export interface HeldSubscription {
  readonly topic: string
  readonly key: string
  readonly since: TopicPosition | null
}

interface Subscription {
  readonly topic: string
  readonly key: string
  active: boolean
  /** A subscription renewed after a hand-over, while its broker read is under way: where it stood. */
  renewing?: TopicPosition | undefined
}

export class Subscriptions {
  private readonly subscriptions = new Map<string, Subscription>()
  /** SUBSCRIBE requests not answered yet, by request id. */
  private readonly pending = new Map<number, PendingSubscribe>()
  /** PUBLISH requests not answered yet (their policy or the broker deciding): work a hand-over leaves here. */
  private readonly publishing = new Set<number>()

  constructor(
    private readonly session: SessionPort,
    /** What the topic registry delivers to: the session. */
    private readonly subscriber: Subscriber,
  ) {}

  /** PUBLISH requests not answered yet: work that keeps running here when the session moves. */
  publishes(): number[] {
    return [...this.publishing]
  }

  /** Leaves every key (the session ended). */
  dropAll(): void {
    const { topics } = this.session.runtime
    for (const sub of this.subscriptions.values()) topics.unsubscribe(sub.topic, sub.key, this.subscriber)
    this.subscriptions.clear()
  }

  subscribe(id: number, topic: string, key: string, since: TopicPosition | null | undefined): void {
    const { session } = this
    const { runtime } = session
    if (!runtime.compiled.topics.has(topic)) {
      return session.fail(id, "UNKNOWN_CHANNEL", `no such topic: ${JSON.stringify(topic)}`)
    }
    const ref = `${topic}\u0000${key}`
    if (this.subscriptions.has(ref)) return session.send(FrameType.RESULT, body.result(id, "null"))
    if (this.subscriptions.size >= runtime.limits.maxSubscriptions) {
      return session.fail(id, "LIMIT_EXCEEDED", `more than ${runtime.limits.maxSubscriptions} subscriptions`)
    }
    const sub: Subscription = { topic, key, active: false }
    this.subscriptions.set(ref, sub)
    const request: PendingSubscribe = since === undefined ? { id, topic, key } : { id, topic, key, since }
    this.pending.set(id, request)
    // False once the request is answered, or carried to another node with its session (`handOver`).
    const answering = () => this.pending.get(id) === request && this.pending.delete(id)
    const policy = runtime.policies.get(topic)?.canSubscribe
    const ctx = new CallContext(session.id, session.transport, session.auth)
    decide(policy && (() => policy(key, ctx)), true, (allowed) => {
      if (session.isEnded || this.pending.get(id) !== request) return
      if (this.subscriptions.get(ref) !== sub) {
        this.pending.delete(id)
        // Unsubscribed while the policy was deciding: the request is answered all the same.
        return session.send(FrameType.RESULT, body.result(id, "null"))
      }
      if (allowed !== true) {
        this.pending.delete(id)
        this.subscriptions.delete(ref)
        if (allowed instanceof Error) runtime.onError(allowed, { sessionId: session.id, channel: topic })
        return session.fail(id, "FORBIDDEN", `not allowed to subscribe to ${topic}(${JSON.stringify(key)})`)
      }
      sub.active = true
      runtime.topics.subscribe(topic, key, this.subscriber, since, (joined) => {
        if (session.isEnded || !answering()) return
        // Unsubscribed while the broker answered: the request is answered all the same.
        if (this.subscriptions.get(ref) !== sub) return session.send(FrameType.RESULT, body.result(id, "null"))
        if (joined instanceof Error) {
          // The broker could not say where the key's stream stands: the subscription is refused.
          this.subscriptions.delete(ref)
          runtime.topics.unsubscribe(topic, key, this.subscriber)
          return session.fail(id, codeOf(joined), `${topic}(${JSON.stringify(key)}): ${joined.message}`)
        }
        this.confirm(id, since, joined)
      })
    })
  }

  unsubscribe(topic: string, key: string): void {
    const ref = `${topic}\u0000${key}`
    const sub = this.subscriptions.get(ref)
    if (!sub) return
    this.subscriptions.delete(ref)
    if (sub.active) this.session.runtime.topics.unsubscribe(topic, key, this.subscriber)
  }

  /**
   * Hands the subscriptions over to another node: those in force, and the SUBSCRIBE requests not answered
   * yet, which the new owner runs again (they are answered there, not here). Drops them all here.
   */
  handOver(): { held: HeldSubscription[]; pending: PendingSubscribe[] } {
    const { topics } = this.session.runtime
    const pending = [...this.pending.values()]
    this.pending.clear()
    const asked = new Set(pending.map((request) => `${request.topic}\u0000${request.key}`))
    // Where each stood: a renewal still reading from the broker stands where it was renewed from.
    const held = [...this.subscriptions]
      .filter(([ref, sub]) => sub.active && !asked.has(ref))
      .map(([, { topic, key, renewing }]) => ({
        topic,
        key,
        since: topics.position(topic, key, this.subscriber) ?? renewing ?? null,
      }))
    this.dropAll()
    return { held, pending }
  }

  /**
   * Renews a subscription carried over from another node, from where it stood there (`since`, or
   * `undefined` for a topic without positions); what it missed since follows as MESSAGE frames, before
   * anything newer. When the history no longer covers it, or the replay buffer cannot take it, the
   * subscription goes on with live messages: the client sees their offsets jump, or their new epoch, and
   * reports `TOPIC_GAP`.
   */
  renew(topic: string, key: string, since: TopicPosition | undefined): void {
    const { session } = this
    const { runtime } = session
    const ref = `${topic}\u0000${key}`
    const sub: Subscription = { topic, key, active: true, renewing: since }
    this.subscriptions.set(ref, sub)
    runtime.topics.subscribe(topic, key, this.subscriber, since, (joined) => {
      sub.renewing = undefined
      if (session.isEnded || this.subscriptions.get(ref) !== sub) return
      if (joined instanceof Error) return runtime.onError(joined, { sessionId: session.id, channel: topic })
      // A replay the buffer cannot take whole is skipped, as a SUBSCRIBE's is: the jump shows as TOPIC_GAP.
      if (!joined.replay || !canTake(session, joined.replay)) return
      for (const messageBody of joined.replay) session.send(FrameType.MESSAGE, messageBody)
    })
  }

  publish(id: number, topic: string, key: string, raw: unknown): void {
    const { session } = this
    const { runtime } = session
    const channel = runtime.compiled.topics.get(topic)
    if (!channel) return session.fail(id, "UNKNOWN_CHANNEL", `no such topic: ${JSON.stringify(topic)}`)
    const decoded = channel.message.decode(raw)
    if (!decoded.ok) return session.fail(id, "INVALID_INPUT", `${topic}: ${decoded.error}`)
    const policy = runtime.policies.get(topic)?.canPublish
    const ctx = new CallContext(session.id, session.transport, session.auth)
    this.publishing.add(id)
    const answered = () => this.publishing.delete(id)
    // Clients may publish only where a canPublish policy allows it.
    decide(policy && (() => policy(key, decoded.value, ctx)), false, (allowed) => {
      if (session.isEnded) return void answered()
      if (allowed !== true) {
        answered()
        if (allowed instanceof Error) runtime.onError(allowed, { sessionId: session.id, channel: topic })
        return session.fail(id, "FORBIDDEN", `not allowed to publish to ${topic}(${JSON.stringify(key)})`)
      }
      // Re-encode the decoded value so that subscribers get the canonical form, not the sender's bytes.
      const json = encodePayload(channel.message, decoded.value)
      let taken: void | Promise<void>
      try {
        if (json === undefined) throw new SwitchyardError("INVALID_INPUT", "the message cannot be encoded")
        taken = runtime.topics.publishEncoded(topic, key, json)
      } catch (error) {
        answered()
        return session.fail(id, codeOf(error), `${topic}: ${(error as Error).message}`)
      }
      if (taken === undefined) {
        answered()
        return session.send(FrameType.RESULT, body.result(id, "null"))
      }
      // A remote broker: answered once it has taken the message (and delivered it here, when subscribed).
      taken.then(
        () => answered() && !session.isEnded && session.send(FrameType.RESULT, body.result(id, "null")),
        (error: unknown) =>
          answered() && !session.isEnded && session.fail(id, codeOf(error), `${topic}: ${(error as Error).message}`),
      )
    })
  }

  /**
   * Answers a SUBSCRIBE that has just joined its key, then replays what it missed, all before any live
   * MESSAGE can follow (the registry delivers synchronously). A replay the replay buffer could not take
   * whole is not sent: the client is told it was not recovered, rather than the session overflowing on
   * every renewal.
   */
  private confirm(id: number, since: TopicPosition | null | undefined, joined: Joined): void {
    const { session } = this
    if (since === undefined || joined.epoch === undefined)
      return session.send(FrameType.RESULT, body.result(id, "null"))
    const replay =
      since !== null && joined.replay !== undefined && canTake(session, joined.replay) ? joined.replay : undefined
    if (since === null || replay === undefined) {
      return session.send(FrameType.RESULT, body.subscribed(id, joined.offset, joined.epoch, since === null))
    }
    session.send(FrameType.RESULT, body.subscribed(id, since[0], joined.epoch, true))
    for (const messageBody of replay) session.send(FrameType.MESSAGE, messageBody)
  }
}

/** Whether the replay buffer can take these MESSAGE bodies, and the RESULT before them, without overflowing. */
function canTake(session: SessionPort, bodies: readonly string[]): boolean {
  if (bodies.length === 0) return true
  // A frame is its body plus "[12,<seq>," and "]": at most 24 more characters.
  let size = 64
  for (const messageBody of bodies) size += messageBody.length + 24
  return session.canTake(bodies.length + 1, size)
}

/** The code a broker's failure is answered with: its own when it has one, else `BROKER_UNAVAILABLE`. */
function codeOf(error: unknown): ErrorCode {
  return error instanceof SwitchyardError ? error.code : "BROKER_UNAVAILABLE"
}
