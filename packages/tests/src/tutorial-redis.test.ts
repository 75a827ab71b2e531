import { waitFor } from "@switchyard/core/testing"
import { type Cluster, startCluster } from "@switchyard/example-redis/cluster"
import type { Note } from "@switchyard/example-redis/contract"
import { connectMember } from "@switchyard/example-redis/member"
import { afterAll, beforeAll, expect, it } from "vitest"
import { RedisServer } from "./support/redisServer.ts"

/**
 * The Redis tutorial (docs/tutorial-redis.md) end to end: the example's two nodes on a real redis-server
 * behind its round-robin balancer, and two of its Node members, ada on WebSocket and bob on long polling
 * (whose every request the balancer deals to the next node). What the tutorial promises: a note posted on
 * one node reaches a subscriber on the other; each lists the other in the board's presence; and when
 * ada's node stops, her session moves to the other node with every note and her place in the list.
 */

let redis: RedisServer
let cluster: Cluster
const cleanup: Array<() => Promise<void>> = []

beforeAll(async () => {
  redis = await RedisServer.start()
  cluster = await startCluster({ redisUrl: redis.url })
})

afterAll(async () => {
  for (const step of cleanup.reverse()) await step()
  // Each goodbye reaches its node before the nodes close: a node closing with sessions would wait to hand them over.
  await waitFor(() => cluster.nodes.every((n) => n.switchyard.sessionCount === 0), 5000, "the sessions to end")
  await cluster?.close()
  await redis?.[Symbol.asyncDispose]()
})

it("two nodes on Redis: notes and presence cross nodes, and a stopped node's client resumes on the other", async () => {
  const ada = connectMember({ url: cluster.url, name: "ada", transports: ["websocket"] })
  const bob = connectMember({ url: cluster.url, name: "bob", transports: ["long-polling"] })
  cleanup.push(
    () => ada.close(),
    () => bob.close(),
  )
  const adaReasons: string[] = []
  ada.on("transport", (_transport, reason) => void adaReasons.push(reason))

  // The balancer deals ada's WebSocket to one node and bob's opening request to the other.
  const adaNode = await ada.rpc.whereAmI({})
  const bobNode = await bob.rpc.whereAmI({})
  expect(new Set([adaNode, bobNode])).toEqual(new Set(["a", "b"]))
  // Bob's requests go round the nodes: the one that does not hold his link relays them to the one that does.
  expect([...cluster.balancer.dealt.values()].every((count) => count > 0)).toBe(true)

  const heardByAda: Note[] = []
  const adaSees = new Set<string>()
  const bobSees = new Set<string>()
  const bobSawLeave: string[] = []
  const adaOff = ada.topics.board("lobby").subscribe((note) => void heardByAda.push(note), {
    presence: { join: (m) => void adaSees.add(m.data.name), leave: (m) => void adaSees.delete(m.data.name) },
  })
  const bobOff = bob.topics.board("lobby").subscribe(() => {}, {
    presence: {
      join: (m) => void bobSees.add(m.data.name),
      leave: (m) => {
        bobSees.delete(m.data.name)
        bobSawLeave.push(m.data.name)
      },
    },
  })
  await Promise.all([adaOff.ready, bobOff.ready])

  // Presence across nodes: each lists both, whichever node holds whom.
  await waitFor(() => adaSees.size === 2 && bobSees.size === 2, 5000, "both members listed on both nodes")
  expect([...adaSees].sort()).toEqual(["ada", "bob"])
  expect([...bobSees].sort()).toEqual(["ada", "bob"])

  // A note posted on bob's node reaches ada, subscribed on the other node.
  expect(await bob.rpc.post({ board: "lobby", text: "hello from the other node" })).toEqual({
    author: "bob",
    text: "hello from the other node",
    node: bobNode,
  })
  await waitFor(() => heardByAda.length === 1, 5000, "ada to hear bob")
  expect(heardByAda[0]).toEqual({ author: "bob", text: "hello from the other node", node: bobNode })

  // Ada's node stops while bob keeps posting: her session moves to bob's node, and she misses nothing.
  const adaSession = ada.sessionId
  expect(adaSession).toBeDefined()
  const posting = (async () => {
    for (let i = 1; i <= 20; i++) await bob.rpc.post({ board: "lobby", text: `note ${i}` })
  })()
  const stopped = cluster.nodes.find((node) => node.name === adaNode)
  await stopped?.close()
  await posting
  await waitFor(() => heardByAda.length === 21, 8000, "ada to hear all 20 notes")
  expect(heardByAda.slice(1).map((note) => note.text)).toEqual(Array.from({ length: 20 }, (_, i) => `note ${i + 1}`))
  expect(await ada.rpc.whereAmI({})).toBe(bobNode)
  expect(adaReasons).toEqual(["connected", "resumed"])
  expect(ada.sessionId).toBe(adaSession)
  // She stayed listed throughout: no leave, and both still list both.
  expect(bobSawLeave).toEqual([])
  expect([...bobSees].sort()).toEqual(["ada", "bob"])
  expect((await ada.topics.board("lobby").presence()).map((m) => m.data.name).sort()).toEqual(["ada", "bob"])
})
