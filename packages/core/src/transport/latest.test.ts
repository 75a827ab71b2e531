import { describe, expect, it } from "vitest"
import { LatestFrames, latestPerTick } from "./latest.ts"

describe("LatestFrames", () => {
  it("keeps one frame per slot, the newest, and writes the longest-waiting slot first", () => {
    const frames = new LatestFrames()
    const a = {}
    const b = {}
    frames.put(a, "a1")
    frames.put(b, "b1")
    frames.put(a, "a2")
    expect(frames.size).toBe(2)
    const out: string[] = []
    frames.flush((f) => out.push(f))
    expect(out).toEqual(["a2", "b1"])
    expect(frames.size).toBe(0)
  })

  it("stops at congestion and keeps the rest, still replaceable", () => {
    const frames = new LatestFrames()
    const slots = [{}, {}, {}]
    for (const [i, slot] of slots.entries()) frames.put(slot, `f${i}`)
    const out: string[] = []
    frames.flush(
      (f) => out.push(f),
      () => out.length >= 1,
    )
    expect(out).toEqual(["f0"])
    frames.put(slots[2] as object, "f2'")
    frames.flush((f) => out.push(f))
    expect(out).toEqual(["f0", "f1", "f2'"])
  })
})

describe("latestPerTick", () => {
  it("writes once per tick, the latest per slot, after the tick's own work", async () => {
    const written: string[] = []
    let congested = false
    const sender = latestPerTick({
      write: (f) => written.push(f),
      congested: () => congested,
      defer: queueMicrotask,
    })
    const slot = {}
    for (let i = 1; i <= 100; i++) sender.send(slot, String(i))
    expect(written).toEqual([])
    await Promise.resolve()
    expect(written).toEqual(["100"])
    // Congested: nothing leaves, the latest keeps replacing, and a drain (flush) sends it.
    congested = true
    sender.send(slot, "101")
    sender.send(slot, "102")
    await Promise.resolve()
    expect(written).toEqual(["100"])
    congested = false
    sender.flush()
    expect(written).toEqual(["100", "102"])
    // Cleared (the link closed): what waited is gone.
    congested = true
    sender.send(slot, "103")
    await Promise.resolve()
    sender.clear()
    congested = false
    sender.flush()
    expect(written).toEqual(["100", "102"])
  })
})
