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
export class Subscriptions {
  private readonly subscriptions = new Map<string, { readonly topic: string; readonly key: string; active: boolean }>()

  constructor(
    private readonly session: SessionPort,
    /** What the topic registry delivers to: the session. */
    private readonly subscriber: Subscriber,
  ) {}

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
    const sub = { topic, key, active: false }
    this.subscriptions.set(ref, sub)
    const policy = runtime.policies.get(topic)?.canSubscribe
    const ctx = new CallContext(session.id, session.transport, session.auth)
    decide(policy && (() => policy(key, ctx)), true, (allowed) => {
      if (session.isEnded) return
      if (this.subscriptions.get(ref) !== sub) {
        // Unsubscribed while the policy was deciding: the request is answered all the same.
        return session.send(FrameType.RESULT, body.result(id, "null"))
      }
      if (allowed !== true) {
        this.subscriptions.delete(ref)
        if (allowed instanceof Error) runtime.onError(allowed, { sessionId: session.id, channel: topic })
        return session.fail(id, "FORBIDDEN", `not allowed to subscribe to ${topic}(${JSON.stringify(key)})`)
      }
      sub.active = true
      runtime.topics.subscribe(topic, key, this.subscriber, since, (joined) => {
        if (session.isEnded) return
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

  publish(id: number, topic: string, key: string, raw: unknown): void {
    const { session } = this
    const { runtime } = session
    const channel = runtime.compiled.topics.get(topic)
    if (!channel) return session.fail(id, "UNKNOWN_CHANNEL", `no such topic: ${JSON.stringify(topic)}`)
    const decoded = channel.message.decode(raw)
    if (!decoded.ok) return session.fail(id, "INVALID_INPUT", `${topic}: ${decoded.error}`)
    const policy = runtime.policies.get(topic)?.canPublish
    const ctx = new CallContext(session.id, session.transport, session.auth)
    // Clients may publish only where a canPublish policy allows it.
    decide(policy && (() => policy(key, decoded.value, ctx)), false, (allowed) => {
      if (session.isEnded) return
      if (allowed !== true) {
        if (allowed instanceof Error) runtime.onError(allowed, { sessionId: session.id, channel: topic })
        return session.fail(id, "FORBIDDEN", `not allowed to publish to ${topic}(${JSON.stringify(key)})`)
      }
      // Re-encode the decoded value so that subscribers get the canonical form, not the sender's bytes.
      const json = encodePayload(channel.message, decoded.value)
      if (json === undefined) return session.fail(id, "INVALID_INPUT", `${topic}: the message cannot be encoded`)
      let taken: void | Promise<void>
      try {
        taken = runtime.topics.publishEncoded(topic, key, json)
      } catch (error) {
        return session.fail(id, codeOf(error), `${topic}: ${(error as Error).message}`)
      }
      if (taken === undefined) return session.send(FrameType.RESULT, body.result(id, "null"))
      // A remote broker: answered once it has taken the message (and delivered it here, when subscribed).
      taken.then(
        () => session.isEnded || session.send(FrameType.RESULT, body.result(id, "null")),
        (error: unknown) => session.isEnded || session.fail(id, codeOf(error), `${topic}: ${(error as Error).message}`),
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
