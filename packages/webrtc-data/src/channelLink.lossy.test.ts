import { describe, expect, it } from "vitest"
import { channelLink, type DataChannelLike, UNRELIABLE_BUFFERED_BYTES } from "./channelLink.ts"

/** A data channel that records what is sent on it, with the readyState and bufferedAmount a test sets. */
class FakeChannel implements DataChannelLike {
  readyState = "open"
  bufferedAmount = 0
  bufferedAmountLowThreshold = 0
  onopen: ((event: never) => void) | null = null
  onmessage: ((event: never) => void) | null = null
  onclose: ((event: never) => void) | null = null
  onerror: ((event: never) => void) | null = null
  onbufferedamountlow: ((event: never) => void) | null = null
  readonly sent: string[] = []
  send(data: string): void {
    this.sent.push(data)
  }
  close(): void {
    this.readyState = "closed"
  }
  /** A message from the peer. */
  receive(data: unknown): void {
    ;(this.onmessage as ((event: { data: unknown }) => void) | null)?.({ data })
  }
  drained(): void {
    this.bufferedAmount = 0
    ;(this.onbufferedamountlow as (() => void) | null)?.()
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0))

function setup(read: boolean, chunkChars?: number) {
  const session = new FakeChannel()
  const lossy = new FakeChannel()
  const frames: string[] = []
  const closes: Array<[number, string]> = []
  const link = channelLink(
    session,
    { open: () => {}, frame: (data) => frames.push(data), close: (code, reason) => closes.push([code, reason]) },
    () => {},
    chunkChars,
    { channel: lossy, read },
  )
  return { session, lossy, frames, closes, link }
}

describe("channelLink's unreliable channel", () => {
  it("sends the latest frame per slot of a tick on the lossy channel, and reliable frames on the session channel", async () => {
    const { session, lossy, link } = setup(false)
    const a = {}
    const b = {}
    link.send("[2,1,1,null]")
    for (let n = 1; n <= 10; n++) {
      link.sendLatest?.(a, `[28,${n},1,${n}]`)
      link.sendLatest?.(b, `[28,${n},2,${n}]`)
    }
    expect(lossy.sent).toEqual([])
    await tick()
    expect(lossy.sent).toEqual(["[28,10,1,10]", "[28,10,2,10]"])
    expect(session.sent).toEqual(["[2,1,1,null]"])
  })

  it("falls back to the session channel while the lossy one is not open, and for frames too long for one message", async () => {
    const { session, lossy, link } = setup(false, 20)
    lossy.readyState = "connecting"
    link.sendLatest?.({}, "[28,1,1,1]")
    await tick()
    expect(session.sent).toEqual(["[28,1,1,1]"])
    lossy.readyState = "open"
    const long = `[28,2,1,"${"x".repeat(30)}"]`
    link.sendLatest?.({}, long)
    await tick()
    expect(lossy.sent).toEqual([])
    // Split like any long frame on the session channel (each piece after its mark), never on the lossy one.
    const pieces = session.sent.slice(1)
    expect(pieces.length).toBeGreaterThan(1)
    expect(pieces.map((piece) => piece.slice(1)).join("")).toBe(long)
  })

  it("holds the latest per slot while the channel is backed up, and sends it when it drains", async () => {
    const { lossy, link } = setup(false)
    expect(lossy.bufferedAmountLowThreshold).toBe(UNRELIABLE_BUFFERED_BYTES)
    const slot = {}
    lossy.bufferedAmount = UNRELIABLE_BUFFERED_BYTES + 1
    link.sendLatest?.(slot, "[28,1,1,1]")
    link.sendLatest?.(slot, "[28,2,1,2]")
    await tick()
    link.sendLatest?.(slot, "[28,3,1,3]")
    await tick()
    expect(lossy.sent).toEqual([])
    lossy.drained()
    expect(lossy.sent).toEqual(["[28,3,1,3]"])
  })

  it("drops what waits when the link closes", async () => {
    const { lossy, link, closes } = setup(false)
    lossy.bufferedAmount = UNRELIABLE_BUFFERED_BYTES + 1
    link.sendLatest?.({}, "[28,1,1,1]")
    link.close(1000, "done")
    await tick()
    lossy.drained()
    expect(lossy.sent).toEqual([])
    expect(closes).toEqual([[1000, "done"]])
  })

  it("reads only whole UNRELIABLE frames from the lossy channel, and only when told to", () => {
    const client = setup(true)
    client.lossy.receive("[28,1,1,1]")
    client.lossy.receive("[2,1,1,null]")
    client.lossy.receive("\u0002[28,2,1,2]")
    client.lossy.receive(new Uint8Array([91]))
    expect(client.frames).toEqual(["[28,1,1,1]"])
    // Its failure is not the link's.
    ;(client.lossy.onclose as (() => void) | null)?.()
    expect(client.closes).toEqual([])
    const server = setup(false)
    server.lossy.receive("[28,1,1,1]")
    expect(server.frames).toEqual([])
  })
})
