import { setTimeout as pause } from "node:timers/promises"
import { waitFor } from "@switchyard/core/testing"
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
    // A history TTL of 1.5 s: the node touches the meta every 0.5 s, so it stays even when a touch comes up
    // to a second late (a loaded machine); at 0.6 s, a touch 350 ms late let it expire (seen once in CI).
    const historyTtlMs = 1500
    const sink = {
      history: () => ({ topicHistorySize: 100, topicHistoryTtlMs: historyTtlMs }),
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
      await pause(3 * historyTtlMs)
      expect(await redis.command("HGET", "keys2:topic:4:feed:quiet:meta", "e")).toBe(epoch)
      topics.unlisten("feed", "quiet")
    } finally {
      topics.close()
      await connections.close()
    }
  })

  it("a read answers where the node stands when its delivery lags behind Redis, not the stream's top", async () => {
    const [c1, c2] = [1, 2].map(
      () => new RedisConnections(redis.url, { pingIntervalMs: 200, pingTimeoutMs: 1000, backoffMs: [20, 100] }),
    ) as [RedisConnections, RedisConnections]
    const delivered: number[] = []
    const sink = (into: number[]) =>
      ({
        history: () => ({ topicHistorySize: 100, topicHistoryTtlMs: 60_000 }),
        deliver: (_t: string, _k: string, _json: string, offset: number) => void into.push(offset),
      }) as unknown as TopicSink
    const timings = { unavailableAfterMs: 1000, metaTtlMs: META_TTL_MS }
    const lagging = new RedisTopics(c1, sink(delivered), "n1", "keys3:", timings)
    const other = new RedisTopics(c2, sink([]), "n2", "keys3:", timings)
    c1.start()
    c2.start()
    try {
      await Promise.all([c1.command.ready(3000), c1.subscriber.ready(3000), c2.command.ready(3000)])
      lagging.listen("feed", "k")
      const { epoch } = await lagging.read("feed", "k", null)
      await other.publish("feed", "k", "1")
      await waitFor(() => delivered.length === 1, 3000, "the first publication")
      // The node stops hearing the key's channel (its delivery lags): two more are published meanwhile.
      c1.subscriber.unsubscribe("keys3:topic:4:feed:k")
      const deadline = performance.now() + 3000
      const listeners = async () => ((await redis.command("PUBSUB", "NUMSUB", "keys3:topic:4:feed:k")) as unknown[])[1]
      while (Number(await listeners()) !== 0 && performance.now() < deadline) await pause(10)
      await other.publish("feed", "k", "2")
      await other.publish("feed", "k", "3")
      const read = await lagging.read("feed", "k", [1, epoch])
      // Given up after 2 s: the node delivered offset 1 only, and a subscriber joining now stands there.
      expect(delivered).toEqual([1])
      expect([read.offset, read.after]).toEqual([1, []])
    } finally {
      lagging.close()
      other.close()
      await c1.close()
      await c2.close()
    }
  })
})
