import { describe, expect, it } from "vitest"
import { IncompleteBytes } from "../incompleteBytes.ts"
import { FrameReader } from "./unfinishedMessages.ts"

/** A masked client frame: FIN, opcode, a zero mask, `length` bytes of payload. */
function frame(opcode: number, length: number, fin = true): Buffer {
  const first = (fin ? 0x80 : 0) | opcode
  const head =
    length < 126
      ? Buffer.from([first, 0x80 | length])
      : length < 65_536
        ? Buffer.from([first, 0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([first, 0x80 | 127]), u64(length)])
  return Buffer.concat([head, Buffer.alloc(4), Buffer.alloc(length, 0x78)])
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

describe("FrameReader", () => {
  it("counts nothing for messages that end within the chunk they start in", () => {
    const reader = new FrameReader()
    expect(reader.read(Buffer.concat([frame(1, 10), frame(2, 300), frame(1, 70_000)]))).toBe(0)
    expect(reader.messagesEnded).toBe(3)
  })

  it("counts the header and payload of a frame split across chunks, until its last byte", () => {
    const reader = new FrameReader()
    const whole = frame(1, 70_000)
    // 2 bytes of header, 8 of length, 4 of mask.
    expect(reader.read(whole.subarray(0, 1))).toBe(1)
    expect(reader.read(whole.subarray(1, 5))).toBe(5)
    expect(reader.read(whole.subarray(5, 40_000))).toBe(40_000)
    expect(reader.read(whole.subarray(40_000))).toBe(0)
    expect(reader.messagesEnded).toBe(1)
  })

  it("counts every fragment of an unfinished message, and not the control frames between them", () => {
    const reader = new FrameReader()
    const first = frame(1, 200, false)
    expect(reader.read(first)).toBe(first.length)
    const ping = frame(0x9, 5)
    expect(reader.read(ping)).toBe(first.length)
    const middle = frame(0, 1000, false)
    expect(reader.read(middle)).toBe(first.length + middle.length)
    // The last fragment ends the message; a new one starts in the same chunk.
    const next = frame(2, 50_000)
    expect(reader.read(Buffer.concat([frame(0, 10, true), next.subarray(0, 100)]))).toBe(100)
    expect(reader.messagesEnded).toBe(1)
  })

  it("follows a frame of zero bytes and a close frame", () => {
    const reader = new FrameReader()
    expect(reader.read(Buffer.concat([frame(1, 0), frame(0x8, 2), frame(1, 1)]))).toBe(0)
    expect(reader.messagesEnded).toBe(2)
  })
})

describe("IncompleteBytes", () => {
  it("takes per address and in all, refuses past either bound, and gives back", () => {
    const bytes = new IncompleteBytes({ maxIncompleteBytesPerIp: 100, maxIncompleteBytes: 150, ipv6PrefixBits: 64 })
    expect(bytes.take("a", 80)).toBeUndefined()
    expect(bytes.take("a", 30)).toBe("address")
    expect(bytes.take("b", 80)).toBe("server")
    expect(bytes.take("b", 70)).toBeUndefined()
    // A relayed request counts in the total only.
    expect(bytes.take(undefined, 1)).toBe("server")
    expect([bytes.held(), bytes.held("a"), bytes.held("b")]).toEqual([150, 80, 70])
    bytes.give("a", 80)
    expect(bytes.take(undefined, 50)).toBeUndefined()
    expect([bytes.held(), bytes.held("a")]).toEqual([120, 0])
    expect(bytes.refusalMessage("address")).toContain("100 bytes")
  })

  it("counts the IPv6 addresses of one /64 as one address", () => {
    const bytes = new IncompleteBytes({ maxIncompleteBytesPerIp: 100, maxIncompleteBytes: 1000, ipv6PrefixBits: 64 })
    expect(bytes.take("2001:db8:1:2::1", 60)).toBeUndefined()
    expect(bytes.take("2001:db8:1:2:aaaa::9", 60)).toBe("address")
    expect(bytes.take("2001:db8:1:3::1", 60)).toBeUndefined()
    expect(bytes.held("2001:db8:1:2::5")).toBe(60)
  })
})
