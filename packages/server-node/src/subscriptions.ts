import { body, type ErrorCode, FrameType, SwitchyardError, type TopicPosition } from "@switchyard/core"
import { CallContext } from "./callContext.ts"
import { encodePayload } from "./encodePayload.ts"
import { decide } from "./policies.ts"
import type { SessionPort } from "./runtime.ts"
import { SessionPresence } from "./sessionPresence.ts"
import type { Joined, Subscriber } from "./topics.ts"

interface Subscription {
  readonly topic: string
  readonly key: string
  active: boolean
  /** Its data as JSON text when listed among the key's members (docs/presence.md). */
  member: string | undefined
}

/**
 * The topic subscriptions of one session (SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PRESENCE): the topic
 * policies, the replay of what a renewed subscription missed (docs/topics.md), and the session's
 * presence in the keys it subscribed to (docs/presence.md).
 */
export class Subscriptions {
  private readonly subscriptions = new Map<string, Subscription>()
  private readonly presence: SessionPresence

  constructor(
    private readonly session: SessionPort,
    /** What the topic registry delivers to: the session. */
    private readonly subscriber: Subscriber,
  ) {
    this.presence = new SessionPresence(session)
  }

  /**
   * Leaves every key: the session ended, or (`handedOver`) moved to another node, which lists it in the
   * same keys in its place, so that nobody is told it left.
   */
  dropAll(handedOver = false): void {
    const { topics } = this.session.runtime
    this.presence.stopAll()
    for (const sub of this.subscriptions.values()) {
      if (sub.active) topics.unsubscribe(sub.topic, sub.key, this.subscriber)
      if (sub.member !== undefined && !handedOver) this.presence.leave(sub.topic, sub.key)
    }
    this.subscriptions.clear()
  }

  subscribe(id: number, topic: string, key: string, since: TopicPosition | null | undefined): void {
    const { session } = this
    const { runtime } = session
    const channel = runtime.compiled.topics.get(topic)
    if (!channel) return session.fail(id, "UNKNOWN_CHANNEL", `no such topic: ${JSON.stringify(topic)}`)
    const ref = `${topic}\u0000${key}`
    if (this.subscriptions.has(ref)) return session.send(FrameType.RESULT, body.result(id, "null"))
    if (this.subscriptions.size >= runtime.limits.maxSubscriptions) {
      return session.fail(id, "LIMIT_EXCEEDED", `more than ${runtime.limits.maxSubscriptions} subscriptions`)
    }
    const sub: Subscription = { topic, key, active: false, member: undefined }
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
        this.presence.unwatch(topic, key)
        if (allowed instanceof Error) runtime.onError(allowed, { sessionId: session.id, channel: topic })
        return session.fail(id, "FORBIDDEN", `not allowed to subscribe to ${topic}(${JSON.stringify(key)})`)
      }
      if (!channel.presence) return this.activate(id, sub, since)
      // A member joins before its subscription is confirmed: the RESULT and the MESSAGEs after it must
      // follow one another at once (confirm), so the join, which may wait for the bus, comes first.
      this.presence.join(channel, key, ctx, (outcome) => {
        const current = !session.isEnded && this.subscriptions.get(ref) === sub
        const listed = typeof outcome === "object" && "data" in outcome
        if (listed && !current) this.presence.leave(topic, key)
        if (session.isEnded) return
        if (!current) return session.send(FrameType.RESULT, body.result(id, "null"))
        if (typeof outcome === "object" && "code" in outcome) {
          this.subscriptions.delete(ref)
          this.presence.unwatch(topic, key)
          return session.fail(id, outcome.code, outcome.message)
        }
        if (listed) sub.member = outcome.data
        this.activate(id, sub, since)
      })
    })
  }

  private activate(id: number, sub: Subscription, since: TopicPosition | null | undefined): void {
    const { session } = this
    const { runtime } = session
    const { topic, key } = sub
    const ref = `${topic}\u0000${key}`
    sub.active = true
    runtime.topics.subscribe(topic, key, this.subscriber, since, (joined) => {
      if (session.isEnded) return
      // Unsubscribed while the broker answered: the request is answered all the same.
      if (this.subscriptions.get(ref) !== sub) return session.send(FrameType.RESULT, body.result(id, "null"))
      if (joined instanceof Error) {
        // The broker could not say where the key's stream stands: the subscription is refused.
        this.unsubscribe(topic, key)
        return session.fail(id, codeOf(joined), `${topic}(${JSON.stringify(key)}): ${joined.message}`)
      }
      this.confirm(id, since, joined)
    })
  }

  unsubscribe(topic: string, key: string): void {
    const ref = `${topic}\u0000${key}`
    const sub = this.subscriptions.get(ref)
    if (!sub) return
    this.subscriptions.delete(ref)
    this.presence.unwatch(topic, key)
    if (sub.active) this.session.runtime.topics.unsubscribe(topic, key, this.subscriber)
    if (sub.member !== undefined) this.presence.leave(topic, key)
  }

  /**
   * A PRESENCE request: the members of a key, to whoever may subscribe to it; with `watch`, also its
   * joins and leaves from now on, to a session subscribed to it (docs/presence.md).
   */
  presenceOf(id: number, topic: string, key: string, watch: boolean): void {
    const { session } = this
    const { runtime } = session
    const channel = runtime.compiled.topics.get(topic)
    if (!channel?.presence) {
      const what = channel ? "declares no presence" : "does not exist"
      return session.fail(id, "UNKNOWN_CHANNEL", `topic ${JSON.stringify(topic)} ${what}`)
    }
    const policy = runtime.policies.get(topic)?.canSubscribe
    const ctx = new CallContext(session.id, session.transport, session.auth)
    decide(policy && (() => policy(key, ctx)), true, (allowed) => {
      if (session.isEnded) return
      if (allowed !== true) {
        if (allowed instanceof Error) runtime.onError(allowed, { sessionId: session.id, channel: topic })
        return session.fail(id, "FORBIDDEN", `not allowed to see who is in ${topic}(${JSON.stringify(key)})`)
      }
      if (watch) {
        if (!this.subscriptions.has(`${topic}\u0000${key}`)) {
          return session.fail(id, "FORBIDDEN", `subscribe to ${topic}(${JSON.stringify(key)}) before watching it`)
        }
      }
      this.presence.list(id, topic, key, watch)
    })
  }

  /** The subscriptions in force (with the session's data where it is a member), for a hand-over. */
  held(): Array<{ readonly topic: string; readonly key: string; readonly member: string | undefined }> {
    return [...this.subscriptions.values()].filter((sub) => sub.active)
  }

  /** The keys whose joins and leaves the session gets, for a hand-over. */
  watched(): Array<{ readonly topic: string; readonly key: string }> {
    return this.presence.watched()
  }

  /** Carries on the joins and leaves of a key for a session taken over from another node. */
  rewatch(topic: string, key: string): void {
    this.presence.rewatch(topic, key)
  }

  /**
   * Renews a subscription carried over from another node, from where it stood there (`since`, or
   * `undefined` for a topic without positions); what it missed since follows as MESSAGE frames, before
   * anything newer. When the history no longer covers it, the subscription goes on with live messages:
   * the client sees their offsets jump, or their new epoch, and reports `TOPIC_GAP`. A member (`member`:
   * its data) is listed again as it was, tagged with this node: the others hear no leave and no join.
   */
  renew(topic: string, key: string, since: TopicPosition | undefined, member: string | undefined): void {
    const { session } = this
    const { runtime } = session
    const ref = `${topic}\u0000${key}`
    const sub: Subscription = { topic, key, active: true, member }
    this.subscriptions.set(ref, sub)
    // Joined at once, before anything the client sends next (an UNSUBSCRIBE's leave then follows it).
    if (member !== undefined) {
      const entry = { id: session.id, data: member }
      runtime.presence.join(topic, key, entry, runtime.limits.maxPresencePerKey).then(
        (listed) => {
          if (!listed) sub.member = undefined
        },
        (error: unknown) => {
          sub.member = undefined
          runtime.onError(error, { sessionId: session.id, channel: topic })
        },
      )
    }
    runtime.topics.subscribe(topic, key, this.subscriber, since, (joined) => {
      if (session.isEnded || this.subscriptions.get(ref) !== sub) return
      if (joined instanceof Error) return runtime.onError(joined, { sessionId: session.id, channel: topic })
      for (const messageBody of joined.replay ?? []) session.send(FrameType.MESSAGE, messageBody)
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
