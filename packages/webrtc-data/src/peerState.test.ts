import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { type WatchablePeer, watchPeer } from "./peerState.ts"

/** A peer connection whose states the test sets, firing the change events as a browser does. */
class FakePeer implements WatchablePeer {
  connectionState = "connected"
  iceConnectionState = "connected"
  onconnectionstatechange: ((event: never) => void) | null = null
  oniceconnectionstatechange: ((event: never) => void) | null = null

  set(connection: string, ice = connection): void {
    this.connectionState = connection
    ;(this.onconnectionstatechange as (() => void) | null)?.()
    this.iceConnectionState = ice
    ;(this.oniceconnectionstatechange as (() => void) | null)?.()
  }
}

beforeEach(() => void vi.useFakeTimers())
afterEach(() => void vi.useRealTimers())

describe("watchPeer", () => {
  it("reports a failed or closed peer connection at once, once", () => {
    for (const state of ["failed", "closed"]) {
      const peer = new FakePeer()
      const lost: string[] = []
      watchPeer(peer, (reason) => void lost.push(reason), 2000)
      peer.set(state)
      peer.set("failed")
      expect(lost).toEqual(["the peer connection failed"])
      // It stopped watching.
      expect(peer.onconnectionstatechange).toBeNull()
      expect(peer.oniceconnectionstatechange).toBeNull()
    }
  })

  it("reports a failed ICE state even when the connection state lags, or is missing", () => {
    const peer = new FakePeer()
    const lost: string[] = []
    watchPeer(peer, (reason) => void lost.push(reason), 2000)
    peer.iceConnectionState = "failed"
    ;(peer.oniceconnectionstatechange as (() => void) | null)?.()
    expect(lost).toEqual(["the peer connection failed"])

    const old: WatchablePeer = { iceConnectionState: "connected", oniceconnectionstatechange: null }
    const lostToo: string[] = []
    watchPeer(old, (reason) => void lostToo.push(reason), 2000)
    ;(old as { iceConnectionState: string }).iceConnectionState = "failed"
    ;(old.oniceconnectionstatechange as (() => void) | null)?.()
    expect(lostToo).toEqual(["the peer connection failed"])
  })

  it("lets a short disconnection pass, and reports one that lasts disconnectedTimeoutMs", () => {
    const peer = new FakePeer()
    const lost: string[] = []
    watchPeer(peer, (reason) => void lost.push(reason), 2000)
    peer.set("disconnected")
    vi.advanceTimersByTime(1999)
    peer.set("connected")
    vi.advanceTimersByTime(5000)
    expect(lost).toEqual([])
    peer.set("disconnected")
    // A second event while disconnected does not restart the count.
    vi.advanceTimersByTime(1000)
    peer.set("disconnected")
    vi.advanceTimersByTime(999)
    expect(lost).toEqual([])
    vi.advanceTimersByTime(1)
    expect(lost).toEqual(["the peer connection stayed disconnected"])
    peer.set("failed")
    expect(lost.length).toBe(1)
  })

  it("reports nothing once stopped", () => {
    const peer = new FakePeer()
    const lost: string[] = []
    const stop = watchPeer(peer, (reason) => void lost.push(reason), 2000)
    peer.set("disconnected")
    stop()
    vi.advanceTimersByTime(5000)
    peer.set("failed")
    expect(lost).toEqual([])
  })
})
