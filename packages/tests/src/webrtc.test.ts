import { createClient } from "@switchyard/client-browser/all"
import type { TransportId } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { webrtcTransport } from "@switchyard/webrtc-data"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import { RTCPeerConnection } from "node-datachannel/polyfill"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"
import { traffic } from "./support/traffic.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function start(ended: Array<[string, string]> = []) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
    // The default, said here: a session whose client left without its BYE would be kept this long.
    limits: { resumeWindowMs: 60_000 },
    onError: () => {},
    webrtc: webrtcServer(),
    onSessionEnd: (session, reason) => void ended.push([session.id, reason]),
  })
  const { url } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return { server, url }
}

function webrtcClient(url: string) {
  const client = createClient(TestContract, {
    url,
    WebSocket,
    transports: [webrtcTransport({ RTCPeerConnection: RTCPeerConnection as never }), "websocket"],
    reconnect: fastReconnect,
    negotiation: { storage: freshStorage() },
  })
  cleanup.push(() => client.close())
  const switches: Array<[TransportId, string]> = []
  client.on("transport", (name, reason) => switches.push([name, reason]))
  return { client, switches }
}

describe("WebRTC data channels (Node client, Node server)", () => {
  it("offers WebRTC first, with its ICE servers", async () => {
    const { url } = await start()
    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as { transports: Array<{ id: string }> }
    expect(offer.transports.map((t) => t.id)).toEqual(["webrtc", "websocket", "sse", "long-polling", "polling"])
  })

  it("moves a session from WebSocket to a data channel under traffic, nothing lost or repeated", async () => {
    const { server, url } = await start()
    const { client, switches } = webrtcClient(url)
    const { messages, results, stop } = traffic(server, client, cleanup)
    const created = performance.now()
    await waitFor(() => client.transport === "webrtc", 10_000, "the upgrade to WebRTC")
    console.log(`webrtc: on the data channel ${Math.round(performance.now() - created)} ms after createClient`)
    await waitFor(() => results.length > 300 && messages.length > 300, 10_000, "traffic on the channel")
    const published = await stop()
    expect(switches).toEqual([
      ["websocket", "connected"],
      ["webrtc", "upgrade"],
    ])
    expect(results.every((r) => r === 1)).toBe(true)
    const first = messages[0] ?? 0
    expect(messages).toEqual(Array.from({ length: published - first + 1 }, (_, i) => first + i))
    // A frame far over a data channel's message size goes in pieces and comes back whole.
    const big = new Uint8Array(300_000).map((_, i) => i % 251)
    const echoed = await client.rpc.echoBytes({ bytes: big })
    expect(echoed.length).toBe(big.length)
    expect(echoed.bytes).toEqual(big)
    expect(client.transport).toBe("webrtc")
  })

  it("a BYE on the data channel arrives before the channel goes, both ways", async () => {
    // The server closing: its BYE reaches the client on the channel, and the client reports SERVER_CLOSED.
    const first = await start()
    const { client } = webrtcClient(first.url)
    const errors: string[] = []
    client.on("error", (error) => void errors.push(error.code))
    await waitFor(() => client.transport === "webrtc", 10_000, "the upgrade to WebRTC")
    await first.server.close()
    await waitFor(() => errors.includes("SERVER_CLOSED"), 3000, "SERVER_CLOSED at the client")

    // The client closing: its BYE reaches the server, which ends the session at once (CLIENT_CLOSED) rather
    // than keep it for the resume window.
    const ended: Array<[string, string]> = []
    const second = await start(ended)
    const other = webrtcClient(second.url).client
    await waitFor(() => other.transport === "webrtc", 10_000, "the upgrade to WebRTC")
    const id = other.sessionId
    await other.close()
    await waitFor(() => ended.length === 1, 10_000, "the session's end at the server")
    expect(ended).toEqual([[id, "CLIENT_CLOSED"]])
  })
})
