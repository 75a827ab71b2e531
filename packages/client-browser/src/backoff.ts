/** Reconnection pacing: exponential backoff with full jitter, capped. */
export interface BackoffOptions {
  /** Upper bound of the first delay (ms). Default 250. */
  readonly initialDelayMs?: number
  /** Cap of every delay (ms). Default 10 000. */
  readonly maxDelayMs?: number
}

/** Delay before attempt `attempt` (0-based): uniform in [0, min(max, initial·2^attempt)]. */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? 250
  const max = options.maxDelayMs ?? 10_000
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * ceiling)
}
