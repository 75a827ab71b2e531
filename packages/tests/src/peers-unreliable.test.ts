import { type Client, createClient, type PeerConnection } from "@switchyard/client-browser/all"
import { peers as clientPeers, type RtcPeerConnectionConstructor } from "@switchyard/client-browser/peers"
import { withoutCandidates } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, type ServerLimits } from "@switchyard/server-node"
import { PeerConnection as NativePeer } from "node-datachannel"
import { RTCPeerConnection } from "node-datachannel/polyfill"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"
import { LossyUdpRelay } from "./support/lossyUdpRelay.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

type Conn = PeerConnection<TestContract["peers"]>
type Position = { readonly x: number; readonly y: number }

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

const handlers = () => testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>

async function start(direct: boolean, limits?: Partial<ServerLimits>) {
  const server = createServer(TestContract, handlers(), {
    onError: () => {},
    peers: { authorize: () => true, direct },
    ...(limits && { limits }),
  })
  const { url } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return url
}

async function client(url: string, Peer?: RtcPeerConnectionConstructor): Promise<Client<TestContract>> {
  const c = createClient(TestContract, {
    url,
    WebSocket,
    transports: ["websocket"],
    reconnect: fastReconnect,
    negotiation: { storage: freshStorage() },
    peers: clientPeers(Peer ? { RTCPeerConnection: Peer } : { direct: false }),
  })
  cleanup.push(() => c.close())
  await waitFor(() => c.state === "connected", 5000, "the client to connect")
  return c
}

async function pair(a: Client<TestContract>, b: Client<TestContract>): Promise<[Conn, Conn]> {
  const incoming = new Promise<Conn>((resolve) => b.peers.onConnection(resolve))
  const mine = await a.peers.connect(b.peers.id as string)
  return [mine, await incoming]
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * node-datachannel peers, bound to 127.0.0.1, whose only path to each other is `relay`: the caller
 * reaches the callee only at the relay's port (the callee's first host candidate, rewritten), the callee
 * learns the caller's address from what reaches it through the relay, and no description carries
 * candidates. The peers' own code (peerDirect.ts) is untouched.
 */
function throughRelay(relay: LossyUdpRelay): [RtcPeerConnectionConstructor, RtcPeerConnectionConstructor] {
  let names = 0
  const base = (config: { iceServers: object[] }) =>
    ({
      ...config,
      peerConnection: new NativePeer(`lossy-${++names}`, { iceServers: [], bindAddress: "127.0.0.1" }),
    }) as never
  class Caller extends RTCPeerConnection {
    constructor(config: { iceServers: object[] }) {
      super(base(config))
      cleanup.push(() => this.close())
    }
    override setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void> {
      return super.setRemoteDescription({ type: description.type, sdp: withoutCandidates(description.sdp ?? "") })
    }
    override async addIceCandidate(candidate?: RTCIceCandidateInit | null): Promise<void> {
      const rewritten = candidate?.candidate ? relay.candidate(candidate.candidate) : undefined
      if (rewritten) await super.addIceCandidate({ ...candidate, candidate: rewritten })
    }
  }
  class Callee extends RTCPeerConnection {
    constructor(config: { iceServers: object[] }) {
      super(base(config))
      cleanup.push(() => this.close())
    }
    override async addIceCandidate(): Promise<void> {}
  }
  return [Caller as never, Callee as never]
}

describe("unreliable peer channels (Node clients, node-datachannel)", () => {
  it("lose messages on a lossy network over the direct path, where the reliable channel loses none", async () => {
    await using relay = await LossyUdpRelay.start()
    const url = await start(true)
    const [Caller, Callee] = throughRelay(relay)
    const a = await client(url, Caller)
    const b = await client(url, Callee)
    const [ab, ba] = await pair(a, b)
    await waitFor(() => ab.path === "direct" && ba.path === "direct", 10_000, "the direct path through the relay")
    const positions: Position[] = []
    const notes: string[] = []
    ab.channels.position.subscribe((m) => positions.push(m))
    ab.channels.note.subscribe((m) => notes.push(m))
    // The lossy channel opens with the other; one position across shows it is there.
    await waitFor(
      () => {
        ba.channels.position.send({ x: 0, y: 0 })
        return positions.length > 0
      },
      5000,
      "the lossy channel",
    )
    // A third of the packets from the callee (B) are lost from now on.
    relay.lossy = true
    const count = 200
    for (let i = 1; i <= count; i++) {
      ba.channels.position.send({ x: i, y: 0 })
      if (i % 10 === 0) ba.channels.note.send(`note ${i / 10}`)
      await pause(2)
    }
    // SCTP retransmits the reliable channel's messages until all are there; never the lossy channel's.
    await waitFor(() => notes.length === count / 10, 15_000, "every note")
    expect(notes).toEqual(Array.from({ length: count / 10 }, (_, i) => `note ${i + 1}`))
    const xs = positions.map((p) => p.x).filter((x) => x > 0)
    const seen = JSON.stringify({ dropped: relay.dropped, positions: xs.length })
    expect(xs.length, seen).toBeGreaterThan(0)
    expect(xs.length, seen).toBeLessThan(count)
    expect(xs, seen).toEqual([...new Set(xs)].sort((p, q) => p - q))
    // Once the network carries again, the next position arrives, and the connection never left the direct path.
    relay.lossy = false
    await waitFor(
      () => {
        ba.channels.position.send({ x: count + 1, y: 0 })
        return positions.at(-1)?.x === count + 1
      },
      5000,
      "a position after the loss",
    )
    expect([ab.path, ba.path, ab.state, ba.state]).toEqual(["direct", "direct", "open", "open"])
    console.log(`peers-unreliable: ${relay.dropped} packets dropped, ${xs.length} of ${count} positions arrived`)
  })

  /**
   * Ann sends 1,000 positions and 10 notes to Bob over the relay while Bob's TCP connection is stalled,
   * then Bob reads again; returns the positions Bob got, once Ann's sends after the stall reach him.
   */
  async function stalledRelay(limits?: Partial<ServerLimits>): Promise<number[]> {
    const url = await start(false, limits)
    const proxy = await TcpProxy.start(Number(new URL(url).port))
    cleanup.push(() => proxy[Symbol.asyncDispose]())
    const a = await client(url)
    const b = await client(url.replace(/:\d+\//, `:${proxy.port}/`))
    const [ab, ba] = await pair(a, b)
    const positions: Position[] = []
    const notes: string[] = []
    ba.channels.position.subscribe((m) => positions.push(m))
    ba.channels.note.subscribe((m) => notes.push(m))
    const closed: string[] = []
    ab.on("close", (e) => closed.push(e.code))
    ba.on("close", (e) => closed.push(e.code))
    await a.rpc.add({ a: 0, b: 0 })
    // Bob stops reading (and acknowledging); Ann sends 1 000 positions and 10 notes.
    proxy.stall(true)
    const count = 1000
    for (let i = 1; i <= count; i++) {
      ab.channels.position.send({ x: i, y: 0 })
      if (i % 100 === 0) ab.channels.note.send(`note ${i / 100}`)
      if (i % 50 === 0) await pause(5)
    }
    // The server relayed positions only while Bob had at most 256 frames unacknowledged.
    await a.rpc.add({ a: 0, b: 0 })
    proxy.stall(false)
    await waitFor(() => notes.length === 10, 5000, "every note")
    // Once Bob reads again, positions get through again; until his acknowledgements have caught up with the
    // backlog the server may still drop one (that is the rule), so Ann keeps sending, as a game would.
    let next = count
    await waitFor(
      () => {
        ab.channels.position.send({ x: ++next, y: 0 })
        return (positions.at(-1)?.x ?? 0) > count
      },
      5000,
      "a position sent after",
    )
    const xs = positions.map((p) => p.x)
    expect(xs).toEqual([...new Set(xs)].sort((p, q) => p - q))
    expect(notes).toEqual(Array.from({ length: 10 }, (_, i) => `note ${i + 1}`))
    expect([closed, ab.state, ba.state, b.state]).toEqual([[], "open", "open", "connected"])
    return xs
  }

  it("on the relay, are dropped while the receiver is not reading, never closing the connection; reliable ones wait", async () => {
    const xs = await stalledRelay()
    expect(xs.length, `${xs.length} positions`).toBeLessThan(300)
  })

  it("on the relay, are dropped past the server's maxUnreliablePeerPending frames unacknowledged", async () => {
    const xs = await stalledRelay({ maxUnreliablePeerPending: 16 })
    // While Bob was stalled: one with 0 to 16 frames unacknowledged, so at most 17 (the notes count too).
    expect(xs.filter((x) => x <= 1000).length, `${xs.length} positions`).toBeLessThanOrEqual(17)
  })

  it("refuses a maxUnreliablePeerPending that is not a non-negative integer", () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createServer(TestContract, handlers(), { limits: { maxUnreliablePeerPending: bad } })).toThrow(
        /limits\.maxUnreliablePeerPending .* must be a non-negative integer/,
      )
    }
  })
})
