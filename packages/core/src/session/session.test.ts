import { describe, expect, it } from "vitest"
import { FrameType } from "../protocol/frames.ts"
import type { Link } from "../transport/types.ts"
import { Session } from "./session.ts"

const recorder = () => {
  const sent: string[] = []
  const link: Link = { send: (f) => sent.push(f), close: () => {} }
  return { sent, link }
}
const options = { maxReplayFrames: 4, maxReplayBytes: 1000, ackEvery: 2, ackDelayMs: 5 }

describe("Session", () => {
  it("numbers data frames from 1 and sends them on the link", () => {
    const s = new Session(options)
    const { sent, link } = recorder()
    s.attach(link, 0)
    s.send(FrameType.RESULT, "1,3")
    s.send(FrameType.RESULT, "2,4")
    expect(sent).toEqual(["[2,1,1,3]", "[2,2,2,4]"])
    expect(s.pending).toBe(2)
    expect(s.written).toBe(2)
  })

  it("queues while detached and replays unacknowledged frames in order on attach", () => {
    const s = new Session(options)
    s.send(FrameType.ITEM, "1,0")
    s.send(FrameType.ITEM, "1,1")
    s.send(FrameType.ITEM, "1,2")
    expect(s.written).toBe(0)
    const { sent, link } = recorder()
    expect(s.attach(link, 1)).toBe(true)
    expect(sent).toEqual(["[5,2,1,1]", "[5,3,1,2]"])
    expect(s.pending).toBe(2)
  })

  it("refuses acknowledgements of frames never sent", () => {
    const s = new Session(options)
    s.send(FrameType.ITEM, "1,0")
    expect(s.acknowledge(2)).toBe(false)
    expect(s.attach(recorder().link, 5)).toBe(false)
    expect(s.acknowledge(1)).toBe(true)
    expect(s.pending).toBe(0)
  })

  it("refuses to grow past its bounds, by frames and by bytes", () => {
    const s = new Session(options)
    for (let i = 0; i < 4; i++) expect(s.send(FrameType.ITEM, `1,${i}`)).toBe(i + 1)
    expect(s.send(FrameType.ITEM, "1,4")).toBe(0)
    expect(s.next).toBe(5)
    s.acknowledge(4)
    const big = new Session({ ...options, maxReplayBytes: 20 })
    expect(big.send(FrameType.ITEM, "1,12345")).toBe(1)
    expect(big.send(FrameType.ITEM, "1,12345")).toBe(0)
  })

  it("delivers in order, drops duplicates, reports gaps", () => {
    const s = new Session(options)
    expect(s.arrive(1)).toBe("deliver")
    expect(s.arrive(1)).toBe("duplicate")
    expect(s.arrive(3)).toBe("gap")
    expect(s.arrive(2)).toBe("deliver")
    expect(s.received).toBe(2)
  })

  it("acknowledges after ackEvery frames at once, and otherwise after ackDelayMs", async () => {
    const s = new Session(options)
    const { sent, link } = recorder()
    s.attach(link, 0)
    s.arrive(1)
    expect(sent).toEqual([])
    s.arrive(2)
    expect(sent).toEqual(["[22,2]"])
    s.arrive(3)
    await new Promise((r) => setTimeout(r, 30))
    expect(sent).toEqual(["[22,2]", "[22,3]"])
  })

  it("trims a long history without losing order", () => {
    const s = new Session({ ...options, maxReplayFrames: 100_000, maxReplayBytes: 10_000_000 })
    const { sent, link } = recorder()
    for (let i = 1; i <= 5000; i++) s.send(FrameType.ITEM, `1,${i}`)
    s.acknowledge(4990)
    s.attach(link, 4990)
    expect(sent).toEqual(Array.from({ length: 10 }, (_, i) => `[5,${4991 + i},1,${4991 + i}]`))
  })

  it("forgets everything on reset", () => {
    const s = new Session(options)
    s.send(FrameType.ITEM, "1,0")
    s.arrive(1)
    s.reset()
    expect([s.next, s.received, s.pending, s.written]).toEqual([1, 0, 0, 0])
  })

  it("carries on elsewhere from a snapshot: numbering, what was received, and the replay", () => {
    const s = new Session(options)
    s.send(FrameType.ITEM, "1,0")
    s.send(FrameType.ITEM, "1,1")
    s.send(FrameType.ITEM, "1,2")
    s.acknowledge(1)
    s.arrive(1)
    s.arrive(2)
    const snapshot = JSON.parse(JSON.stringify(s.snapshot()))
    expect(snapshot).toEqual({ next: 4, received: 2, frames: ["[5,2,1,1]", "[5,3,1,2]"] })
    const moved = new Session(options)
    moved.restore(snapshot)
    expect(moved.received).toBe(2)
    expect(moved.arrive(2)).toBe("duplicate")
    const { sent, link } = recorder()
    expect(moved.attach(link, 2)).toBe(true)
    expect(sent).toEqual(["[5,3,1,2]"])
    expect(moved.send(FrameType.ITEM, "1,3")).toBe(4)
    expect(moved.acknowledge(4)).toBe(true)
    expect(moved.pending).toBe(0)
  })
})
