import { setTimeout as pause } from "node:timers/promises"
import { RedisConnections, RedisTopics } from "@switchyard/redis"
import type { TopicSink } from "@switchyard/server-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RedisServer } from "./support/redisServer.ts"

/** What Redis keeps for topic keys (docs/scaling.md#what-redis-holds), on a real redis-server. */

let redis: RedisServer
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterAll(async () => {
  await redis[Symbol.asyncDispose]()
})

const HISTORY_TTL_MS = 60_000
const META_TTL_MS = 24 * 3_600_000

describe("topic keys in Redis", () => {
  it("a key only read (any key a client names) keeps its meta for the history TTL, not a day", async () => {
    const connections = new RedisConnections(redis.url, {
      pingIntervalMs: 200,
      pingTimeoutMs: 1000,
      backoffMs: [20, 100],
    })
    const sink = {
      history: () => ({ topicHistorySize: 100, topicHistoryTtlMs: HISTORY_TTL_MS }),
      deliver: () => {},
    } as unknown as TopicSink
    const topics = new RedisTopics(connections, sink, "n1", "keys1:", {
      unavailableAfterMs: 1000,
      metaTtlMs: META_TTL_MS,
    })
    connections.start()
    try {
      await connections.command.ready(3000)
      const meta = (key: string) => `keys1:topic:4:feed:${key}:meta`
      // Subscribe/unsubscribe loops over made-up keys: each read makes a meta.
      for (let i = 0; i < 20; i++) {
        topics.listen("feed", `made-up-${i}`)
        await topics.read("feed", `made-up-${i}`, null)
        topics.unlisten("feed", `made-up-${i}`)
      }
      const ttls = await Promise.all(Array.from({ length: 20 }, (_, i) => redis.command("PTTL", meta(`made-up-${i}`))))
      for (const ttl of ttls) expect(Number(ttl)).toBeGreaterThan(0)
      for (const ttl of ttls) expect(Number(ttl)).toBeLessThanOrEqual(HISTORY_TTL_MS)
      // A key with publications keeps its epoch for the meta TTL, read or not.
      topics.listen("feed", "used")
      await topics.publish("feed", "used", "1")
      await topics.read("feed", "used", null)
      expect(Number(await redis.command("PTTL", meta("used")))).toBeGreaterThan(HISTORY_TTL_MS)
    } finally {
      topics.close()
      await connections.close()
    }
  })

  it("a key nobody published on keeps its meta while a node listens to it, however quiet", async () => {
    const connections = new RedisConnections(redis.url, {
      pingIntervalMs: 200,
      pingTimeoutMs: 1000,
      backoffMs: [20, 100],
    })
    const sink = {
      history: () => ({ topicHistorySize: 100, topicHistoryTtlMs: 600 }),
      deliver: () => {},
    } as unknown as TopicSink
    const topics = new RedisTopics(connections, sink, "n1", "keys2:", {
      unavailableAfterMs: 1000,
      metaTtlMs: META_TTL_MS,
    })
    connections.start()
    try {
      await connections.command.ready(3000)
      topics.listen("feed", "quiet")
      const { epoch } = await topics.read("feed", "quiet", null)
      // Three history TTLs without a publication: the subscribers' epoch must still be the key's.
      await pause(1800)
      expect(await redis.command("HGET", "keys2:topic:4:feed:quiet:meta", "e")).toBe(epoch)
      topics.unlisten("feed", "quiet")
    } finally {
      topics.close()
      await connections.close()
    }
  })
})
