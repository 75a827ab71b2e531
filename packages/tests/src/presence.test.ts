import { createClient } from "@switchyard/client-browser/all"
import type { Client, PresenceMember, SwitchyardError } from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import {
  createServer,
  type Handlers,
  type MemoryCluster,
  memoryCluster,
  type PresenceEvent,
  type Server,
  type ServerLimits,
} from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { connected, testClientOptions } from "./support/harnesses.ts"

/**
 * Presence across nodes (docs/presence.md): three servers in one process, nodes of one
 * `memoryCluster()` (which shares one in-process presence bus), as three nodes share Redis. Members of
 * every node are listed everywhere, joins and leaves reach subscribers on every node, and the members of
 * a node that dies are gone within the bound (here: as soon as the others hear it is gone).
 */

type Lobby = Client<TestContract>
type Member = PresenceMember<{ name: string; since: Date }>

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

interface Node {
  readonly server: Server<TestContract>
  readonly url: string
  readonly errors: unknown[]
}

async function startNode(
  cluster: MemoryCluster,
  nodeId: string,
  limits: Partial<ServerLimits> = {},
  handlers: Handlers<TestContract> = testHandlers({ aborted: new Set() } satisfies TestServerState) as never,
  port = 0,
): Promise<Node> {
  const errors: unknown[] = []
  const server = createServer(TestContract, handlers, {
    broker: cluster.broker(nodeId),
    // A node's close hands its sessions over for handOverGraceMs, then ends those nobody took.
    limits: { handOverGraceMs: 100, ...limits },
    onError: (error) => errors.push(error),
  })
  const listening = await server.listen(port, "127.0.0.1")
  cleanup.push(() => server.close())
  return { server, url: `http://127.0.0.1:${listening.port}/switchyard`, errors }
}

async function clientOf(node: Node): Promise<Lobby> {
  const client = createClient(TestContract, {
    url: node.url,
    transports: ["websocket"],
    WebSocket,
    ...testClientOptions,
  })
  cleanup.push(() => client.close())
  return connected(client)
}

/** Subscribes to `lobby(key)` with join/leave listeners that record `join <id>` / `leave <id>`. */
function watch(client: Lobby, key: string, events: string[], errors: SwitchyardError[] = []): () => void {
  return client.topics.lobby(key).subscribe(() => {}, {
    onError: (error) => errors.push(error),
    presence: { join: (m) => events.push(`join ${m.id}`), leave: (m) => events.push(`leave ${m.id}`) },
  })
}

/** Subscribes and waits until the session is listed. */
async function join(client: Lobby, node: Node, key: string): Promise<() => void> {
  const off = client.topics.lobby(key).subscribe(() => {})
  await waitFor(() => node.server.topics.lobby(key).subscribers === 1, 5000, "the subscription")
  return off
}

const ids = (members: readonly Member[]) => members.map((m) => m.id).sort()

describe("presence across three nodes sharing one presence bus", () => {
  it("lists every node's members everywhere and tells joins and leaves on every node", async () => {
    const bus = memoryCluster()
    const [n1, n2, n3] = await Promise.all([startNode(bus, "n1"), startNode(bus, "n2"), startNode(bus, "n3")])
    if (!n1 || !n2 || !n3) throw new Error("three nodes")
    const [a, b, c] = await Promise.all([clientOf(n1), clientOf(n2), clientOf(n3)])
    if (!a || !b || !c) throw new Error("three clients")
    const heard: PresenceEvent<{ name: string; since: Date }>[] = []
    cleanup.push(n3.server.topics.lobby("k").onPresence((event) => heard.push(event)))

    const events: string[] = []
    watch(a, "k", events)
    await waitFor(() => events.length === 1, 5000, "a's own join")
    const offB = await join(b, n2, "k")
    const offC = await join(c, n3, "k")
    await waitFor(() => events.length === 3, 5000, "the joins of b and c, made on other nodes")
    expect(events).toEqual([`join ${a.sessionId}`, `join ${b.sessionId}`, `join ${c.sessionId}`])

    const all = [a.sessionId, b.sessionId, c.sessionId].sort()
    for (const node of [n1, n2, n3]) expect(ids(await node.server.topics.lobby("k").presence())).toEqual(all)
    expect(ids(await b.topics.lobby("k").presence())).toEqual(all)
    const onN2 = (await n2.server.topics.lobby("k").presence()).find((m) => m.id === b.sessionId)
    expect(onN2?.data).toEqual({ name: `k:${b.sessionId}`, since: new Date(0) })

    offC()
    await waitFor(() => events.length === 4, 5000, "c's leave")
    await b.close()
    await waitFor(() => events.length === 5, 5000, "b's leave when its session ended")
    expect(events.slice(3)).toEqual([`leave ${c.sessionId}`, `leave ${b.sessionId}`])
    expect(ids(await n3.server.topics.lobby("k").presence())).toEqual([a.sessionId])
    // The app on n3 heard the same changes, with decoded data, from whichever node made them.
    expect(heard.map((e) => `${e.kind} ${e.member.id}`)).toEqual([
      `join ${a.sessionId}`,
      `join ${b.sessionId}`,
      `join ${c.sessionId}`,
      `leave ${c.sessionId}`,
      `leave ${b.sessionId}`,
    ])
    expect(heard[0]?.member.data.since).toBeInstanceOf(Date)
    void offB
  })

  it("removes the members of a node that died, and tells their leaves on the other nodes", async () => {
    const bus = memoryCluster()
    const [n1, n2, n3] = await Promise.all([startNode(bus, "n1"), startNode(bus, "n2"), startNode(bus, "n3")])
    if (!n1 || !n2 || !n3) throw new Error("three nodes")
    const [a, b1, b2, c] = await Promise.all([clientOf(n1), clientOf(n2), clientOf(n2), clientOf(n3)])
    if (!a || !b1 || !b2 || !c) throw new Error("four clients")
    const events: string[] = []
    watch(a, "k", events)
    b1.topics.lobby("k").subscribe(() => {})
    b2.topics.lobby("k").subscribe(() => {})
    c.topics.lobby("k").subscribe(() => {})
    await waitFor(() => events.length === 4, 5000, "four joins")
    const heard: string[] = []
    cleanup.push(n3.server.topics.lobby("k").onPresence((e) => void heard.push(`${e.kind} ${e.member.id}`)))

    // n2 dies: the others hear it is gone (on Redis: once its liveness key expired) and drop its entries.
    bus.nodes.kill("n2")
    // As soon as they hear it: the memory bus tells them on the next turn of the event loop, and the
    // leaves are told on it (not by anything slower, such as n2's sessions ending).
    await new Promise((resolve) => setImmediate(resolve))
    expect(heard.sort()).toEqual([`leave ${b1.sessionId}`, `leave ${b2.sessionId}`].sort())
    await waitFor(() => events.length === 6, 5000, "the leaves of n2's members")
    expect(events.slice(4).sort()).toEqual([`leave ${b1.sessionId}`, `leave ${b2.sessionId}`].sort())
    expect(ids(await n3.server.topics.lobby("k").presence())).toEqual([a.sessionId, c.sessionId].sort())
    expect(ids(await c.topics.lobby("k").presence())).toEqual([a.sessionId, c.sessionId].sort())
  })
})

describe("presence limits and hooks", () => {
  it("subscribes past maxPresencePerKey without listing: messages arrive, no join, no leave", async () => {
    const bus = memoryCluster()
    const node = await startNode(bus, "n1", { maxPresencePerKey: 2 })
    const [a, b, c] = await Promise.all([clientOf(node), clientOf(node), clientOf(node)])
    if (!a || !b || !c) throw new Error("three clients")
    const events: string[] = []
    watch(a, "full", events)
    await waitFor(() => events.length === 1, 5000, "a's join")
    const offB = await join(b, node, "full")
    await waitFor(() => events.length === 2, 5000, "b's join")
    const got: string[] = []
    const offC = c.topics.lobby("full").subscribe((m) => got.push(m))
    await waitFor(() => node.server.topics.lobby("full").subscribers === 3, 5000, "c's subscription")
    node.server.topics.lobby("full").publish("hello")
    await waitFor(() => got.length === 1, 5000, "the message to the unlisted subscriber")
    expect(ids(await c.topics.lobby("full").presence())).toEqual([a.sessionId, b.sessionId].sort())
    offC()
    offB()
    await waitFor(() => events.length === 3, 5000, "b's leave")
    expect(events).toEqual([`join ${a.sessionId}`, `join ${b.sessionId}`, `leave ${b.sessionId}`])
  })

  it("refuses the subscription when the presence hook fails or its data breaks the schema", async () => {
    const bus = memoryCluster()
    const base = testHandlers({ aborted: new Set() })
    const handlers = {
      ...base,
      topics: {
        ...base.topics,
        lobby: {
          presence: (key: string) => {
            if (key === "throws") throw new Error("no data for you")
            return key === "async" ? Promise.resolve({ name: "late", since: new Date(5) }) : { name: 42 }
          },
        },
      },
    }
    const node = await startNode(bus, "n1", {}, handlers as never)
    const client = await clientOf(node)
    const errors: SwitchyardError[] = []
    const events: string[] = []
    watch(client, "throws", events, errors)
    watch(client, "invalid", events, errors)
    await waitFor(() => errors.length === 2, 5000, "both refusals")
    expect(errors.map((e) => e.code).sort()).toEqual(["INTERNAL_ERROR", "INVALID_OUTPUT"])
    expect(node.errors).toHaveLength(2)
    expect(await node.server.topics.lobby("invalid").presence()).toEqual([])
    // An async hook: the member is listed once it resolves, with the subscription confirmed after.
    watch(client, "async", events, errors)
    await waitFor(() => events.length === 1, 5000, "the join of an async hook's member")
    expect(await node.server.topics.lobby("async").presence()).toEqual([
      { id: client.sessionId, data: { name: "late", since: new Date(5) } },
    ])
  })

  it("tells a subscriber what changed while its session was lost, as joins and leaves", async () => {
    const bus = memoryCluster()
    const n1 = await startNode(bus, "n1")
    const n2 = await startNode(bus, "n2")
    const a = await clientOf(n1)
    const b = await clientOf(n2)
    const events: string[] = []
    watch(a, "k", events)
    await waitFor(() => events.length === 1, 5000, "a's join")
    const before = a.sessionId
    // n1 restarts on the same port: its sessions end (a's member leaves), a's client starts a new
    // session there, renews its subscription and asks again for the members.
    const renewed = new Promise<void>((resolve) => a.on("session", (s) => s.id !== before && resolve()))
    const port = Number(new URL(n1.url).port)
    await n1.server.close()
    const offB = await join(b, n2, "k")
    await startNode(bus, "n1-again", {}, undefined, port)
    await renewed
    await waitFor(() => events.length === 4, 5000, "the changes made while a's session was lost")
    expect(events.slice(1).sort()).toEqual([`join ${a.sessionId}`, `join ${b.sessionId}`, `leave ${before}`].sort())
    offB()
    await waitFor(() => events.length === 5, 5000, "b's leave, live again")
    expect(events[4]).toBe(`leave ${b.sessionId}`)
  })
})
