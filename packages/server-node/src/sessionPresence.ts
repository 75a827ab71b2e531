import { body, type CompiledTopic, type ErrorCode, FrameType, stringifyPayload } from "@switchyard/core"
import type { CallContext } from "./callContext.ts"
import { isAsync } from "./handlers.ts"
import { presenceListJson } from "./presence.ts"
import type { SessionPort } from "./runtime.ts"

/** How a join ended: listed, subscribed but not listed (the key is full), or refused with an error. */
export type JoinOutcome = "listed" | "unlisted" | { readonly code: ErrorCode; readonly message: string }

/**
 * The presence of one session (docs/presence.md): its data for the keys it joins, computed by the
 * topic's `presence` hook, and the keys whose joins and leaves it asked for.
 */
export class SessionPresence {
  /** The keys this session watches, with the function that stops each. */
  private readonly watching = new Map<string, () => void>()

  constructor(private readonly session: SessionPort) {}

  /**
   * Computes the session's data for `key` (the hook may be async), checks it against the topic's
   * presence schema and adds the member. `then` hears the outcome; a failing hook is reported.
   */
  join(channel: CompiledTopic, key: string, ctx: CallContext, then: (outcome: JoinOutcome) => void): void {
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
        (listed) => then(listed ? "listed" : "unlisted"),
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
    Promise.resolve(data as PromiseLike<unknown>).then(add, (error: unknown) =>
      failed(error, "INTERNAL_ERROR", "internal error"),
    )
  }

  leave(topic: string, key: string): void {
    this.session.runtime.presence.leave(topic, key, this.session.id)
  }

  /** Starts this session's PRESENCE_EVENT frames for a key (once, however often it asks). */
  watch(topic: string, key: string): void {
    const ref = `${topic}\u0000${key}`
    if (this.watching.has(ref)) return
    const stop = this.session.runtime.presence.watch(topic, key, (_change, frameBody) =>
      this.session.send(FrameType.PRESENCE_EVENT, frameBody),
    )
    this.watching.set(ref, stop)
  }

  /** Stops the events of a key (the session unsubscribed from it). */
  unwatch(topic: string, key: string): void {
    const ref = `${topic}\u0000${key}`
    this.watching.get(ref)?.()
    this.watching.delete(ref)
  }

  /** Answers request `id` with the members of a key. */
  list(id: number, topic: string, key: string): void {
    const { session } = this
    session.runtime.presence.list(topic, key).then(
      (entries) => session.send(FrameType.RESULT, body.result(id, presenceListJson(entries))),
      (error: unknown) => {
        session.runtime.onError(error, { sessionId: session.id, channel: topic })
        session.fail(id, "INTERNAL_ERROR", `${topic}: internal error`)
      },
    )
  }

  /** The session ended: no more events. */
  stopAll(): void {
    for (const stop of this.watching.values()) stop()
    this.watching.clear()
  }
}
