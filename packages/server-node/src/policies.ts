import type { CompiledContract } from "@switchyard/core"
import { isAsync } from "./handlers.ts"
import type { AnyPolicy } from "./runtime.ts"

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

/**
 * The topic policies by topic, checked: every topic that declares presence has its `presence` hook
 * (the types require it; this catches an app written without them).
 */
export function presenceHooksOf(compiled: CompiledContract, policies: object | undefined): Map<string, AnyPolicy> {
  const out = new Map(Object.entries((policies ?? {}) as Record<string, AnyPolicy>))
  for (const channel of compiled.topics.values()) {
    if (channel.presence && typeof out.get(channel.name)?.presence !== "function") {
      throw new TypeError(`switchyard: missing presence hook topics.${channel.name}.presence`)
    }
  }
  return out
}
