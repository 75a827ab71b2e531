import { describe, expect, it } from "vitest"
import {
  LOSSY_BUFFERED_BYTES,
  openDirect,
  type PeerDataChannelLike,
  type RtcPeerConnectionConstructor,
  type RtcPeerConnectionLike,
} from "./peerDirect.ts"

/** A data channel that records what is written on it, with a `bufferedAmount` the test sets. */
class FakeChannel implements PeerDataChannelLike {
  readyState = "open"
  bufferedAmount = 0
  bufferedAmountLowThreshold?: number
  onbufferedamountlow: ((event: never) => void) | null = null
  onopen: ((event: never) => void) | null = null
  onmessage: ((event: never) => void) | null = null
  onclose: ((event: never) => void) | null = null
  onerror: ((event: never) => void) | null = null
  readonly sent: string[] = []
  constructor(readonly label: string) {}
  send(data: string): void {
    this.sent.push(data)
  }
  close(): void {
    this.readyState = "closed"
  }
  /** The channel drained to `to` bytes: the browser fires `bufferedamountlow` once below the threshold. */
  drain(to: number): void {
    this.bufferedAmount = to
    if (to <= (this.bufferedAmountLowThreshold ?? 0)) this.onbufferedamountlow?.(undefined as never)
  }
}

/** A caller's direct path whose offer never completes: only its channels matter here. */
function caller() {
  const channels: FakeChannel[] = []
  class FakePeer implements Partial<RtcPeerConnectionLike> {
    localDescription = null
    signalingState = "stable"
    onicecandidate = null
    ondatachannel = null
    createDataChannel(label: string) {
      const channel = new FakeChannel(label)
      channels.push(channel)
      return channel
    }
    createOffer = () => new Promise<never>(() => {})
    close() {}
  }
  const direct = openDirect(
    FakePeer as unknown as RtcPeerConnectionConstructor,
    true,
    [],
    60_000,
    () => {},
    { open() {}, message() {}, close() {} },
    true,
  )
  const lossy = channels.find((c) => c.label === "switchyard-peer-latest")
  if (!lossy) throw new Error("no lossy channel")
  return { direct, lossy }
}

describe("openDirect: the lossy channel's send buffer", () => {
  it("writes while the channel holds at most LOSSY_BUFFERED_BYTES; above it keeps the newest per channel until it drains", () => {
    const { direct, lossy } = caller()
    const position = {}
    const cursor = {}
    expect(lossy.bufferedAmountLowThreshold).toBe(LOSSY_BUFFERED_BYTES)
    expect(direct.sendLossy("p1", position)).toBe(true)
    lossy.bufferedAmount = LOSSY_BUFFERED_BYTES
    expect(direct.sendLossy("p2", position)).toBe(true)
    // A slow path: the browser would queue without bound; these wait, one per channel, newest wins.
    lossy.bufferedAmount = LOSSY_BUFFERED_BYTES + 1
    for (let i = 3; i <= 1000; i++) expect(direct.sendLossy(`p${i}`, position)).toBe(true)
    expect(direct.sendLossy("c1", cursor)).toBe(true)
    expect(direct.sendLossy("c2", cursor)).toBe(true)
    expect(lossy.sent).toEqual(["p1", "p2"])
    // Drained: the newest of each channel goes, the one that waited longest first.
    lossy.drain(1000)
    expect(lossy.sent).toEqual(["p1", "p2", "p1000", "c2"])
    lossy.drain(0)
    expect(direct.sendLossy("p1001", position)).toBe(true)
    expect(lossy.sent.at(-1)).toBe("p1001")
  })

  it("drops what waits when the lossy channel closes; messages then take the relay", () => {
    const { direct, lossy } = caller()
    const position = {}
    lossy.bufferedAmount = LOSSY_BUFFERED_BYTES + 1
    direct.sendLossy("p1", position)
    lossy.readyState = "closed"
    lossy.onclose?.(undefined as never)
    lossy.drain(0)
    expect(lossy.sent).toEqual([])
    expect(direct.sendLossy("p2", position)).toBe(false)
    direct.close()
  })
})
