import type { ServerLimits } from "./limits.ts"

/**
 * A token bucket: it holds up to `burst` tokens and gains `rate` a second; `take` spends them, and may
 * spend past zero (a debt, paid back by the refill before anything else). An infinite rate or burst
 * never runs out.
 *
 * @example
 * const bucket = new TokenBucket(50, 200) // 50 a second, 200 at once
 * if (bucket.take(1) < 0) refuse()
 */
export class TokenBucket {
  private tokens: number
  private at: number
  private readonly unlimited: boolean

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now = performance.now(),
  ) {
    this.unlimited = rate === Number.POSITIVE_INFINITY || burst === Number.POSITIVE_INFINITY
    this.tokens = burst
    this.at = now
  }

  /** The tokens there are at `now`. */
  level(now = performance.now()): number {
    if (this.unlimited) return Number.POSITIVE_INFINITY
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000)
      this.at = now
    }
    return this.tokens
  }

  /** Spends `n` tokens and returns what is left: below zero, the bucket is that far in debt. */
  take(n: number, now = performance.now()): number {
    const level = this.level(now)
    if (this.unlimited) return level
    this.tokens = level - n
    return this.tokens
  }

  /** Whether it is full at `now`: such a bucket is the same as a new one, and may be forgotten. */
  full(now = performance.now()): boolean {
    return this.level(now) >= this.burst
  }
}

/** What `ConnectionRate.take` says of one frame. */
export type RateVerdict = "ok" | "over" | "cut"

/**
 * The per-connection rate limit on client frames and their size (docs/limits.md#connections-and-messages):
 * two token buckets, kept flat in one small object since every connection has one. A frame past either is
 * `over` (a request is refused with `RATE_LIMITED`); a connection that goes on sending until it owes a
 * whole burst more is `cut`.
 */
export class ConnectionRate {
  private frames: number
  private chars: number
  private at = performance.now()

  constructor(private readonly limits: ServerLimits) {
    this.frames = limits.connectionFrameBurst
    this.chars = limits.connectionByteBurst
  }

  /** Counts one frame of `size` (characters of its text, or bytes of a binary frame). */
  take(size: number): RateVerdict {
    const { connectionFramesPerSecond, connectionFrameBurst, connectionBytesPerSecond, connectionByteBurst } =
      this.limits
    const now = performance.now()
    const elapsed = now - this.at
    this.at = now
    this.frames = refill(this.frames, elapsed, connectionFramesPerSecond, connectionFrameBurst) - 1
    this.chars = refill(this.chars, elapsed, connectionBytesPerSecond, connectionByteBurst) - size
    if (this.frames >= 0 && this.chars >= 0) return "ok"
    return this.frames < -connectionFrameBurst || this.chars < -connectionByteBurst ? "cut" : "over"
  }
}

/** A bucket's level after `elapsed` ms at `rate` a second, up to `burst`; infinite when either is. */
function refill(level: number, elapsed: number, rate: number, burst: number): number {
  if (rate === Number.POSITIVE_INFINITY || burst === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY
  return elapsed > 0 ? Math.min(burst, level + (elapsed * rate) / 1000) : level
}

/** The size a frame counts for: the characters of its text, or the bytes of a binary frame. */
export function frameSize(data: unknown): number {
  if (typeof data === "string") return data.length
  if (data instanceof Uint8Array) return data.byteLength
  if (Array.isArray(data)) return data.reduce((n: number, part) => n + frameSize(part), 0)
  if (data instanceof ArrayBuffer) return data.byteLength
  return 0
}
