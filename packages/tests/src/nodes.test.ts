import { setTimeout as pause } from "node:timers/promises"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { type NodeMessageError, RedisConnections, RedisNodes, redisBroker } from "@switchyard/redis"
import { createServer, type Handlers, memoryNodes, type NodeBus, type NodeMessage } from "@switchyard/server-node"
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

describe("bad node messages on Redis", () => {
  const connections = () =>
    new RedisConnections(redis.url, { pingIntervalMs: 200, pingTimeoutMs: 1000, backoffMs: [20, 100] })
  const timings = { unavailableAfterMs: 1000, nodeTtlMs: 1000, ownerTtlMs: 60_000 }

  it("are refused or reported, never thrown: a stray publisher, another version, a handler that throws", async () => {
    const [ca, cb] = [connections(), connections()]
    const a = new RedisNodes(ca, "a", "bad1:", timings)
    const b = new RedisNodes(cb, "b", "bad1:", timings)
    const got: NodeMessage[] = []
    const errors: NodeMessageError[] = []
    b.onError((error) => errors.push(error))
    await b.start((_from, message) => {
      if (message.t === "boom") throw new Error("a snapshot of another shape")
      got.push(message)
    })
    await a.start(() => {})
    await waitFor(() => a.alive("b") && b.alive("a"), 3000, "each alive for the other")
    // Something else publishing on the key prefix, and a node of a later version of the node protocol.
    await redis.command("PUBLISH", "bad1:n:b", "hello")
    await redis.command("PUBLISH", "bad1:node-events", "+")
    await redis.command("PUBLISH", "bad1:n:b", "v2 c x y 1 m {}")
    await redis.command("PUBLISH", "bad1:n:b", "v2 c x y 2 m {}")
    a.send("b", { t: "boom" })
    a.send("b", { t: "ok" })
    await waitFor(() => got.length === 1, 3000, "the good message after the bad ones")
    expect(got).toEqual([{ t: "ok" }])
    expect(errors.map((e) => e.code)).toEqual([
      "NODE_MESSAGE_REFUSED",
      "NODE_MESSAGE_REFUSED",
      "NODE_MESSAGE_REFUSED",
      "NODE_MESSAGE_FAILED",
    ])
    expect(errors[2]?.message).toContain("version v2 from c; this node speaks v1")
    expect(errors[3]?.message).toBe("node message boom from a failed: a snapshot of another shape")
    expect([b.counts.refused, b.alive("a")]).toEqual([5, true])
    await a.close()
    await b.close()
    await ca.close()
    await cb.close()
  })

  it("reach the server's onError through redisBroker()", async () => {
    const reported: unknown[] = []
    const state: TestServerState = { aborted: new Set() }
    const server = createServer(TestContract, testHandlers(state) as unknown as Handlers<TestContract>, {
      broker: redisBroker({ url: redis.url, keyPrefix: "bad2:", nodeId: "s1" }),
      onError: (error) => void reported.push(error),
    })
    try {
      // Once the node listens on its channel.
      const deadline = performance.now() + 3000
      const subscribers = async () => ((await redis.command("PUBSUB", "NUMSUB", "bad2:n:s1")) as unknown[])[1]
      while (Number(await subscribers()) !== 1 && performance.now() < deadline) await pause(20)
      await redis.command("PUBLISH", "bad2:n:s1", "not a node message")
      await waitFor(() => reported.length === 1, 3000, "the error reported")
      expect((reported[0] as NodeMessageError).code).toBe("NODE_MESSAGE_REFUSED")
    } finally {
      await server.close()
    }
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
