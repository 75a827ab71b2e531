import { describe, expect, it } from "vitest"
import { defaultLimits } from "./limits.ts"
import { ConnectionRate, frameSize, TokenBucket } from "./rateLimit.ts"

describe("TokenBucket", () => {
  it("gives its burst at once, then its rate, and pays a debt back before anything else", () => {
    const bucket = new TokenBucket(10, 3, 0)
    expect([bucket.take(1, 0), bucket.take(1, 0), bucket.take(1, 0)]).toEqual([2, 1, 0])
    expect(bucket.take(1, 0)).toBe(-1)
    expect(bucket.take(1, 0)).toBe(-2)
    // 100 ms is one token: still in debt.
    expect(bucket.level(100)).toBeCloseTo(-1)
    expect(bucket.level(1_000)).toBe(3)
    expect(bucket.full(1_000)).toBe(true)
  })

  it("never runs out with an infinite rate or burst", () => {
    const bucket = new TokenBucket(Number.POSITIVE_INFINITY, 1, 0)
    for (let i = 0; i < 10; i++) expect(bucket.take(1, 0)).toBe(Number.POSITIVE_INFINITY)
    expect(new TokenBucket(1, Number.POSITIVE_INFINITY, 0).take(1e9, 0)).toBe(Number.POSITIVE_INFINITY)
  })
})

describe("ConnectionRate", () => {
  it("says over past either bucket, and cut a whole burst later", () => {
    const rate = new ConnectionRate({
      ...defaultLimits,
      connectionFrameBurst: 2,
      connectionFramesPerSecond: 0.001,
      connectionByteBurst: 1000,
      connectionBytesPerSecond: 0.001,
    })
    expect([rate.take(10), rate.take(10)]).toEqual(["ok", "ok"])
    expect([rate.take(10), rate.take(10), rate.take(10)]).toEqual(["over", "over", "cut"])
    const bytes = new ConnectionRate({ ...defaultLimits, connectionByteBurst: 100, connectionBytesPerSecond: 0.001 })
    expect([bytes.take(100), bytes.take(50), bytes.take(60)]).toEqual(["ok", "over", "cut"])
  })

  it("counts characters of text and bytes of binary frames", () => {
    expect(frameSize("[1,2,3]")).toBe(7)
    expect(frameSize(Buffer.from("héllo"))).toBe(6)
    expect(frameSize([Buffer.alloc(3), Buffer.alloc(4)])).toBe(7)
    expect(frameSize(new ArrayBuffer(5))).toBe(5)
    expect(frameSize(42)).toBe(0)
  })
})
