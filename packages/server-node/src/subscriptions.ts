import { body, type ErrorCode, FrameType, SwitchyardError, type TopicPosition } from "@switchyard/core"
import { CallContext } from "./callContext.ts"
import { encodePayload } from "./encodePayload.ts"
import { AbandonableEffects, decide } from "./policies.ts"
import type { SessionPort } from "./runtime.ts"
import { SessionPresence } from "./sessionPresence.ts"
import type { Joined, Subscriber } from "./topics.ts"

/** A SUBSCRIBE not answered yet (its policy or the broker still deciding): what a hand-over carries on. */
export interface PendingSubscribe {
  readonly id: number
  readonly topic: string
  readonly key: string
  /** As the client asked: a position, `null` for none yet, absent for a subscriber without positions. */
  readonly since?: TopicPosition | null
}

/**
 * A subscription as a hand-over carries it: where it stood (`null` for a topic without positions), and
 * `member`: the session's presence data (JSON text) where it is listed in the key (docs/presence.md).
 */
export interface HeldSubscription {
  readonly topic: string
  readonly key: string
  readonly since: TopicPosition | null
  readonly member?: string
}

interface Subscription {
  readonly topic: string
  readonly key: string
  active: boolean
  /** Its data as JSON text when listed among the key's members (docs/presence.md). */
  member: string | undefined
  /** A subscription renewed after a hand-over, while its broker read is under way: where it stood. */
  renewing?: TopicPosition | undefined
}

/** A PRESENCE request not answered yet (its policy or the bus's list deciding): it moves with its session. */
export interface PendingPresence {
  readonly id: number
  readonly topic: string
  readonly key: string
  readonly watch: boolean
}

/**
 * The topic subscriptions of one session (SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PRESENCE): the topic
 * policies, the replay of what a renewed subscription missed (docs/topics.md), and the session's
 * presence in the keys it subscribed to (docs/presence.md).
 */
export class Subscriptions {
  private readonly subscriptions = new Map<string, Subscription>()
  private readonly presence: SessionPresence
  /** SUBSCRIBE requests not answered yet, by request id. */
  private readonly pending = new Map<number, PendingSubscribe>()
  /** PRESENCE requests not answered yet, by request id. */
  private readonly listing = new Map<number, PendingPresence>()
  /** PUBLISH requests not answered yet (their policy or the broker deciding): work a hand-over leaves here. */
  private readonly publishing = new Set<number>()
  /** Interrupted when the subscriptions are dropped (the session ended or moved): SUBSCRIBE and PRESENCE policies' Effects. */
  private readonly requestEffects: AbandonableEffects
  /** Interrupted when the session ends: `canPublish` Effects (a PUBLISH outlives a move). */
  private readonly publishEffects: AbandonableEffects

  constructor(
    private readonly session: SessionPort,
    /** What the topic registry delivers to: the session. */
    private readonly subscriber: Subscriber,
  ) {
    this.presence = new SessionPresence(session)
    this.requestEffects = new AbandonableEffects(session.runtime.services)
    this.publishEffects = new AbandonableEffects(session.runtime.services)
  }

  /**
   * Ghost side: the session ended at its owner, or this work is given up (the owner is gone, the node
   * leaves): the `canPublish` Effects still running here are interrupted (and `close()` stops waiting
   * for them).
   */
  abandonPublishes(): void {
    this.publishEffects.abandon()
  }

  /** PUBLISH requests not answered yet: work that keeps running here when the session moves. */
  publishes(): number[] {
    return [...this.publishing]
  }

  /**
   * Leaves every key: the session ended, or (`handedOver`) moved to another node, which lists it in the
   * same keys in its place, so that nobody is told it left.
   */
  dropAll(handedOver = false): void {
    const { topics } = this.session.runtime
    this.requestEffects.abandon()
    if (!handedOver) this.publishEffects.abandon()
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
    const request: PendingSubscribe = since === undefined ? { id, topic, key } : { id, topic, key, since }
    this.pending.set(id, request)
    // False once the request is answered, or carried to another node with its session (`handOver`).
    const answering = () => this.pending.get(id) === request && this.pending.delete(id)
    const policy = runtime.policies.get(topic)?.canSubscribe
    const ctx = new CallContext(session.id, session.transport, session.auth)
    decide(
      policy && (() => policy(key, ctx)),
      true,
      (allowed) => {
        if (session.isEnded || this.pending.get(id) !== request) return
        if (this.subscriptions.get(ref) !== sub) {
          // Unsubscribed while the policy was deciding: the request is answered all the same.
          answering()
          return session.send(FrameType.RESULT, body.result(id, "null"))
        }
        if (allowed !== true) {
          answering()
          this.subscriptions.delete(ref)
          this.presence.unwatch(topic, key)
          if (allowed instanceof Error) runtime.onError(allowed, { sessionId: session.id, channel: topic })
          return session.fail(id, "FORBIDDEN", `not allowed to subscribe to ${topic}(${JSON.stringify(key)})`)
        }
        if (!channel.presence) return this.activate(id, sub, since, answering)
        // A member joins before its subscription is confirmed: the RESULT and the MESSAGEs after it must
        // follow one another at once (confirm), so the join, which may wait for the bus, comes first.
        this.presence.join(channel, key, ctx, this.requestEffects, (outcome) => {
          const current = !session.isEnded && this.subscriptions.get(ref) === sub
          const listed = typeof outcome === "object" && "data" in outcome
          if (listed && !current) this.presence.leave(topic, key)
          if (session.isEnded || this.pending.get(id) !== request) return
          if (!current) {
            answering()
            return session.send(FrameType.RESULT, body.result(id, "null"))
          }
          if (typeof outcome === "object" && "code" in outcome) {
            answering()
            this.subscriptions.delete(ref)
            this.presence.unwatch(topic, key)
            return session.fail(id, outcome.code, outcome.message)
          }
          if (listed) sub.member = outcome.data
          this.activate(id, sub, since, answering)
        })
      },
      this.requestEffects,
    )
  }

  private activate(
    id: number,
    sub: Subscription,
    since: TopicPosition | null | undefined,
    answering: () => boolean,
  ): void {
    const { session } = this
    const { runtime } = session
    const { topic, key } = sub
    const ref = `${topic}\u0000${key}`
    sub.active = true
    runtime.topics.subscribe(topic, key, this.subscriber, since, (joined) => {
      if (session.isEnded || !answering()) return
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
    const request: PendingPresence = { id, topic, key, watch }
    this.listing.set(id, request)
    // False once the request is answered, or carried to another node with its session (`handOver`).
    const answering = () => this.listing.get(id) === request && this.listing.delete(id)
    const policy = runtime.policies.get(topic)?.canSubscribe
    const ctx = new CallContext(session.id, session.transport, session.auth)
    decide(
      policy && (() => policy(key, ctx)),
      true,
      (allowed) => {
        if (session.isEnded || this.listing.get(id) !== request) return
        if (allowed !== true) {
          answering()
          if (allowed instanceof Error) runtime.onError(allowed, { sessionId: session.id, channel: topic })
          return session.fail(id, "FORBIDDEN", `not allowed to see who is in ${topic}(${JSON.stringify(key)})`)
        }
        if (watch && !this.subscriptions.has(`${topic}\u0000${key}`)) {
          answering()
          return session.fail(id, "FORBIDDEN", `subscribe to ${topic}(${JSON.stringify(key)}) before watching it`)
        }
        this.presence.list(id, topic, key, watch, answering)
      },
      this.requestEffects,
    )
  }

  /**
   * Hands the subscriptions over to another node: those in force (with the session's data where it is
   * a member), the keys whose joins and leaves it gets, and the SUBSCRIBE and PRESENCE requests not
   * answered yet, which the new owner runs again (they are answered there, not here). Drops them all here.
   */
  handOver(): {
    held: HeldSubscription[]
    watching: Array<{ readonly topic: string; readonly key: string }>
    pending: PendingSubscribe[]
    listing: PendingPresence[]
  } {
    const { topics } = this.session.runtime
    const pending = [...this.pending.values()]
    this.pending.clear()
    const listing = [...this.listing.values()]
    this.listing.clear()
    const asked = new Set(pending.map((request) => `${request.topic}\u0000${request.key}`))
    // Where each stood: a renewal still reading from the broker stands where it was renewed from.
    const held = [...this.subscriptions]
      .filter(([ref, sub]) => sub.active && !asked.has(ref))
      .map(([, { topic, key, renewing, member }]) => ({
        topic,
        key,
        since: topics.position(topic, key, this.subscriber) ?? renewing ?? null,
        ...(member !== undefined && { member }),
      }))
    const watching = this.presence.watched()
    this.dropAll(true)
    return { held, watching, pending, listing }
  }

  /** Carries on the joins and leaves of a key for a session taken over from another node. */
  rewatch(topic: string, key: string): void {
    this.presence.rewatch(topic, key)
  }

  /**
   * Renews a subscription carried over from another node, from where it stood there (`since`, or
   * `undefined` for a topic without positions); what it missed since follows as MESSAGE frames, before
   * anything newer. When the history no longer covers it, or the replay buffer cannot take it, the
   * subscription goes on with live messages: the client sees their offsets jump, or their new epoch, and
   * reports `TOPIC_GAP`. A member (`member`:
   * its data) is listed again as it was, tagged with this node: the others hear no leave and no join.
   */
  renew(topic: string, key: string, since: TopicPosition | undefined, member: string | undefined): void {
    const { session } = this
    const { runtime } = session
    const ref = `${topic}\u0000${key}`
    const sub: Subscription = { topic, key, active: true, member, renewing: since }
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
    decide(
      policy && (() => policy(key, decoded.value, ctx)),
      false,
      (allowed) => {
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
      },
      this.publishEffects,
    )
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
