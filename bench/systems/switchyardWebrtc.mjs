// Switchyard over a WebRTC data channel, Node to Node: the server takes `webrtc: webrtcServer()` (its
// peer is node-datachannel), the client runs `webrtcTransport()` on node-datachannel's W3C polyfill.
// The session opens on WebSocket and moves to the data channel by upgrade (SIGNAL frames over the
// session, then a probe); the client is handed to the measurement only once `client.transport` is
// "webrtc", so every timed call crosses the data channel (reliable, ordered: SCTP over DTLS over UDP).
// Both peers are bound to 127.0.0.1, like every other row, so ICE has one host pair and no other
// interface to try. No fan-out: a hundred peer connections in one load process is another benchmark.
import { webrtcTransport } from "@switchyard/webrtc-data"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import { LoopbackPeerConnection, withRetries } from "../lib/webrtc.mjs"
import { EchoContract, switchyardSystem } from "./switchyard.mjs"

export const name = "switchyard-webrtc"
export const label = "Switchyard over a WebRTC data channel"

/** Resolves once the session has moved to the data channel; the upgrade starts right after the handshake. */
function onDataChannel(client, timeoutMs = 11_000) {
  if (client.transport === "webrtc") return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`switchyard-webrtc: still on ${client.transport} ${timeoutMs} ms after connecting`))
    }, timeoutMs)
    const off = client.on("transport", (transport) => {
      if (transport !== "webrtc") return
      clearTimeout(timer)
      off()
      resolve()
    })
  })
}

/** A client system with its own negotiation memory, so that one failed attempt is not remembered by the next. */
function system() {
  const memory = new Map()
  const storage = { getItem: (key) => memory.get(key) ?? null, setItem: (key, value) => void memory.set(key, value) }
  return switchyardSystem(
    EchoContract,
    {
      transports: [webrtcTransport({ RTCPeerConnection: LoopbackPeerConnection }), "websocket"],
      negotiation: { storage },
    },
    { serverOptions: { webrtc: webrtcServer({ RTCPeerConnection: LoopbackPeerConnection }) }, ready: onDataChannel },
  )
}

export const { startServer } = system()

/**
 * A client on the data channel. The probe gives up after 10 s, and the client then stays on WebSocket:
 * such a client is closed and a new one tried (`withRetries`).
 */
export function connectClient(url) {
  return withRetries("switchyard-webrtc", () => system().connectClient(url))
}
