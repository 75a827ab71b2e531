import { setTimeout as pause } from "node:timers/promises"
import { waitFor } from "@switchyard/core/testing"
import { RedisConnections, RedisNodes, redisBroker } from "@switchyard/redis"
import { memoryNodes, type NodeBus, type NodeMessage } from "@switchyard/server-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runNodeBusSuite } from "./support/nodeBusSuite.ts"
import { RedisServer } from "./support/redisServer.ts"

/**
 * The node bus contract (support/nodeBusSuite.ts) against `memoryNodes()` and against `RedisNodes` on a
 * real redis-server: three nodes in this process, each with connections of its own, as separate
 * processes would have. The Redis nodes run with a 1 s liveness TTL, so that a killed one is gone
 * within 1.2 s, and reconnect within 100 ms.
 */

runNodeBusSuite(
  "memoryNodes()",
  async () => {
    const cluster = memoryNodes()
    const nodes: NodeBus[] = []
    return {
      node: (id) => {
        const node = cluster.nodes(id)
        nodes.push(node)
        return node
      },
      kill: async (node) => cluster.kill(node.nodeId),
      deathBoundMs: 0,
      close: async () => {
        await Promise.all(nodes.map((node) => node.close()))
      },
    }
  },
  { engine: false },
)

let redis: RedisServer
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterAll(async () => {
  await redis[Symbol.asyncDispose]()
})

const NODE_TTL_MS = 1000
let clusters = 0

runNodeBusSuite(
  "RedisNodes",
  async () => {
    const keyPrefix = `nodes${++clusters}:`
    const nodes = new Map<NodeBus, RedisConnections>()
    let count = 0
    return {
      node: (id) => {
        // A PING waits behind a burst's 18,000 messages on a loaded machine: 1 s, not 0.5 s, before it counts as lost.
        const connections = new RedisConnections(redis.url, {
          pingIntervalMs: 200,
          pingTimeoutMs: 1000,
          backoffMs: [20, 100],
        })
        const node = new RedisNodes(connections, id ?? `n${++count}`, keyPrefix, {
          unavailableAfterMs: 1000,
          nodeTtlMs: NODE_TTL_MS,
          ownerTtlMs: 60_000,
        })
        nodes.set(node, connections)
        return node
      },
      // As SIGKILL: its connections go, it says nothing (its liveness key lapses).
      kill: async (node) => {
        await nodes.get(node)?.close()
      },
      deathBoundMs: NODE_TTL_MS * 1.2,
      async restart(during) {
        const all = [...nodes.values()]
        const down = Promise.all(all.map((c) => until(c, false)))
        await redis.stop()
        await down
        during()
        // Down longer than a node's TTL: every liveness key would have lapsed, had Redis kept them.
        await pause(NODE_TTL_MS * 1.3)
        const up = Promise.all(all.map((c) => until(c, true)))
        await redis.start()
        await up
      },
      close: async () => {
        for (const [node, connections] of nodes) {
          await node.close()
          await connections.close()
        }
      },
    }
  },
  { engine: true },
)

describe("redisBroker().nodes", () => {
  it("is a node bus on the broker's own connections, with the node id given or a random one", async () => {
    const a = redisBroker({ url: redis.url, keyPrefix: "broker:", nodeId: "a_1" })
    const b = redisBroker({ url: redis.url, keyPrefix: "broker:" })
    const an = a.nodes as NodeBus
    const bn = b.nodes as NodeBus
    expect(an.nodeId).toBe("a_1")
    expect(bn.nodeId).toMatch(/^node-[0-9a-f]{8}$/)
    const got: Array<[string, NodeMessage]> = []
    await an.start(() => {})
    await bn.start((from, message) => got.push([from, message]))
    await waitFor(() => an.alive(bn.nodeId) && bn.alive("a_1"), 3000, "each alive for the other")
    an.send(bn.nodeId, { t: "hi", n: 1 })
    await waitFor(() => got.length === 1, 3000, "the message")
    expect(got).toEqual([["a_1", { t: "hi", n: 1 }]])
    await a.close()
    await waitFor(() => !bn.alive("a_1"), 3000, "a gone")
    await b.close()
  })
})

/** Resolves when `connections` are up (or down), within 5 s. */
function until(connections: RedisConnections, up: boolean): Promise<void> {
  if (connections.up === up) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connections not ${up ? "up" : "down"} within 5 s`)), 5000)
    const off = connections.onState((event) => {
      if (event.up !== up) return
      clearTimeout(timer)
      off()
      resolve()
    })
  })
}
