import { waitFor } from "@switchyard/core/testing"
import { redisBroker } from "@switchyard/redis"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { RedisServer } from "./support/redisServer.ts"
import { follow, range, startNode } from "./support/topicNodes.ts"

/**
 * Bugs of issue 11 found by running the transport contract suite on node processes over Redis
 * (contract.cluster.redis.*.test.ts), each pinned here on servers in this process and a real redis-server.
 */

let redis: RedisServer
const cleanup: Array<() => unknown> = []
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})
afterAll(async () => {
  await redis[Symbol.asyncDispose]()
})

let prefixes = 0
/** Brokers of one cluster: a key prefix of its own. */
function cluster() {
  const keyPrefix = `o${++prefixes}:`
  return () => redisBroker({ url: redis.url, keyPrefix })
}

describe("issue 11: ordering on Redis", () => {
  it("a node's publishes keep their order on a Redis that has not seen the publish script yet", async () => {
    // A fresh Redis has no script: an EVALSHA refused NOSCRIPT was sent again as EVAL after its answer,
    // behind the node's later publishes, which then took earlier offsets.
    const broker = cluster()
    await redis.command("SCRIPT", "FLUSH")
    const subscriberNode = await startNode(broker(), cleanup)
    const follower = follow(subscriberNode, "k", cleanup)
    await waitFor(() => subscriberNode.server.topics.feed("k").subscribers === 1, 5000, "the subscription")
    await redis.command("SCRIPT", "FLUSH")
    const publisher = await startNode(broker(), cleanup)
    // Bursts over several ticks: the later ones go out while the answers to the first come back.
    const taken: Promise<void>[] = []
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 1; i <= 10; i++) taken.push(publisher.server.topics.feed("k").publish(burst * 10 + i))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all(taken)
    await waitFor(() => follower.got.length === 200, 5000, "every publication")
    expect(follower.got).toEqual(range(1, 200))
    expect(follower.errors).toEqual([])
  })

  it("`subscribers` counts a subscription once it has started, so a publish after it is delivered", async () => {
    // It counted a subscription as soon as the SUBSCRIBE came, while the node still asked Redis where the
    // key's stream stood: a publish from another node in between came before the subscription's start.
    const broker = cluster()
    const node = await startNode(broker(), cleanup)
    const publisher = await startNode(broker(), cleanup)
    const follower = follow(node, "warm-up", cleanup)
    await waitFor(() => node.server.topics.feed("warm-up").subscribers === 1, 5000, "the client")
    redis.pause()
    cleanup.push(() => redis.resume())
    const got: number[] = []
    follower.client.topics.feed("k").subscribe((n) => got.push(n))
    // Frames of one connection are taken in order: once this call is answered, the SUBSCRIBE was.
    expect(await follower.client.rpc.add({ a: 1, b: 1 })).toBe(2)
    expect(node.server.topics.feed("k").subscribers).toBe(0)
    redis.resume()
    await waitFor(() => node.server.topics.feed("k").subscribers === 1, 5000, "the subscription")
    await publisher.server.topics.feed("k").publish(1)
    await waitFor(() => got.length === 1, 5000, "the publication")
    expect(got).toEqual([1])
    expect(follower.errors).toEqual([])
  })

  it("a subscription without positions (an unreliable topic) counts once the node listens to its key", async () => {
    // It was answered and counted at once, while the node's SUBSCRIBE to the key's channel was still on
    // its way to Redis: a publish in between was never delivered to it.
    const broker = cluster()
    const node = await startNode(broker(), cleanup)
    const publisher = await startNode(broker(), cleanup)
    const follower = follow(node, "warm-up", cleanup)
    await waitFor(() => node.server.topics.feed("warm-up").subscribers === 1, 5000, "the client")
    redis.pause()
    cleanup.push(() => redis.resume())
    const got: number[] = []
    follower.client.topics.cursor("k").subscribe((n) => got.push(n))
    expect(await follower.client.rpc.add({ a: 1, b: 1 })).toBe(2)
    expect(node.server.topics.cursor("k").subscribers).toBe(0)
    redis.resume()
    await waitFor(() => node.server.topics.cursor("k").subscribers === 1, 5000, "the subscription")
    await publisher.server.topics.cursor("k").publish(1)
    await waitFor(() => got.length === 1, 5000, "the publication")
    expect(got).toEqual([1])
  })
})
