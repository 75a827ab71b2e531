import { describe, expect, it } from "vitest"
import { candidateToSignal, withoutCandidates } from "./ice.ts"

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
})
