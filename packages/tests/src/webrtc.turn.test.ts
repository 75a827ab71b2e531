import { createClient } from "@switchyard/client-browser/all"
import { transportStore } from "@switchyard/client-browser/transport-store"
import type { IceServer, TransportId } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { webrtcTransport } from "@switchyard/webrtc-data"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import { RTCPeerConnection } from "node-datachannel/polyfill"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { checkedPage, servePage } from "./support/chromium.ts"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"
import { traffic } from "./support/traffic.ts"
import { restCredentials, TurnServer } from "./support/turnServer.ts"

// A session moves to a data channel whose every packet goes through a real coturn on loopback. The client
// is Chromium, relay-only (`iceTransportPolicy: "relay"`, which browsers enforce). The server's peer is
// node-datachannel, whose `iceTransportPolicy: "relay"` only keeps non-relay candidates out of the
// signalling: its ICE agent still checks from its host socket. So coturn relays from 127.0.0.2, an address
// no peer sends from directly: a host-to-relay check finds no permission and is dropped, and relay to
// relay is the only pair left (docs/webrtc-turn.md).
//
// The client is not node-datachannel here: node-datachannel 0.33.4 (libdatachannel 0.24.5) can deadlock
// a process whose peer takes the passive DTLS role over a TURN relay, as an offering Node client does
// (libdatachannel PR #1630; docs/webrtc-turn.md). The server answers, takes the active role, and is not
// exposed to it. The wrong-credential case below stays Node↔Node: no relay is ever allocated there.

const USER = "switchyard"
const PASSWORD = "turn-test-secret"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

type PolyfillPeer = InstanceType<typeof RTCPeerConnection>
type PeerConfiguration = NonNullable<ConstructorParameters<typeof RTCPeerConnection>[0]>

/** node-datachannel's polyfill, keeping every instance for the test to inspect. */
function recordingPeer(peers: PolyfillPeer[], extra: Partial<PeerConfiguration> = {}) {
  return class extends RTCPeerConnection {
    constructor(configuration: PeerConfiguration) {
      super({ ...configuration, ...extra })
      peers.push(this)
    }
  }
}

async function startTurn(): Promise<TurnServer> {
  const turn = await TurnServer.start({ username: USER, password: PASSWORD })
  cleanup.push(() => turn[Symbol.asyncDispose]())
  return turn
}

function relayServer(iceServers: IceServer[]) {
  const serverPeers: PolyfillPeer[] = []
  const errors: unknown[] = []
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
    onError: (error) => void errors.push(error),
    webrtc: webrtcServer({
      iceServers,
      RTCPeerConnection: recordingPeer(serverPeers, { iceTransportPolicy: "relay" }) as never,
    }),
  })
  cleanup.push(() => server.close())
  return { server, serverPeers, errors }
}

async function start(iceServers: IceServer[]) {
  const started = relayServer(iceServers)
  const { url } = await started.server.listen(0, "127.0.0.1")
  return { ...started, url }
}

/** A relay-only Chromium client of a relay-only server, on the page server's origin. */
async function startWithPage(iceServers: IceServer[]) {
  const started = relayServer(iceServers)
  const { origin } = await servePage(started.server, cleanup)
  const remote = await checkedPage(`${origin}/`, cleanup)
  const client = remote.createClient(TestContract, `${origin}/switchyard`, {
    reconnect: fastReconnect,
    transports: ["webrtc", "websocket"],
    webrtc: { iceTransportPolicy: "relay" },
  })
  cleanup.push(() => client.close())
  const switches: Array<[TransportId, string]> = []
  client.on("transport", (name, reason) => switches.push([name, reason]))
  return { ...started, client, switches }
}

/**
 * The pair the server's peer chose: relay on its side and relay on the client's (the client's candidate is
 * coturn's relay address too), and nothing but relay candidates signalled by the server.
 */
function expectRelayToRelay(peer: PolyfillPeer | undefined, relayIp: string) {
  const pair = peer?.selectedCandidatePair()
  expect(pair?.local).toMatchObject({ type: "relay", address: relayIp })
  expect(pair?.remote).toMatchObject({ type: "relay", address: relayIp })
  const local = peer?.ext_localCandidates ?? []
  expect(local.length).toBeGreaterThan(0)
  expect(local.every((c) => c.candidate.includes(" typ relay"))).toBe(true)
}

function relayClient(url: string, probeTimeoutMs?: number) {
  const clientPeers: PolyfillPeer[] = []
  const storage = freshStorage()
  const transport = webrtcTransport({
    RTCPeerConnection: recordingPeer(clientPeers) as never,
    iceTransportPolicy: "relay",
    ...(probeTimeoutMs === undefined ? {} : { probeTimeoutMs }),
  })
  const client = createClient(TestContract, {
    url,
    WebSocket,
    transports: [transport, "websocket"],
    reconnect: fastReconnect,
    negotiation: { storage },
  })
  cleanup.push(() => client.close())
  const switches: Array<[TransportId, string]> = []
  client.on("transport", (name, reason) => switches.push([name, reason]))
  return { client, switches, clientPeers, storage }
}

describe("WebRTC through a TURN relay (coturn on loopback, Chromium client, Node server)", () => {
  it("moves a session to a data channel relayed by TURN at both ends, nothing lost", async () => {
    const turn = await startTurn()
    const { server, serverPeers, errors, client, switches } = await startWithPage([
      { urls: turn.url, username: USER, credential: PASSWORD },
    ])
    const created = performance.now()
    const flow = traffic(server, client, cleanup, { perTick: 3, everyMs: 5 })
    await waitFor(() => client.transport === "webrtc", 15_000, "the upgrade to WebRTC through the relay")
    console.log(`webrtc via TURN: on the data channel ${Math.round(performance.now() - created)} ms after createClient`)
    const onChannel = { results: flow.results.length, messages: flow.messages.length }
    await waitFor(
      () => flow.results.length > onChannel.results + 100 && flow.messages.length > onChannel.messages + 200,
      10_000,
      "traffic on the relayed channel",
    )
    const published = await flow.stop()

    expect(switches).toEqual([
      ["websocket", "connected"],
      ["webrtc", "upgrade"],
    ])
    expect(flow.results.every((r) => r === 1)).toBe(true)
    const first = flow.messages[0] ?? 0
    expect(flow.messages).toEqual(Array.from({ length: published - first + 1 }, (_, i) => first + i))

    // The pair ICE chose is relay to relay, through coturn's relay address.
    expect(serverPeers).toHaveLength(1)
    expectRelayToRelay(serverPeers[0], turn.relayIp)
    // One allocation per peer, granted to the test user: the page's and the server's.
    expect(await turn.allocations(USER), await turn.sessionLog()).toBe(2)

    // A frame far over a data channel's message size goes in pieces through the relay and comes back whole.
    const big = new Uint8Array(300_000).map((_, i) => i % 251)
    const echoed = await client.rpc.echoBytes({ bytes: big })
    expect(echoed.bytes).toEqual(big)
    expect(client.transport).toBe("webrtc")
    expect(errors).toEqual([])
  })

  it("takes short-lived REST credentials, whose username has a colon and credential base64", async () => {
    const secret = "test-secret"
    const turn = await TurnServer.start({ authSecret: secret })
    cleanup.push(() => turn[Symbol.asyncDispose]())
    // A credential with `+`, `/` or `=` in it, and a username `<expiry>:alice`: the server's peer takes
    // them percent-encoded in node-datachannel's TURN URL, the page's as they are, from the offer.
    let rest = restCredentials(secret, "alice")
    for (let i = 0; !/[+/=]/.test(rest.credential); i++) rest = restCredentials(secret, `alice${i}`)
    const { server, serverPeers, errors, client } = await startWithPage([{ urls: turn.url, ...rest }])
    const flow = traffic(server, client, cleanup, { perTick: 3, everyMs: 5 })
    await waitFor(() => client.transport === "webrtc", 15_000, "the upgrade to WebRTC through the relay")
    const onChannel = flow.results.length
    await waitFor(() => flow.results.length > onChannel + 50, 10_000, "calls on the relayed channel")
    await flow.stop()
    expectRelayToRelay(serverPeers[0], turn.relayIp)
    expect(await turn.allocations(rest.username), await turn.sessionLog()).toBe(2)
    expect(errors).toEqual([])
  })
})

describe("WebRTC through a TURN relay that refuses the credential (Node client, Node server)", () => {
  it("with a wrong TURN credential, the upgrade fails and the session stays on WebSocket, nothing lost", async () => {
    const turn = await startTurn()
    const { server, url, serverPeers, errors } = await start([
      { urls: turn.url, username: USER, credential: "not-the-password" },
    ])
    const { client, switches, clientPeers, storage } = relayClient(url, 3000)
    const flow = traffic(server, client, cleanup)
    await waitFor(() => client.state === "connected", 5000, "the WebSocket session")
    // The client gives up on WebRTC after its probe timeout and remembers the failure.
    await waitFor(
      () => (transportStore(url, storage).load().failed.webrtc ?? 0) > Date.now(),
      10_000,
      "WebRTC remembered as failed",
    )
    const atFailure = flow.results.length
    await waitFor(() => flow.results.length > atFailure + 100, 5000, "calls after the failed upgrade")
    const published = await flow.stop()

    expect(client.transport).toBe("websocket")
    expect(switches).toEqual([["websocket", "connected"]])
    expect(flow.results.every((r) => r === 1)).toBe(true)
    const first = flow.messages[0] ?? 0
    expect(flow.messages).toEqual(Array.from({ length: published - first + 1 }, (_, i) => first + i))

    // coturn refused the credential, so no peer had a candidate to signal, and the attempt was closed.
    const log = await turn.log()
    expect(log).toContain(`user ${USER} credentials are incorrect`)
    expect(await turn.allocations(USER)).toBe(0)
    expect(clientPeers).toHaveLength(1)
    expect(clientPeers[0]?.ext_localCandidates).toEqual([])
    expect(clientPeers[0]?.connectionState).toBe("closed")
    expect(serverPeers.every((peer) => peer.ext_localCandidates.length === 0)).toBe(true)
    expect(errors).toEqual([])
  })
})
