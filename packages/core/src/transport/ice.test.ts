import { describe, expect, it } from "vitest"
import { candidateToSignal, localOffer, type OfferingPeer, remoteCandidates, withoutCandidates } from "./ice.ts"

describe("ICE helpers for signalling", () => {
  it("strips node-datachannel's a= prefix and fills sdpMid and sdpMLineIndex", () => {
    expect(
      candidateToSignal({ candidate: "a=candidate:1 1 UDP 2114977791 127.0.0.1 5000 typ host", sdpMid: "0" }),
    ).toEqual({ candidate: "candidate:1 1 UDP 2114977791 127.0.0.1 5000 typ host", sdpMid: "0", sdpMLineIndex: null })
    expect(candidateToSignal({ candidate: "candidate:2 1 UDP 1 ::1 9 typ host", sdpMLineIndex: 0 })).toEqual({
      candidate: "candidate:2 1 UDP 1 ::1 9 typ host",
      sdpMid: null,
      sdpMLineIndex: 0,
    })
  })

  it("turns the end of candidates (null, or an empty candidate) into null", () => {
    expect(candidateToSignal(null)).toBeNull()
    expect(candidateToSignal({ candidate: "" })).toBeNull()
  })

  it("removes candidate lines from an SDP, CRLF or LF, and keeps every other line", () => {
    const sdp = [
      "v=0",
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
      "a=candidate:1 1 UDP 2114977791 192.0.2.2 5000 typ host",
      "a=ice-ufrag:abcd",
      "a=candidate:2 1 UDP 2116026111 fd00::2 5000 typ host",
      "a=end-of-candidates",
      "a=fingerprint:sha-256 AB:CD",
      "",
    ]
    const kept =
      "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=fingerprint:sha-256 AB:CD\r\n"
    expect(withoutCandidates(sdp.join("\r\n"))).toBe(kept)
    expect(withoutCandidates(sdp.join("\n"))).toBe(kept.replaceAll("\r\n", "\n"))
  })

  it("sets a browser's offer once and returns it without candidates; a peer that set its own is left as it is", async () => {
    const sdp = "v=0\r\na=candidate:1 1 UDP 1 127.0.0.1 5000 typ host\r\na=fingerprint:sha-256 AB\r\n"
    const peer = (state: string) => {
      const set: string[] = []
      const p: OfferingPeer & { set: string[] } = {
        set,
        signalingState: state,
        localDescription: state === "have-local-offer" ? { sdp } : null,
        createOffer: async () => ({ type: "offer", sdp }),
        setLocalDescription: async (d) => {
          set.push(d.type)
          ;(p as { localDescription: { sdp: string } | null }).localDescription = { sdp: d.sdp ?? "" }
        },
      }
      return p
    }
    const browser = peer("stable")
    expect(await localOffer(browser)).toBe("v=0\r\na=fingerprint:sha-256 AB\r\n")
    expect(browser.set).toEqual(["offer"])
    const nodeDatachannel = peer("have-local-offer")
    expect(await localOffer(nodeDatachannel)).toBe("v=0\r\na=fingerprint:sha-256 AB\r\n")
    expect(nodeDatachannel.set).toEqual([])
  })

  it("keeps remote candidates until the description is set, then adds them in order, skipping unusable ones", async () => {
    const added: string[] = []
    const candidates = remoteCandidates({
      addIceCandidate: async (c) => {
        if (c.candidate === "bad") throw new Error("unusable")
        added.push(c.candidate)
      },
    })
    candidates.add({ candidate: "one" })
    candidates.add({ candidate: "bad" })
    candidates.add({ candidate: "two" })
    expect(added).toEqual([])
    await candidates.described()
    expect(added).toEqual(["one", "two"])
    candidates.add({ candidate: "three" })
    await Promise.resolve()
    expect(added).toEqual(["one", "two", "three"])
  })
})
