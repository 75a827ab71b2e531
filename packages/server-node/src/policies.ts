import { isAsync } from "./handlers.ts"

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
