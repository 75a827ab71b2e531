import { describe, expect, it } from "vitest"
import { backoffDelay } from "./backoff.ts"

describe("backoffDelay", () => {
  it("grows exponentially with full jitter and respects the cap", () => {
    const top = (attempt: number) => backoffDelay(attempt, { initialDelayMs: 100, maxDelayMs: 1000 }, () => 0.999999)
    expect([0, 1, 2, 3, 4, 10, 100].map(top)).toEqual([99, 199, 399, 799, 999, 999, 999])
    expect(backoffDelay(5, {}, () => 0)).toBe(0)
  })
})
