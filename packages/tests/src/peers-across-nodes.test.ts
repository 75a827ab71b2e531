import { type Client, createClient, type PeerConnection } from "@switchyard/client-browser/all"
import { peers as clientPeers } from "@switchyard/client-browser/peers"
import type { SwitchyardError } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, memoryCluster, type Server } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { RoundRobinProxy } from "./support/cluster/roundRobin.ts"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"

type Conn = PeerConnection<TestContract["peers"]>

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** Two nodes sharing a `memoryCluster()` (node messages, the session directory), each allowing peers, relay only. */
async function twoNodes(): Promise<[Server<TestContract>, Server<TestContract>, number, number]> {
  const cluster = memoryCluster()
  const handlers = testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>
  const servers: Server<TestContract>[] = []
  const ports: number[] = []
  for (const id of ["n1", "n2"]) {
    const server = createServer(TestContract, handlers, {
      onError: () => {},
      broker: cluster.broker(id),
      limits: { handOverGraceMs: 300 },
      peers: { authorize: () => true, direct: false },
    })
    const { port } = await server.listen(0, "127.0.0.1")
    cleanup.push(() => server.close())
    servers.push(server)
    ports.push(port)
  }
  return [servers[0] as Server<TestContract>, servers[1] as Server<TestContract>, ports[0] ?? 0, ports[1] ?? 0]
}

async function client(port: number): Promise<Client<TestContract>> {
  const c = createClient(TestContract, {
    url: `http://127.0.0.1:${port}/switchyard`,
    WebSocket,
    transports: ["websocket"],
    reconnect: fastReconnect,
    negotiation: { storage: freshStorage() },
    peers: clientPeers({ direct: false }),
  })
  cleanup.push(() => c.close())
  await waitFor(() => c.state === "connected" && c.peers.id !== undefined, 5000, "the client to connect")
  return c
}

/**
 * Peer connections are held by one node's hub, between two sessions that node owns
 * (docs/peers.md#peers-and-many-nodes): neither reliable nor unreliable messages cross nodes.
 */
describe("peer connections in a cluster", () => {
  it("reach only the clients of the same node: a peer id held by another node is not found", async () => {
    const [, , port1, port2] = await twoNodes()
    const a = await client(port1)
    const b = await client(port2)
    const c = await client(port1)
    const refused = await a.peers.connect(b.peers.id as string).then(
      () => undefined,
      (error: SwitchyardError) => error.code,
    )
    expect(refused).toBe("PEER_NOT_FOUND")
    // The same server's clients connect, and both kinds of message flow.
    const incoming = new Promise<Conn>((resolve) => c.peers.onConnection(resolve))
    const ac = await a.peers.connect(c.peers.id as string)
    const ca = await incoming
    const got: unknown[] = []
    ca.channels.note.subscribe((m) => got.push(m))
    ca.channels.position.subscribe((m) => got.push(m))
    ac.channels.note.send("hi")
    ac.channels.position.send({ x: 1, y: 2 })
    await waitFor(() => got.length === 2, 5000, "both messages")
    expect(got).toEqual(["hi", { x: 1, y: 2 }])
  })

  it("close with PEER_CLOSED on both sides when one side's session is taken over by another node", async () => {
    const [n1, n2, port1, port2] = await twoNodes()
    // B reaches the nodes through a balancer that deals n1 first; later, only n2.
    const balancer = await RoundRobinProxy.start([port1])
    cleanup.push(() => balancer[Symbol.asyncDispose]())
    const a = await client(port1)
    const b = await client(balancer.port)
    const sessionB = b.sessionId
    const incoming = new Promise<Conn>((resolve) => b.peers.onConnection(resolve))
    const ab = await a.peers.connect(b.peers.id as string)
    const ba = await incoming
    const closed: string[] = []
    ab.on("close", (error) => closed.push(`a: ${error.code}`))
    ba.on("close", (error) => closed.push(`b: ${error.code}`))
    // B's connection is cut and comes back on n2, which takes its session over from n1.
    balancer.add(port2)
    balancer.out(port1)
    await waitFor(() => n2.sessionCount === 1 && b.state === "connected", 10_000, "B's session on n2")
    expect([b.sessionId, n1.sessionCount]).toEqual([sessionB, 1])
    // A hears it from n1; B from the replay its session took along to n2.
    await waitFor(() => closed.length === 2, 5000, "both sides to hear the connection closed")
    expect(closed.sort()).toEqual(["a: PEER_CLOSED", "b: PEER_CLOSED"])
    expect([ab.state, ba.state]).toEqual(["closed", "closed"])
    // B's peer id is served by n2 now, for clients of n2 only.
    const c = await client(port2)
    const incomingC = new Promise<Conn>((resolve) => b.peers.onConnection(resolve))
    const cb = await c.peers.connect(b.peers.id as string)
    const got: string[] = []
    const bc = await incomingC
    bc.channels.note.subscribe((m) => got.push(m))
    cb.channels.note.send("on n2")
    await waitFor(() => got.length === 1, 5000, "a message on n2")
    expect(got).toEqual(["on n2"])
  })
})
