import { body, type CompiledTopic, type ErrorCode, FrameType, stringifyPayload } from "@switchyard/core"
import * as Effect from "effect/Effect"
import type { PresenceEntry } from "./broker/presenceBus.ts"
import type { CallContext } from "./callContext.ts"
import { isAsync, runHookEffect } from "./handlers.ts"
import type { PolicyEffects } from "./policies.ts"
import { presenceListJson } from "./presence.ts"
import type { SessionPort } from "./runtime.ts"

/**
 * How a join ended: listed (with the data it was listed with, as JSON text), subscribed but not listed
 * (the key is full), or refused with an error.
 */
export type JoinOutcome =
  | { readonly data: string }
  | "unlisted"
  | { readonly code: ErrorCode; readonly message: string }

/**
 * The presence of one session (docs/presence.md): its data for the keys it joins, computed by the
 * topic's `presence` hook, and the keys whose joins and leaves it asked for.
 */
export class SessionPresence {
  /** The keys this session watches, with the function that stops each. */
  private readonly watching = new Map<string, { readonly topic: string; readonly key: string; stop(): void }>()

  constructor(private readonly session: SessionPort) {}

  /**
   * Computes the session's data for `key` (the hook may be async), checks it against the topic's
   * presence schema and adds the member. `then` hears the outcome; a failing hook is reported. A hook's
   * Effect runs with `effects`: its failure, like its defect, is a failing hook; interrupted (the session
   * ended or moved), it refuses without a report.
   */
  join(
    channel: CompiledTopic,
    key: string,
    ctx: CallContext,
    effects: PolicyEffects,
    then: (outcome: JoinOutcome) => void,
  ): void {
    const { session } = this
    const { runtime } = session
    const codec = channel.presence
    const hook = runtime.policies.get(channel.name)?.presence
    const failed = (error: unknown, code: ErrorCode, message: string) => {
      runtime.onError(error, { sessionId: session.id, channel: channel.name })
      then({ code, message: `${channel.name}: ${message}` })
    }
    const add = (data: unknown) => {
      const encoded = codec?.encode(data)
      const json = encoded?.ok ? stringifyPayload(encoded.value) : undefined
      if (json === undefined) {
        const why = encoded && !encoded.ok ? encoded.error : "it cannot be serialised as JSON"
        return failed(
          new TypeError(`${channel.name}: invalid presence data: ${why}`),
          "INVALID_OUTPUT",
          "invalid presence data",
        )
      }
      runtime.presence.join(channel.name, key, { id: session.id, data: json }, runtime.limits.maxPresencePerKey).then(
        (listed) => then(listed ? { data: json } : "unlisted"),
        (error: unknown) => failed(error, "INTERNAL_ERROR", "internal error"),
      )
    }
    if (!hook)
      return failed(
        new TypeError(`missing presence hook for topic ${channel.name}`),
        "INTERNAL_ERROR",
        "internal error",
      )
    let data: unknown
    try {
      data = hook(key, ctx)
    } catch (error) {
      return failed(error, "INTERNAL_ERROR", "internal error")
    }
    if (!isAsync(data)) return add(data)
    if (Effect.isEffect(data)) {
      void runHookEffect(data, effects.services, effects.signal()).then((outcome) => {
        if (outcome._tag === "success") return add(outcome.value)
        if (outcome._tag === "interrupted")
          return then({ code: "INTERNAL_ERROR", message: `${channel.name}: interrupted` })
        failed(outcome._tag === "failure" ? outcome.error : outcome.cause, "INTERNAL_ERROR", "internal error")
      })
      return
    }
    Promise.resolve(data as PromiseLike<unknown>).then(add, (error: unknown) =>
      failed(error, "INTERNAL_ERROR", "internal error"),
    )
  }

  leave(topic: string, key: string): void {
    this.session.runtime.presence.leave(topic, key, this.session.id)
  }

  /**
   * Answers request `id` with the members of a key and, with `watch`, starts the session's
   * PRESENCE_EVENT frames for it (once, however often it asks). The events are watched before the list
   * is asked for, and held until the RESULT is sent: the client applies the list, then every change
   * after it (a change the list already shows is told again and ignored by the client), never a list
   * older than an event it already applied. `answering` is false when the request moved to another
   * node with the session meanwhile (it is answered there).
   */
  list(id: number, topic: string, key: string, watch: boolean, answering: () => boolean): void {
    const { session } = this
    // `answering`: false when the request moved to another node with the session meanwhile.
    this.listThen(topic, key, watch, {
      answer: (entries) => answering() && session.send(FrameType.RESULT, body.result(id, presenceListJson(entries))),
      fail: () => answering() && session.fail(id, "INTERNAL_ERROR", `${topic}: internal error`),
    })
  }

  /**
   * Carries on the events of a key for a session taken over from another node: watches it again, then
   * tells every member as a join (the client ignores those it knows), so that one who joined while the
   * session moved is not missed.
   */
  rewatch(topic: string, key: string): void {
    const { session } = this
    this.listThen(topic, key, true, {
      answer: (entries) => {
        for (const e of entries)
          session.send(FrameType.PRESENCE_EVENT, body.presenceEvent(topic, key, "join", e.id, e.data))
      },
      fail: () => {},
    })
  }

  /** The keys this session watches, for a session handed over to another node. */
  watched(): Array<{ readonly topic: string; readonly key: string }> {
    return [...this.watching.values()].map(({ topic, key }) => ({ topic, key }))
  }

  private listThen(
    topic: string,
    key: string,
    watch: boolean,
    then: { answer(entries: readonly PresenceEntry[]): void; fail(): void },
  ): void {
    const { session } = this
    const ref = `${topic}\u0000${key}`
    let held: string[] | undefined
    if (watch && !this.watching.has(ref)) {
      const waiting: string[] = []
      held = waiting
      const stop = session.runtime.presence.watch(topic, key, (_change, frameBody) => {
        if (held === waiting) waiting.push(frameBody)
        else session.send(FrameType.PRESENCE_EVENT, frameBody)
      })
      this.watching.set(ref, { topic, key, stop })
    }
    const release = () => {
      const waiting = held ?? []
      held = undefined
      for (const frameBody of waiting) session.send(FrameType.PRESENCE_EVENT, frameBody)
    }
    session.runtime.presence.list(topic, key).then(
      (entries) => {
        if (session.isEnded) return
        then.answer(entries)
        release()
      },
      (error: unknown) => {
        session.runtime.onError(error, { sessionId: session.id, channel: topic })
        if (session.isEnded) return
        then.fail()
        release()
      },
    )
  }

  /** Stops the events of a key (the session unsubscribed from it). */
  unwatch(topic: string, key: string): void {
    const ref = `${topic}\u0000${key}`
    this.watching.get(ref)?.stop()
    this.watching.delete(ref)
  }

  /** The session ended: no more events. */
  stopAll(): void {
    for (const watched of this.watching.values()) watched.stop()
    this.watching.clear()
  }
}
