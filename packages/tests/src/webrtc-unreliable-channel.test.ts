import { withoutCandidates } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { SESSION_CHANNEL, UNRELIABLE_CHANNEL, UNRELIABLE_CHANNEL_OPTIONS } from "@switchyard/webrtc-data"
import { RTCPeerConnection } from "node-datachannel/polyfill"
import { describe, expect, it } from "vitest"
import { LossyUdpRelay } from "./support/lossyUdpRelay.ts"

describe("the unreliable data channel in node-datachannel", () => {
  it("made by the answering (server) end with our options, loses messages on a lossy network where the session channel loses none", async () => {
    await using relay = await LossyUdpRelay.start()
    const client = new RTCPeerConnection({ iceServers: [] })
    const server = new RTCPeerConnection({ iceServers: [] })
    try {
      let relayed: { candidate: string; sdpMid: string } | undefined
      server.onicecandidate = (event) => {
        const rewritten = event.candidate && relay.candidate(event.candidate.candidate)
        if (rewritten) relayed = { candidate: rewritten, sdpMid: event.candidate?.sdpMid ?? "0" }
      }
      // As webrtcTransport and webrtcServer make them: the session channel in band, the unreliable one
      // negotiated by both ends.
      const session = client.createDataChannel(SESSION_CHANNEL, { ordered: true })
      const clientLossy = client.createDataChannel(UNRELIABLE_CHANNEL, { ...UNRELIABLE_CHANNEL_OPTIONS })
      const serverLossy = server.createDataChannel(UNRELIABLE_CHANNEL, { ...UNRELIABLE_CHANNEL_OPTIONS })
      let serverSession: RTCDataChannel | undefined
      server.ondatachannel = (event) => {
        serverSession = event.channel
      }
      const onSession: number[] = []
      const onLossy: number[] = []
      session.onmessage = (event) => onSession.push(Number(event.data))
      clientLossy.onmessage = (event) => onLossy.push(Number(event.data))

      await client.setLocalDescription(await client.createOffer())
      // The descriptions go without candidates: the only path is the one through the relay.
      await server.setRemoteDescription({ type: "offer", sdp: withoutCandidates(client.localDescription?.sdp ?? "") })
      await server.setLocalDescription(await server.createAnswer())
      await waitFor(() => relayed !== undefined, 5000, "the server's host candidate")
      await client.setRemoteDescription({ type: "answer", sdp: withoutCandidates(server.localDescription?.sdp ?? "") })
      await client.addIceCandidate(relayed as { candidate: string; sdpMid: string })
      await waitFor(
        () =>
          serverSession?.readyState === "open" && serverLossy.readyState === "open" && session.readyState === "open",
        10_000,
        "both channels open",
      )

      // A third of the packets from the server are lost from now on.
      relay.lossy = true
      const count = 300
      for (let i = 1; i <= count; i++) {
        serverLossy.send(String(i))
        serverSession?.send(String(i))
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      // SCTP retransmits on the session channel until every message is there; never on the other.
      await waitFor(() => onSession.length === count, 20_000, "every message on the session channel")
      const seen = { dropped: relay.dropped, lossy: onLossy.length, session: onSession.length }
      expect(seen.dropped, JSON.stringify(seen)).toBeGreaterThan(0)
      expect(onSession).toEqual(Array.from({ length: count }, (_, i) => i + 1))
      expect(onLossy.length, JSON.stringify(seen)).toBeGreaterThan(0)
      expect(onLossy.length, JSON.stringify(seen)).toBeLessThan(count)
      expect(new Set(onLossy).size).toBe(onLossy.length)
    } finally {
      client.close()
      server.close()
    }
  })
})
