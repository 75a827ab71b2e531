import type { Link } from "@switchyard/core"
import { describe, expect, it, vi } from "vitest"
import {
  type ChannelEvents,
  CLOSE_GRACE_MS,
  CLOSING_MESSAGE,
  channelLink,
  type DataChannelLike,
  DEFAULT_CHUNK_CHARS,
  LAST_PIECE,
  MAX_CLOSE_WAIT_MS,
  MAX_FRAME_CHARS,
  MORE_PIECES,
} from "./channelLink.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * One end of an in-memory data channel, reliable and ordered like the session's. A string travels as
 * UTF-8 and is decoded on the other end, as on a real channel. `close()` moves to "closing" at once and
 * reports `close` on both ends a macrotask later, as browsers do.
 */
class FakeChannel implements DataChannelLike {
  readyState = "connecting"
  bufferedAmount = 0
  onopen: ((event: never) => void) | null = null
  onmessage: ((event: never) => void) | null = null
  onclose: ((event: never) => void) | null = null
  onerror: ((event: never) => void) | null = null
  bufferedAmountLowThreshold = 0
  onbufferedamountlow: ((event: never) => void) | null = null
  /** Every message this end sent, as given to `send`. */
  readonly sent: string[] = []
  closeCalls = 0
  /** Whether `send` throws, as a channel whose transport broke does. */
  failSends = false
  /** Whether a message reaches the other end a macrotask later rather than at once. */
  inFlight = false
  other: FakeChannel | undefined
  /** Resolves once this end has reported `close`. */
  readonly closedEvent: Promise<void>
  private reportClosed = () => {}

  constructor() {
    this.closedEvent = new Promise((resolve) => {
      this.reportClosed = resolve
    })
  }

  static pair(): [FakeChannel, FakeChannel] {
    const a = new FakeChannel()
    const b = new FakeChannel()
    a.other = b
    b.other = a
    return [a, b]
  }

  send(data: string): void {
    if (this.failSends) throw new Error("the channel broke")
    if (this.readyState !== "open") throw new Error("InvalidStateError: readyState is not 'open'")
    this.sent.push(data)
    const text = decoder.decode(encoder.encode(data))
    if (this.inFlight) setTimeout(() => this.other?.deliver(text), 0)
    else this.other?.deliver(text)
  }

  close(): void {
    this.closeCalls++
    if (this.readyState === "closing" || this.readyState === "closed") return
    this.readyState = "closing"
    setTimeout(() => {
      this.closed()
      this.other?.closed()
    }, 0)
  }

  /** A message arrives from the other end (any data, for hostile cases). */
  deliver(data: unknown): void {
    ;(this.onmessage as ((event: { data: unknown }) => void) | null)?.({ data })
  }

  open(): void {
    this.readyState = "open"
    ;(this.onopen as (() => void) | null)?.()
  }

  closed(): void {
    if (this.readyState === "closed") return
    this.readyState = "closed"
    ;(this.onclose as (() => void) | null)?.()
    this.reportClosed()
  }
}

/** A channel link and what it reported. */
function linked(channel: FakeChannel, chunkChars?: number, maxFrameChars?: number) {
  const frames: string[] = []
  const closes: Array<[number, string]> = []
  let opens = 0
  let onCloseCalls = 0
  const events: ChannelEvents = {
    open: () => void opens++,
    frame: (data) => void frames.push(data),
    close: (code, reason) => void closes.push([code, reason]),
  }
  const link = channelLink(channel, events, () => void onCloseCalls++, chunkChars, undefined, maxFrameChars)
  return {
    link,
    frames,
    closes,
    get opens() {
      return opens
    },
    get onCloseCalls() {
      return onCloseCalls
    },
  }
}

/** Lets the tick end: a link sends what it was given at the end of the tick. */
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

/** Two links over an open in-memory channel: `a` sends with `chunkChars`, `b` receives. */
function openPair(chunkChars?: number) {
  const [left, right] = FakeChannel.pair()
  const a = linked(left, chunkChars)
  const b = linked(right, chunkChars)
  left.open()
  right.open()
  return { left, right, a, b }
}

/** A small deterministic generator, so that a failing order test can be run again as it was. */
function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

/** Frame text of `length` characters that cycles through 1-, 2- and 3-byte UTF-8 characters. */
function mixedText(length: number, tag: string): string {
  const alphabet = `${tag}aé€中ß字`
  let text = "["
  for (let i = 1; i < length - 1; i++) text += alphabet[i % alphabet.length]
  return `${text}]`
}

describe("channelLink sending and receiving", () => {
  it("reports open once the channel opens", () => {
    const [channel] = FakeChannel.pair()
    const side = linked(channel)
    expect(side.opens).toBe(0)
    channel.open()
    expect(side.opens).toBe(1)
  })

  it("sends a frame of up to chunkChars characters as one unmarked message", async () => {
    const { left, a, b } = openPair(16)
    const short = "[1]"
    const exact = mixedText(16, "x")
    expect(exact.length).toBe(16)
    a.link.send(short)
    await tick()
    a.link.send(exact)
    await tick()
    expect(left.sent).toEqual([short, exact])
    expect(b.frames).toEqual([short, exact])
  })

  it("sends the frames of one tick as one message, joined by LF, and delivers them one by one in order", async () => {
    const { left, a, b } = openPair(64)
    a.link.send("[1]")
    a.link.send('[2,"x"]')
    a.link.send("[3]")
    // Nothing goes before the end of the tick.
    expect(left.sent).toEqual([])
    await tick()
    expect(left.sent).toEqual(['[1]\n[2,"x"]\n[3]'])
    expect(b.frames).toEqual(["[1]", '[2,"x"]', "[3]"])
  })

  it("never makes a message longer than chunkChars, and keeps the order across messages and pieces", async () => {
    const chunk = 10
    const { left, a, b } = openPair(chunk)
    const frames = ["[1111]", "[2222]", "[3]", `[${"4".repeat(25)}]`, "[5]"]
    for (const frame of frames) a.link.send(frame)
    await tick()
    expect(left.sent.every((message) => message.length <= chunk + 1)).toBe(true)
    // "[1111]" and "[2222]" would make 13 characters: two messages, the second with "[3]" (10 characters);
    // then the long frame in pieces, and "[5]" after them.
    expect(left.sent.slice(0, 2)).toEqual(["[1111]", "[2222]\n[3]"])
    expect(left.sent.at(-1)).toBe("[5]")
    expect(b.frames).toEqual(frames)
  })

  it("sends what the tick wrote before closing", async () => {
    const { left, a, b } = openPair()
    a.link.send('[26,"CLIENT_CLOSED","bye"]')
    a.link.close(1000, "done")
    expect(left.sent).toEqual(['[26,"CLIENT_CLOSED","bye"]', `${CLOSING_MESSAGE}1000 done`])
    await tick()
    expect(b.frames).toEqual(['[26,"CLIENT_CLOSED","bye"]'])
  })

  it("splits a frame of 3 × chunkChars + 1 characters into marked pieces that arrive whole and identical", () => {
    const chunk = 10
    const { left, a, b } = openPair(chunk)
    const frame = mixedText(3 * chunk + 1, "é")
    a.link.send(frame)
    expect(left.sent).toEqual([
      MORE_PIECES + frame.slice(0, chunk),
      MORE_PIECES + frame.slice(chunk, 2 * chunk),
      MORE_PIECES + frame.slice(2 * chunk, 3 * chunk),
      LAST_PIECE + frame.slice(3 * chunk),
    ])
    expect(b.frames).toEqual([frame])
    expect(b.closes).toEqual([])
  })

  it("keeps every piece of the default chunk size within 64 KiB of UTF-8, even for 3-byte characters", () => {
    const { left, a, b } = openPair()
    const frame = `[${"€".repeat(3 * DEFAULT_CHUNK_CHARS - 1)}]`
    expect(frame.length).toBe(3 * DEFAULT_CHUNK_CHARS + 1)
    a.link.send(frame)
    expect(left.sent.length).toBe(4)
    for (const piece of left.sent) expect(encoder.encode(piece).length).toBeLessThanOrEqual(64 * 1024)
    expect(b.frames).toEqual([frame])
  })

  it("keeps a character outside the BMP that falls on a piece boundary", () => {
    const chunk = 10
    const { a, b } = openPair(chunk)
    // "😀" is two UTF-16 code units; here its first one is the last of the first piece.
    const frame = `[${"a".repeat(chunk - 2)}😀${"b".repeat(chunk)}]`
    a.link.send(frame)
    expect(b.frames).toEqual([frame])
  })

  it("keeps the order of many small and split frames interleaved", () => {
    const chunk = 8
    const { a, b } = openPair(chunk)
    const random = seeded(7)
    const sent: string[] = []
    for (let i = 0; i < 300; i++) {
      // Lengths from 2 to 5 × chunk + 1, so that whole frames, exact multiples and remainders all occur.
      const frame = mixedText(2 + Math.floor(random() * (5 * chunk)), String(i % 10))
      sent.push(frame)
      a.link.send(frame)
    }
    expect(sent.some((f) => f.length <= chunk)).toBe(true)
    expect(sent.some((f) => f.length > 3 * chunk)).toBe(true)
    expect(b.frames).toEqual(sent)
    expect(b.closes).toEqual([])
  })

  it("drops a send on a channel that is not open, without throwing", async () => {
    const [left, right] = FakeChannel.pair()
    const a = linked(left, 4)
    const b = linked(right)
    expect(() => a.link.send("[1]")).not.toThrow()
    expect(() => a.link.send("[1,2,3,4,5,6]")).not.toThrow()
    expect(left.sent).toEqual([])
    left.open()
    right.open()
    a.link.send("[2]")
    await tick()
    // Dropped, not queued: only the frame sent once the channel was open arrives.
    expect(b.frames).toEqual(["[2]"])
    expect(a.closes).toEqual([])
  })

  it("ends the link with 1006 when a send throws, and sends nothing more", () => {
    const { left, a } = openPair(4)
    left.failSends = true
    expect(() => a.link.send("[1,2,3,4,5,6]")).not.toThrow()
    expect(a.closes).toEqual([[1006, "send failed"]])
    expect(a.onCloseCalls).toBe(1)
    left.failSends = false
    a.link.send("[3]")
    expect(left.sent).toEqual([])
    expect(a.closes.length).toBe(1)
  })
})

describe("channelLink against a hostile peer", () => {
  it("closes with 1009 and delivers nothing when pieces add up to more than MAX_FRAME_CHARS", () => {
    const { right, b } = openPair()
    const mebi = "x".repeat(1 << 20)
    const pieces = MAX_FRAME_CHARS / mebi.length
    expect(Number.isInteger(pieces)).toBe(true)
    for (let i = 0; i < pieces; i++) right.deliver(MORE_PIECES + mebi)
    // Exactly MAX_FRAME_CHARS so far is allowed; one more character is not.
    expect(b.closes).toEqual([])
    right.deliver(`${LAST_PIECE}]`)
    expect(b.closes).toEqual([[1009, "frame too large"]])
    expect(b.onCloseCalls).toBe(1)
    right.deliver("[1]")
    expect(b.frames).toEqual([])
  })

  it("puts together frames of exactly MAX_FRAME_CHARS characters, one after another", () => {
    const { right, b } = openPair()
    const mebi = "x".repeat(1 << 20)
    const pieces = MAX_FRAME_CHARS / mebi.length
    // The bound is per frame: the second frame starts counting from zero again.
    for (let frame = 0; frame < 2; frame++) {
      for (let i = 0; i < pieces - 1; i++) right.deliver(MORE_PIECES + mebi)
      right.deliver(LAST_PIECE + mebi)
    }
    expect(b.closes).toEqual([])
    expect(b.frames.map((f) => f.length)).toEqual([MAX_FRAME_CHARS, MAX_FRAME_CHARS])
  })

  it("takes a lower bound on a frame in pieces (the server's, from maxMessageBytes)", () => {
    const [left, right] = FakeChannel.pair()
    const side = linked(right, undefined, 100)
    left.open()
    right.open()
    right.deliver(`${MORE_PIECES}[${"a".repeat(60)}`)
    expect(side.closes).toEqual([])
    right.deliver(`${MORE_PIECES}${"b".repeat(60)}`)
    expect(side.closes).toEqual([[1009, "frame too large"]])
    expect(side.frames).toEqual([])
  })

  it("closes with 1002 when a whole frame comes between the pieces of another", () => {
    const { right, b } = openPair()
    right.deliver(`${MORE_PIECES}[1,`)
    right.deliver("[2]")
    expect(b.closes).toEqual([[1002, "a frame interrupted a split frame"]])
    right.deliver(`${LAST_PIECE}2]`)
    expect(b.frames).toEqual([])
  })

  it("closes with 1003 on binary data", () => {
    for (const data of [new Uint8Array([91, 49, 93]), new ArrayBuffer(3), Buffer.from("[1]")]) {
      const { right, b } = openPair()
      right.deliver(data)
      expect(b.closes).toEqual([[1003, "binary data on the session channel"]])
      expect(b.onCloseCalls).toBe(1)
      right.deliver("[1]")
      expect(b.frames).toEqual([])
    }
  })

  it("forgets a split frame cut off by binary data", () => {
    const { right, b } = openPair()
    right.deliver(`${MORE_PIECES}[1,`)
    right.deliver(new Uint8Array([1]))
    right.deliver(`${LAST_PIECE}2]`)
    expect(b.frames).toEqual([])
    expect(b.closes).toEqual([[1003, "binary data on the session channel"]])
  })
})

describe("channelLink closing", () => {
  it("closes by handshake: a closing message after the last frames, and the other side closes the channel", async () => {
    const { left, right, a, b } = openPair()
    a.link.send('[26,"SERVER_CLOSED","bye"]')
    a.link.close(1001, "SERVER_CLOSED")
    // This side leaves the channel open: closing it here could lose what it still holds.
    expect(left.sent).toEqual(['[26,"SERVER_CLOSED","bye"]', `${CLOSING_MESSAGE}1001 SERVER_CLOSED`])
    expect(left.closeCalls).toBe(0)
    // The other side read the frame, then closed the channel and let its peer connection go.
    expect(b.frames).toEqual(['[26,"SERVER_CLOSED","bye"]'])
    expect(right.closeCalls).toBe(1)
    expect(b.closes).toEqual([[1001, "SERVER_CLOSED"]])
    expect(b.onCloseCalls).toBe(1)
    // Reported after the caller is done, like a socket's close event.
    expect(a.closes).toEqual([])
    await Promise.resolve()
    expect(a.closes).toEqual([[1001, "SERVER_CLOSED"]])
    // This side's peer connection goes once the other side's close arrives, not before.
    expect(a.onCloseCalls).toBe(0)
    await left.closedEvent
    expect(a.onCloseCalls).toBe(1)
    expect(a.closes).toHaveLength(1)
  })

  it("reports the requested code and reason once, and sends nothing after the closing message", async () => {
    const { left, right, a, b } = openPair(4)
    a.link.close(4001, "going away for a test")
    a.link.close(4002, "a second close is ignored")
    a.link.send("[1,2,3,4,5,6]")
    a.link.send("[7]")
    await left.closedEvent
    await right.closedEvent
    expect(left.sent).toEqual([`${CLOSING_MESSAGE}4001 going away for a test`])
    expect(a.closes).toEqual([[4001, "going away for a test"]])
    expect(a.onCloseCalls).toBe(1)
    expect(b.frames).toEqual([])
    expect(b.closes).toEqual([[4001, "going away for a test"]])
  })

  it("lets both sides close at once: each reads the other's closing message and closes the channel", async () => {
    const { left, right, a, b } = openPair()
    left.inFlight = true
    right.inFlight = true
    a.link.close(1000, "BYE")
    b.link.close(1001, "SERVER_CLOSED")
    await left.closedEvent
    await right.closedEvent
    // Each reports its own close, and neither waited out the grace period.
    expect(a.closes).toEqual([[1000, "BYE"]])
    expect(b.closes).toEqual([[1001, "SERVER_CLOSED"]])
    expect([a.onCloseCalls, b.onCloseCalls]).toEqual([1, 1])
    expect(left.sent).toEqual([`${CLOSING_MESSAGE}1000 BYE`])
    expect(right.sent).toEqual([`${CLOSING_MESSAGE}1001 SERVER_CLOSED`])
  })

  it("closes the channel itself when it cannot carry a closing message", async () => {
    const [left] = FakeChannel.pair()
    const a = linked(left)
    // Still connecting: nothing can be sent, so the channel is closed at once.
    a.link.close(1001, "PROBE_FAILED")
    expect(left.sent).toEqual([])
    expect(left.closeCalls).toBe(1)
    await left.closedEvent
    expect(a.closes).toEqual([[1001, "PROBE_FAILED"]])
    expect(a.onCloseCalls).toBe(1)
  })

  it("closes the channel itself when sending the closing message throws", async () => {
    const { left, a } = openPair()
    left.failSends = true
    a.link.close(1000, "done")
    expect(left.closeCalls).toBe(1)
    await left.closedEvent
    expect(a.closes).toEqual([[1000, "done"]])
    expect(a.onCloseCalls).toBe(1)
  })

  it("reads the code and reason of a closing message, bounded; a malformed code reads as 1005", () => {
    const cases: Array<[string, [number, string]]> = [
      [`${CLOSING_MESSAGE}4000 ${"x".repeat(500)}`, [4000, "x".repeat(123)]],
      [`${CLOSING_MESSAGE}1000`, [1000, ""]],
      [`${CLOSING_MESSAGE}`, [1005, ""]],
      [`${CLOSING_MESSAGE}abc why`, [1005, "why"]],
      [`${CLOSING_MESSAGE}999 too low`, [1005, "too low"]],
      [`${CLOSING_MESSAGE}1000.5 not whole`, [1005, "not whole"]],
      [`${CLOSING_MESSAGE}5000 too high`, [1005, "too high"]],
    ]
    for (const [message, expected] of cases) {
      const { right, b } = openPair()
      right.deliver(`${MORE_PIECES}[1,`)
      right.deliver(message)
      expect(b.closes).toEqual([expected])
      expect(right.closeCalls).toBe(1)
      // The half-read frame is dropped, and nothing is read after the close.
      right.deliver("[22,0]")
      expect(b.frames).toEqual([])
    }
  })

  it("counts the grace period from when the channel has sent what it holds, up to MAX_CLOSE_WAIT_MS", () => {
    vi.useFakeTimers()
    try {
      const channel = new FakeChannel()
      const side = linked(channel)
      channel.open()
      // A slow path: the channel still holds data when the link closes, so the grace period waits for it.
      channel.bufferedAmount = 500_000
      side.link.close(1001, "SERVER_CLOSED")
      vi.advanceTimersByTime(CLOSE_GRACE_MS + 1000)
      expect(side.onCloseCalls).toBe(0)
      expect(channel.bufferedAmountLowThreshold).toBe(0)
      channel.bufferedAmount = 0
      ;(channel.onbufferedamountlow as (() => void) | null)?.()
      vi.advanceTimersByTime(CLOSE_GRACE_MS - 1)
      expect(side.onCloseCalls).toBe(0)
      vi.advanceTimersByTime(1)
      expect(side.onCloseCalls).toBe(1)

      // A channel that never drains (a peer that stopped reading) is let go after MAX_CLOSE_WAIT_MS.
      const stuck = new FakeChannel()
      const other = linked(stuck)
      stuck.open()
      stuck.bufferedAmount = 500_000
      other.link.close(1001, "SERVER_CLOSED")
      vi.advanceTimersByTime(MAX_CLOSE_WAIT_MS - 1)
      expect(other.onCloseCalls).toBe(0)
      vi.advanceTimersByTime(1)
      expect(other.onCloseCalls).toBe(1)
    } finally {
      vi.useRealTimers()
    }
  })

  it("reports the other side's code when its channel reports the close at once, inside close()", () => {
    const { right, b } = openPair()
    right.close = () => {
      right.closeCalls++
      right.closed()
    }
    right.deliver(`${CLOSING_MESSAGE}4002 HANDSHAKE_REQUIRED`)
    expect(b.closes).toEqual([[4002, "HANDSHAKE_REQUIRED"]])
    expect(b.onCloseCalls).toBe(1)
  })

  it("cuts a long reason to 123 characters, never through a surrogate pair", () => {
    const { left, a } = openPair()
    a.link.close(4000, `${"a".repeat(122)}😀${"b".repeat(10)}`)
    expect(left.sent).toEqual([`${CLOSING_MESSAGE}4000 ${"a".repeat(122)}`])
  })

  it("closes the peer connection after the grace period when the other side never closes the channel", async () => {
    const [channel] = FakeChannel.pair()
    const side = linked(channel)
    channel.open()
    side.link.close(1000, "done")
    expect(channel.sent).toEqual([`${CLOSING_MESSAGE}1000 done`])
    await Promise.resolve()
    expect(side.closes).toEqual([[1000, "done"]])
    expect(side.onCloseCalls).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS - 200))
    expect(side.onCloseCalls).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect(side.onCloseCalls).toBe(1)
  })

  it("stops reading a message's frames once one of them made this side close", () => {
    const [left, right] = FakeChannel.pair()
    const frames: string[] = []
    const link: Link = channelLink(
      right,
      {
        open() {},
        frame(frame) {
          frames.push(frame)
          // The first frame is refused (not a HELLO, say): the link closes.
          link.close(4002, "HANDSHAKE_REQUIRED")
        },
        close() {},
      },
      () => {},
    )
    left.open()
    right.open()
    right.deliver("[22,0]\n[20,1,null,0]")
    expect(frames).toEqual(["[22,0]"])
  })

  it("reads nothing more once this side asked to close", () => {
    const { right, b } = openPair()
    right.deliver("[22,0]")
    expect(b.frames).toEqual(["[22,0]"])
    b.link.close(4002, "HANDSHAKE_REQUIRED")
    right.deliver("[22,0]\n[20,1,null,0]")
    expect(b.frames).toEqual(["[22,0]"])
  })

  it("ends at once when the path under the channel is lost: 1006 with the reason, the peer connection let go, nothing sent", async () => {
    const { left, right, a, b } = openPair()
    a.link.send("[1]")
    a.link.lost("the peer connection failed")
    expect(a.closes).toEqual([[1006, "the peer connection failed"]])
    expect(a.onCloseCalls).toBe(1)
    await tick()
    // No closing message: nothing could carry it. The frame of the tick is dropped with the link.
    expect(left.sent).toEqual([])
    expect(b.frames).toEqual([])
    a.link.lost("again")
    a.link.send("[2]")
    expect(a.closes.length).toBe(1)
    expect(a.onCloseCalls).toBe(1)
    expect(right.sent).toEqual([])
  })

  it("lets the peer connection go at once when the path is lost during a close it asked for", async () => {
    vi.useFakeTimers()
    try {
      // The other end reads nothing, so this side waits for a channel close that never comes.
      const [left, right] = FakeChannel.pair()
      const a = linked(left)
      left.open()
      right.open()
      a.link.close(1000, "CLIENT_CLOSED")
      await vi.advanceTimersByTimeAsync(0)
      expect(a.closes).toEqual([[1000, "CLIENT_CLOSED"]])
      expect(a.onCloseCalls).toBe(0)
      a.link.lost("the peer connection failed")
      expect(a.onCloseCalls).toBe(1)
      expect(a.closes).toEqual([[1000, "CLIENT_CLOSED"]])
      await vi.advanceTimersByTimeAsync(MAX_CLOSE_WAIT_MS)
      expect(a.onCloseCalls).toBe(1)
    } finally {
      vi.useRealTimers()
    }
  })

  it("ends the link when a frame finds its channel closing or closed, although no event said so", async () => {
    for (const state of ["closing", "closed"]) {
      const { left, a } = openPair()
      a.link.send("[1]")
      left.readyState = state
      await tick()
      expect(a.closes).toEqual([[1006, "the data channel closed"]])
      expect(a.onCloseCalls).toBe(1)
      a.link.send("[2]")
      expect(a.closes.length).toBe(1)
      expect(left.sent).toEqual([])
    }
  })

  it("reports the channel's own close or error as 1006, once, and ignores messages after it", () => {
    const { right, b } = openPair()
    ;(right.onerror as (() => void) | null)?.()
    right.closed()
    expect(b.closes).toEqual([[1006, ""]])
    expect(b.onCloseCalls).toBe(1)
    right.deliver("[1]")
    expect(b.frames).toEqual([])
  })
})
