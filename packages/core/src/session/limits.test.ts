import { describe, expect, it } from "vitest"
import { frameCap, httpBodyCap, PRE_WELCOME_MAX_MESSAGE_BYTES, preWelcomeLimits } from "./limits.ts"

describe("limits before WELCOME and the caps derived from maxMessageBytes", () => {
  it("assumes the server defaults before WELCOME", () => {
    expect(PRE_WELCOME_MAX_MESSAGE_BYTES).toBe(1024 * 1024)
    expect(preWelcomeLimits.maxMessageBytes).toBe(PRE_WELCOME_MAX_MESSAGE_BYTES)
  })

  it("reads frames up to twice the limit, never below 1 MiB + 64 KiB", () => {
    expect(frameCap(1024 * 1024)).toBe(2 * 1024 * 1024)
    expect(frameCap(1000)).toBe(1024 * 1024 + 64 * 1024)
    expect(frameCap(4 * 1024 * 1024)).toBe(8 * 1024 * 1024)
  })

  it("reads HTTP bodies up to the larger of the limit and 1 MiB, plus 64 KiB", () => {
    expect(httpBodyCap(1024 * 1024)).toBe(1_114_112)
    expect(httpBodyCap(1000)).toBe(1_114_112)
    expect(httpBodyCap(4 * 1024 * 1024)).toBe(4 * 1024 * 1024 + 64 * 1024)
  })
})
