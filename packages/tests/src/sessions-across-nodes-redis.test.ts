import type { TestServerState } from "@switchyard/core/testing"
import { testHandlers } from "@switchyard/core/testing"
import { redisBroker } from "@switchyard/redis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RedisServer } from "./support/redisServer.ts"
import { SessionClusterFixture } from "./support/sessionCluster.ts"

/**
 * Sessions across nodes on Redis: the scenarios of sessions-across-nodes-moves.test.ts where Redis
 * behaves unlike the in-process bus (a node's messages stop when it closes; broker reads are async).
 */
let redis: RedisServer
let prefixes = 0
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterAll(async () => {
  await redis?.[Symbol.asyncDispose]()
})

/** A fixture whose nodes share one redis-server, under a key prefix of their own. */
function onRedis(options: Parameters<typeof SessionClusterFixture.start>[0] = {}) {
  const keyPrefix = `s${++prefixes}:`
  return SessionClusterFixture.start({
    count: 2,
    ...options,
    broker: (nodeId) => redisBroker({ url: redis.url, keyPrefix, nodeId }),
  })
}

describe("sessions across nodes on Redis", () => {
  it("a client PUBLISH still deciding when its node closes gracefully is answered", async () => {
    await using cluster = await onRedis({
      serverLimits: { handOverGraceMs: 5000 },
      handlers: (state: TestServerState) => {
        const base = testHandlers(state)
        const canPublish = () => new Promise<boolean>((resolve) => setTimeout(resolve, 600, true))
        return { ...base, topics: { ...base.topics, room: { canPublish } } }
      },
    })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const owner = cluster.nodes.find((n) => n.server.sessionCount === 1)
    if (!owner) throw new Error("no owner")
    const outcome = Promise.race([
      client.topics
        .room("r")
        .publish({ user: "u", text: "t", at: new Date() })
        .then(
          () => "ok",
          (e: { code?: string }) => `error:${e.code}`,
        ),
      new Promise((resolve) => setTimeout(resolve, 4000, "unanswered")),
    ])
    await new Promise((resolve) => setTimeout(resolve, 50))
    cluster.balancer.out(owner.port)
    await owner.server.close()
    expect(await outcome).toBe("ok")
    expect(client.sessionId).toBe(sessionId)
  })
})
