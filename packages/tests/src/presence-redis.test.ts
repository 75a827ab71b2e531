import { createClient } from "@switchyard/client-browser/all"
import type { Client } from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { RedisConnections, RedisNodes, RedisPresence, redisBroker } from "@switchyard/redis"
import { createServer, type Handlers, type Server } from "@switchyard/server-node"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { RoundRobinProxy } from "./support/cluster/roundRobin.ts"
import { connected, testClientOptions } from "./support/harnesses.ts"
import { RedisServer } from "./support/redisServer.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

/**
 * Presence on Redis (docs/presence.md#across-nodes, docs/scaling.md#presence-across-nodes): servers of
 * this process, each with a `redisBroker()` of its own connections on one real redis-server, as
 * separate processes would have. Nodes run with a 1 s liveness TTL, so a killed one is gone within 1.2 s.
 */

const NODE_TTL_MS = 1000
const connectionOptions = { pingIntervalMs: 200, pingTimeoutMs: 500, backoffMs: [20, 100] as const }

let redis: RedisServer
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterAll(async () => {
  await redis[Symbol.asyncDispose]()
})

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

let clusters = 0

interface Node {
  readonly id: string
  readonly server: Server<TestContract>
  readonly port: number
}

/** `count` servers on one Redis, under a key prefix of their own. */
async function startNodes(count: number): Promise<{ readonly prefix: string; readonly nodes: Node[] }> {
  const prefix = `presence${++clusters}:`
  const nodes: Node[] = []
  for (let i = 1; i <= count; i++) {
    const id = `n${i}`
    const server = createServer(
      TestContract,
      testHandlers({ aborted: new Set() } satisfies TestServerState) as unknown as Handlers<TestContract>,
      {
        broker: redisBroker({
          url: redis.url,
          keyPrefix: prefix,
          nodeId: id,
          nodeTtlMs: NODE_TTL_MS,
          ...connectionOptions,
        }),
        limits: { handOverGraceMs: 100 },
        onError: () => {},
      },
    )
    const { port } = await server.listen(0, "127.0.0.1")
    cleanup.push(() => server.close())
    nodes.push({ id, server, port })
  }
  return { prefix, nodes }
}

async function clientAt(port: number): Promise<Client<TestContract>> {
  const client = createClient(TestContract, {
    url: `http://127.0.0.1:${port}/switchyard`,
    transports: ["websocket"],
    WebSocket,
    ...testClientOptions,
  })
  cleanup.push(() => client.close())
  return connected(client)
}

/** Records the joins and leaves of `lobby(key)` that the app hears on a node. */
function heardOn(node: Node, key: string): string[] {
  const events: string[] = []
  cleanup.push(node.server.topics.lobby(key).onPresence(({ kind, member }) => events.push(`${kind} ${member.id}`)))
  return events
}

const idsOf = (members: readonly { readonly id: string }[]) => members.map((m) => m.id).sort()

describe("presence on Redis", () => {
  it("lists every node's members on every node and tells each join and leave everywhere, once", async () => {
    const { nodes } = await startNodes(2)
    const [n1, n2] = nodes as [Node, Node]
    const on1 = heardOn(n1, "k")
    const on2 = heardOn(n2, "k")
    const [a, b] = await Promise.all([clientAt(n1.port), clientAt(n2.port)])
    const seen: string[] = []
    a.topics.lobby("k").subscribe(() => {}, {
      presence: { join: (m) => seen.push(`join ${m.id}`), leave: (m) => seen.push(`leave ${m.id}`) },
    })
    await waitFor(() => seen.length === 1, 5000, "a's own join")
    const offB = b.topics.lobby("k").subscribe(() => {})
    await waitFor(() => seen.length === 2, 5000, "b's join, made on n2")
    const both = [a.sessionId, b.sessionId].sort()
    for (const node of nodes) expect(idsOf(await node.server.topics.lobby("k").presence())).toEqual(both)
    expect(idsOf(await b.topics.lobby("k").presence())).toEqual(both)
    expect((await n1.server.topics.lobby("k").presence()).find((m) => m.id === b.sessionId)?.data).toEqual({
      name: `k:${b.sessionId}`,
      since: new Date(0),
    })

    offB()
    await waitFor(() => seen.length === 3, 5000, "b's leave")
    expect(seen).toEqual([`join ${a.sessionId}`, `join ${b.sessionId}`, `leave ${b.sessionId}`])
    await a.close()
    for (const events of [on1, on2]) {
      await waitFor(() => events.length === 4, 5000, "a's leave when its session ended")
      expect(events).toEqual([
        `join ${a.sessionId}`,
        `join ${b.sessionId}`,
        `leave ${b.sessionId}`,
        `leave ${a.sessionId}`,
      ])
    }
    expect(await n2.server.topics.lobby("k").presence()).toEqual([])
  })

  it("a member whose WebSocket reconnects to another node stays listed once, with no leave and no join", async () => {
    const { nodes } = await startNodes(2)
    const balancer = await RoundRobinProxy.start(nodes.map((n) => n.port))
    cleanup.push(() => balancer[Symbol.asyncDispose]())
    const proxy = await TcpProxy.start(balancer.port)
    cleanup.push(() => proxy[Symbol.asyncDispose]())
    const heard = nodes.map((node) => heardOn(node, "k"))
    const member = await clientAt(proxy.port)
    const id = member.sessionId
    member.topics.lobby("k").subscribe(() => {})
    for (const events of heard) await waitFor(() => events.length === 1, 5000, "the member's join")
    const owner = nodes.findIndex((n) => n.server.sessionCount === 1)
    const before = await nodes[0]?.server.topics.lobby("k").presence()

    proxy.drop()
    await waitFor(
      () => member.state === "connected" && nodes[owner]?.server.sessionCount === 0,
      5000,
      "the take-over by the other node",
    )
    expect(member.sessionId).toBe(id)
    // The old owner dies: the entry is the new owner's, so the sweep of the old one removes nothing.
    await nodes[owner]?.server.close()
    const other = await clientAt(nodes[1 - owner]?.port as number)
    const off = other.topics.lobby("k").subscribe(() => {})
    const survivor = heard[1 - owner] as string[]
    await waitFor(() => survivor.length === 2, 5000, "the other's join")
    off()
    await waitFor(() => survivor.length === 3, 5000, "the other's leave")
    expect(survivor).toEqual([`join ${id}`, `join ${other.sessionId}`, `leave ${other.sessionId}`])
    expect(await nodes[1 - owner]?.server.topics.lobby("k").presence()).toEqual(before)
  })

  it("removes the members of a node killed without a word within 1.2 × nodeTtlMs, telling their leaves", async () => {
    const { prefix, nodes } = await startNodes(2)
    const on = nodes.map((node) => heardOn(node, "k"))
    // The victim: a node's bus and presence on connections of their own, killed as SIGKILL would.
    const connections = new RedisConnections(redis.url, connectionOptions)
    const bus = new RedisNodes(connections, "victim", prefix, {
      unavailableAfterMs: 1000,
      nodeTtlMs: NODE_TTL_MS,
      ownerTtlMs: 60_000,
    })
    const victim = new RedisPresence(connections, "victim", prefix, 1000, bus)
    connections.start()
    await bus.start(() => {})
    await waitFor(() => connections.up, 5000, "the victim's connections")
    const data = JSON.stringify({ name: "v", since: new Date(0).toISOString() })
    expect(await victim.join("lobby", "k", { id: "v1", data }, 100)).toBe(true)
    expect(await victim.join("lobby", "k", { id: "v2", data }, 100)).toBe(true)
    for (const events of on) await waitFor(() => events.length === 2, 5000, "the victim's members' joins")
    const live = await clientAt(nodes[0]?.port as number)
    live.topics.lobby("k").subscribe(() => {})
    for (const events of on) await waitFor(() => events.length === 3, 5000, "a live member's join")

    const killed = performance.now()
    victim.close()
    await connections.close()
    for (const events of on) await waitFor(() => events.length === 5, NODE_TTL_MS * 1.2 + 1000, "the leaves")
    // The bound: the liveness key lapses within 1.2 × nodeTtlMs; then one round trip for the sweep.
    expect(performance.now() - killed).toBeLessThan(NODE_TTL_MS * 1.2 + 1000)
    for (const events of on) expect(events.slice(3).sort()).toEqual(["leave v1", "leave v2"])
    for (const node of nodes) expect(idsOf(await node.server.topics.lobby("k").presence())).toEqual([live.sessionId])
    expect(await redis.command("EXISTS", `${prefix}presence-node:victim`)).toBe(0)
  })

  it("the sweep of a gone node removes its members once, however many nodes run it", async () => {
    const prefix = `sweep${++clusters}:`
    const made = [0, 1, 2].map(() => new RedisConnections(redis.url, connectionOptions))
    for (const c of made) {
      c.start()
      cleanup.push(() => c.close())
    }
    await waitFor(() => made.every((c) => c.up), 5000, "the connections")
    const [dead, one, two] = made.map((c, i) => new RedisPresence(c, `p${i}`, prefix, 1000, undefined)) as [
      RedisPresence,
      RedisPresence,
      RedisPresence,
    ]
    const changes: string[] = []
    one.watch("lobby", "k", (change) => changes.push(`${change.kind} ${change.entry.id}`))
    expect(await one.list("lobby", "k")).toEqual([])
    await dead.join("lobby", "k", { id: "d1", data: "1" }, 10)
    await two.join("lobby", "k", { id: "t1", data: "2" }, 10)
    await dead.join("lobby", "k", { id: "d2", data: "3" }, 10)
    await dead.join("lobby", "other", { id: "d1", data: "1" }, 10)
    await waitFor(() => changes.length === 3, 5000, "three joins")
    expect((await two.list("lobby", "k")).map((e) => e.id)).toEqual(["d1", "t1", "d2"])

    const [first, second] = await Promise.all([one.sweep("p0"), two.sweep("p0")])
    expect(first + second).toBe(3)
    await waitFor(() => changes.length === 5, 5000, "the two leaves of lobby(k)")
    expect(changes.slice(3).sort()).toEqual(["leave d1", "leave d2"])
    expect(await two.list("lobby", "k")).toEqual([{ id: "t1", data: "2" }])
    expect(await two.list("lobby", "other")).toEqual([])
    expect(await redis.command("EXISTS", `${prefix}presence:5:lobby:other`)).toBe(0)
    // A member taken over by another node (joined there again, same data) is that node's: not swept.
    await two.join("lobby", "k", { id: "x", data: "4" }, 10)
    await one.join("lobby", "k", { id: "x", data: "4" }, 10)
    expect(await one.sweep("p2")).toBe(1)
    await waitFor(() => changes.includes("leave t1"), 5000, "t1's leave")
    expect(changes.slice(5)).toEqual(["join x", "leave t1"])
    expect((await one.list("lobby", "k")).map((e) => e.id)).toEqual(["x"])
    for (const p of [dead, one, two]) p.close()
  })
})
