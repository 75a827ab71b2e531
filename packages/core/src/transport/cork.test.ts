import { describe, expect, it } from "vitest"
import { corkPerTick } from "./cork.ts"

describe("corkPerTick", () => {
  it("corks once per tick, uncorks when the deferred flush runs, then runs afterFlush", async () => {
    const calls: string[] = []
    const socket = { cork: () => calls.push("cork"), uncork: () => calls.push("uncork") }
    const cork = corkPerTick(
      () => socket,
      queueMicrotask,
      () => calls.push("after"),
    )
    cork()
    cork()
    cork()
    expect(calls).toEqual(["cork"])
    await Promise.resolve()
    expect(calls).toEqual(["cork", "uncork", "after"])
    cork()
    expect(calls).toEqual(["cork", "uncork", "after", "cork"])
  })

  it("does nothing where there is no socket to cork", async () => {
    let deferred = 0
    const cork = corkPerTick(
      () => undefined,
      () => deferred++,
    )
    cork()
    cork()
    expect(deferred).toBe(0)
  })
})
