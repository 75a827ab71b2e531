import {
  type ErrorCode,
  type PayloadCodec,
  type SwitchyardError,
  stringifyPayload,
  switchyardError,
  type TransportId,
} from "@switchyard/core"
import * as Effect from "effect/Effect"
import { type HandlerContext, HandlerFailure } from "./handlers.ts"

/** The context handlers receive; the AbortController is made only when a handler reads `signal`. */
export class CallContext implements HandlerContext<unknown, unknown> {
  private controller: AbortController | undefined
  private abortedWith: SwitchyardError | undefined

  constructor(
    readonly sessionId: string,
    readonly transport: TransportId,
    readonly auth: unknown,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith)
    }
    return this.controller.signal
  }

  get aborted(): boolean {
    return this.abortedWith !== undefined
  }

  abort(code: ErrorCode): void {
    if (this.abortedWith !== undefined) return
    this.abortedWith = switchyardError(code, code === "CANCELLED" ? "the caller cancelled" : `the call ended (${code})`)
    this.controller?.abort(this.abortedWith)
  }

  fail(error: unknown): never {
    throw new HandlerFailure(error)
  }
}

/** Whether a handler's result must be awaited; a `then` getter that throws counts as not. */
export function isAsync(value: unknown): boolean {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return false
  try {
    return typeof (value as PromiseLike<unknown>).then === "function" || Effect.isEffect(value)
  } catch {
    return false
  }
}

export function encode(codec: PayloadCodec, value: unknown): string | undefined {
  const encoded = codec.encode(value)
  return encoded.ok ? stringifyPayload(encoded.value) : undefined
}

/**
 * Runs a topic policy and hands `then` its verdict: `true`, `false`, or the Error it threw (a refusal).
 * Synchronous policies (and an absent one, which gives `otherwise`) decide at once, so that a frame
 * after a SUBSCRIBE is handled with the subscription already in place.
 */
export function decide(
  policy: (() => unknown) | undefined,
  otherwise: boolean,
  then: (verdict: boolean | Error) => void,
): void {
  if (!policy) return then(otherwise)
  const asError = (thrown: unknown) => (thrown instanceof Error ? thrown : new Error(String(thrown)))
  let verdict: unknown
  try {
    verdict = policy()
  } catch (thrown) {
    return then(asError(thrown))
  }
  if (!isAsync(verdict)) return then(verdict === true)
  Promise.resolve(verdict as PromiseLike<unknown>).then(
    (v) => then(v === true),
    (thrown) => then(asError(thrown)),
  )
}

export function failureMessage(channel: string, error: unknown): string {
  try {
    if (error !== null && typeof error === "object") {
      const e = error as { message?: unknown; _tag?: unknown }
      if (typeof e.message === "string") return e.message
      if (typeof e._tag === "string") return `${channel} failed: ${e._tag}`
    }
  } catch {
    // A getter that throws: the generic message will do.
  }
  return `${channel} failed`
}
