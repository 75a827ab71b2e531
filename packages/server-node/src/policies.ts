import { setMaxListeners } from "node:events"
import * as Effect from "effect/Effect"
import { isAsync, runHookEffect } from "./handlers.ts"
import type { HandlerServices } from "./services.ts"

/** What a policy's Effect runs with: the server's services, and what interrupts it (its session ending). */
export interface PolicyEffects {
  readonly services: HandlerServices
  /** Asked only when the policy returns an Effect. */
  signal(): AbortSignal
}

/** Policies' Effects that `abandon()` interrupts: those running, and those waiting for the layer (never run). */
export class AbandonableEffects implements PolicyEffects {
  private controller: AbortController | undefined

  constructor(readonly services: HandlerServices) {}

  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      // Each Effect in flight listens to it until it ends: a burst of SUBSCRIBEs is no leak.
      setMaxListeners(0, this.controller.signal)
    }
    return this.controller.signal
  }

  abandon(): void {
    this.controller?.abort()
    this.controller = undefined
  }
}

/**
 * Runs a policy (a topic policy, `peers.authorize`) and hands `then` its verdict: `true`, `false`, or the
 * Error it threw (a refusal the caller reports). Synchronous policies (and an absent one, which gives
 * `otherwise`) decide at once, so that a frame after a SUBSCRIBE is handled with the subscription already
 * in place. An Effect runs with `effects`: its success is the verdict, its failure (or interruption) a
 * `false`, its defect an Error.
 */
export function decide(
  policy: (() => unknown) | undefined,
  otherwise: boolean,
  then: (verdict: boolean | Error) => void,
  effects?: PolicyEffects,
): void {
  if (!policy) return then(otherwise)
  let verdict: unknown
  try {
    verdict = policy()
  } catch (thrown) {
    return then(asError(thrown))
  }
  if (!isAsync(verdict)) return then(verdict === true)
  if (effects && Effect.isEffect(verdict)) {
    void runHookEffect(verdict, effects.services, effects.signal()).then((outcome) => {
      if (outcome._tag === "defect") return then(asError(outcome.cause))
      then(outcome._tag === "success" && outcome.value === true)
    })
    return
  }
  Promise.resolve(verdict as PromiseLike<unknown>).then(
    (v) => then(v === true),
    (thrown) => then(asError(thrown)),
  )
}

function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown))
}
