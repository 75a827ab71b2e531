import type { SwitchyardError } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { redisBroker } from "@switchyard/redis"
import type { BrokerEvent } from "@switchyard/server-node"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { RedisServer } from "./support/redisServer.ts"
import { confirmed, follow, publishRange, RawPeer, range, startNode, type TopicNode } from "./support/topicNodes.ts"

/**
 * Topics across nodes on Redis (docs/scaling.md): three servers in this process, each with its own
 * `redisBroker` on one real redis-server, Node clients over WebSocket. Then Redis's faults: FLUSHALL
 * (a new epoch), `CLIENT KILL TYPE pubsub`, a restart, SIGSTOP for 10 s. Each prints its figures.
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

interface Watched extends TopicNode {
  readonly events: Array<BrokerEvent & { readonly at: number }>
}

let prefixes = 0
/** Three nodes of one cluster (a key prefix of their own), each recording its broker events. */
async function cluster(): Promise<[Watched, Watched, Watched]> {
  const keyPrefix = `t${++prefixes}:`
  const nodes: Watched[] = []
  for (let i = 0; i < 3; i++) {
    const node = await startNode(redisBroker({ url: redis.url, keyPrefix }), cleanup)
    const events: Watched["events"] = []
    node.server.on("broker", (event) => events.push({ ...event, at: Date.now() }))
    nodes.push({ ...node, events })
  }
  return nodes as [Watched, Watched, Watched]
}

const subscribed = (nodes: readonly TopicNode[], n: number) =>
  waitFor(() => nodes.every((node) => node.server.topics.feed("k").subscribers === n), 5000, "the subscriptions")

/** Whether `got` is in order, without duplicates, and misses nothing of `sent` unless `gaps` says so. */
function check(got: readonly number[], sent: readonly number[], errors: readonly SwitchyardError[]) {
  const gaps = errors.filter((e) => e.code === "TOPIC_GAP").length
  const missing = sent.filter((n) => !got.includes(n))
  const silent = missing.length > 0 && gaps === 0 ? missing.length : 0
  for (let i = 1; i < got.length; i++) expect(got[i] as number).toBeGreaterThan(got[i - 1] as number)
  return { gaps, missing: missing.length, silent }
}

describe("topics across nodes on Redis", () => {
  it("a publication on any node reaches subscribers on A, B and C exactly once, in order", async () => {
    const nodes = await cluster()
    const [a, b] = nodes
    const followers = nodes.flatMap((node) => [follow(node, "k", cleanup), follow(node, "k", cleanup)])
    await subscribed(nodes, 2)
    await confirmed(a, "k", followers)
    // Publishing from two nodes at once: Redis gives one order, every subscriber sees it.
    await Promise.all([publishRange(a, "k", 1, 100), publishRange(b, "k", 101, 200)])
    const publisher = follow(b, "k", cleanup)
    await waitFor(() => b.server.topics.feed("k").subscribers === 3, 5000, "the publisher's subscription")
    for (const n of range(201, 210)) await publisher.client.topics.feed("k").publish(n)
    await waitFor(() => followers.every((f) => f.got.length === 210), 5000, "every delivery").catch((e) => {
      console.log(
        followers.map((f) => [f.got.length, f.got.slice(-3), f.errors.map((x) => x.message)]),
        publisher.got,
      )
      throw e
    })
    const order = followers[0]?.got ?? []
    expect([...order].sort((x, y) => x - y)).toEqual(range(1, 210))
    for (const f of followers) {
      expect(f.got).toEqual(order)
      expect(f.errors).toEqual([])
    }
    expect(publisher.got).toEqual(range(201, 210))
  })

  it("a subscription renewed in a new session on another node recovers from the Stream", async () => {
    const [a, b] = await cluster()
    const onA = await RawPeer.open(a.url, cleanup)
    const [, epoch] = await onA.subscribe("k", null)
    await publishRange(a, "k", 1, 3)
    await waitFor(() => onA.messages("k").length === 3, 5000, "the first messages")
    await publishRange(a, "k", 4, 8)
    const onB = await RawPeer.open(b.url, cleanup)
    expect(await onB.subscribe("k", [3, epoch])).toEqual([3, epoch, true])
    await publishRange(b, "k", 9, 9)
    await waitFor(() => onB.messages("k").length === 6, 5000, "the replay and the live message")
    expect(onB.messages("k")).toEqual(range(4, 9).map((n) => [n, n]))
    // From a position the Stream no longer covers (another epoch): recovered false.
    expect((await onB.subscribe("other", [2, epoch]))[2]).toBe(false)
  })

  it("a SUBSCRIBE left (UNSUBSCRIBE) while the node waits for Redis is still answered", async () => {
    const [a] = await cluster()
    const peer = await RawPeer.open(a.url, cleanup)
    // Sent in the same tick: the node is still reading the key's position in Redis when it leaves.
    expect(await peer.subscribe("fresh", null, () => peer.unsubscribe("fresh"))).toBeNull()
    expect(a.server.topics.feed("fresh").subscribers).toBe(0)
  })

  it("publications not awaited keep their order while Redis loads the publish script (SCRIPT FLUSH)", async () => {
    const nodes = await cluster()
    const [a] = nodes
    const followers = nodes.map((node) => follow(node, "k", cleanup))
    await subscribed(nodes, 1)
    await confirmed(a, "k", followers)
    // Redis forgot the scripts (a restart, SCRIPT FLUSH): the first EVALSHAs answer NOSCRIPT while the
    // bursts after them go on, as the fan-out bench publishes (a burst per turn, nothing awaited).
    await redis.command("SCRIPT", "FLUSH")
    const published: Array<Promise<void>> = []
    for (let burst = 0; burst < 20; burst++) {
      for (let n = burst * 100 + 1; n <= burst * 100 + 100; n++) published.push(a.server.topics.feed("k").publish(n))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all(published)
    await waitFor(() => followers.every((f) => f.got.length === 2000), 10_000, "every delivery")
    for (const f of followers) {
      expect(f.got).toEqual(range(1, 2000))
      expect(f.errors).toEqual([])
    }
  })

  it("FLUSHALL: a new epoch, and the subscribers hear TOPIC_GAP (never a silent gap)", async () => {
    const nodes = await cluster()
    const [a, b] = nodes
    const followers = nodes.map((node) => follow(node, "k", cleanup))
    await subscribed(nodes, 1)
    await confirmed(a, "k", followers)
    await publishRange(a, "k", 1, 5)
    await waitFor(() => followers.every((f) => f.got.length === 5), 5000, "the first messages")
    await redis.command("FLUSHALL")
    await publishRange(b, "k", 6, 8)
    await waitFor(() => followers.every((f) => f.got.length === 8), 5000, "the messages of the new epoch")
    for (const f of followers) {
      expect(f.got).toEqual(range(1, 8))
      expect(f.recoveries).toEqual([{ recovered: false }])
      expect(f.errors.map((e) => e.code)).toEqual(["TOPIC_GAP"])
    }
    console.info(`FLUSHALL: gaps reported ${followers.length} of ${followers.length} subscribers, silent 0`)
  })
})

describe("Redis faults: detected, re-subscribed, no silent gap", () => {
  /** Waits until every node has had a `state` event after `since`; when the first and the last came. */
  async function allSaw(nodes: readonly Watched[], state: "up" | "down", since: number, timeoutMs: number) {
    const seen = () => nodes.map((n) => n.events.find((e) => e.state === state && e.at >= since)?.at)
    await waitFor(() => seen().every((at) => at !== undefined), timeoutMs, `every node ${state}`)
    const at = seen() as number[]
    return { first: Math.min(...at) - since, last: Math.max(...at) - since }
  }

  it("CLIENT KILL TYPE pubsub: detected, re-subscribed, what was published meanwhile filled from the Stream", async () => {
    const nodes = await cluster()
    const [a] = nodes
    const followers = nodes.map((node) => follow(node, "k", cleanup))
    await subscribed(nodes, 1)
    await confirmed(a, "k", followers)
    await publishRange(a, "k", 1, 20)
    const killedAt = Date.now()
    await redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    // Published at once, while no node has its pub/sub connection: only the Stream has them.
    const burst = Promise.all(range(21, 60).map((n) => a.server.topics.feed("k").publish(n)))
    const detected = await allSaw(nodes, "down", killedAt, 5000)
    const recovered = await allSaw(nodes, "up", killedAt, 10_000)
    await burst
    await publishRange(a, "k", 61, 80)
    await waitFor(() => followers.every((f) => f.got.length >= 80), 5000, "every publication")
    for (const f of followers) {
      expect(check(f.got, range(1, 80), f.errors)).toEqual({ gaps: 0, missing: 0, silent: 0 })
      expect(f.got).toEqual(range(1, 80))
    }
    console.info(
      `CLIENT KILL TYPE pubsub: detected in ${detected.first}–${detected.last} ms, up again in ${recovered.first}–${recovered.last} ms; ` +
        "40 publications made while pub/sub was lost, recovered from the Stream by every node; " +
        "each subscriber got 1…80 once and in order; gaps reported 0, silent 0",
    )
  })

  it("redis-server restarted: detected, re-subscribed, the lost history reported as TOPIC_GAP", async () => {
    const nodes = await cluster()
    const [a, b] = nodes
    const followers = nodes.map((node) => follow(node, "k", cleanup))
    await subscribed(nodes, 1)
    await confirmed(a, "k", followers)
    await publishRange(a, "k", 1, 10)
    await waitFor(() => followers.every((f) => f.got.length === 10), 5000, "the first messages")
    const stoppedAt = Date.now()
    await redis.stop()
    const detected = await allSaw(nodes, "down", stoppedAt, 5000)
    // A publish while Redis is away waits a little, then fails with a code.
    await expect(b.server.topics.feed("k").publish(11)).rejects.toMatchObject({ code: "BROKER_UNAVAILABLE" })
    await redis.start()
    const startedAt = Date.now()
    const recovered = await allSaw(nodes, "up", startedAt, 10_000)
    await publishRange(b, "k", 12, 15)
    await waitFor(() => followers.every((f) => f.got.length >= 14), 5000, "the messages after the restart")
    for (const f of followers) {
      expect(f.got).toEqual([...range(1, 10), ...range(12, 15)])
      expect(f.recoveries).toEqual([{ recovered: false }])
      expect(f.errors.map((e) => e.code)).toEqual(["TOPIC_GAP"])
    }
    console.info(
      `redis restart: detected in ${detected.first}–${detected.last} ms, up again ${recovered.first}–${recovered.last} ms after the start; ` +
        `history lost: gaps reported ${followers.length} of ${followers.length} subscribers, silent 0`,
    )
  })

  it("SIGSTOP for 10 s: detected within 5 s, local calls keep working, recovered after SIGCONT", async () => {
    const nodes = await cluster()
    const [a, b] = nodes
    const followers = nodes.map((node) => follow(node, "k", cleanup))
    await subscribed(nodes, 1)
    await confirmed(a, "k", followers)
    await publishRange(a, "k", 1, 10)
    await waitFor(() => followers.every((f) => f.got.length === 10), 5000, "the first messages")
    const pausedAt = Date.now()
    redis.pause()
    try {
      const detected = await allSaw(nodes, "down", pausedAt, 5000)
      expect(detected.last).toBeLessThan(5000)
      // Each node keeps serving its own clients: calls answer while Redis hangs.
      for (const f of followers) expect(await f.client.rpc.add({ a: 2, b: 3 })).toBe(5)
      await expect(b.server.topics.feed("k").publish(11)).rejects.toMatchObject({ code: "BROKER_UNAVAILABLE" })
      await new Promise((resolve) => setTimeout(resolve, pausedAt + 10_000 - Date.now()))
      const resumedAt = Date.now()
      redis.resume()
      const recovered = await allSaw(nodes, "up", resumedAt, 10_000)
      await publishRange(b, "k", 12, 15)
      await waitFor(() => followers.every((f) => f.got.includes(15)), 5000, "the messages after SIGCONT")
      const sent = [...range(1, 10), ...range(12, 15)]
      const results = followers.map((f) => check(f.got, sent, f.errors))
      for (const r of results) expect(r).toMatchObject({ missing: 0, silent: 0 })
      console.info(
        `SIGSTOP 10 s: detected in ${detected.first}–${detected.last} ms, up again ${recovered.first}–${recovered.last} ms after SIGCONT; ` +
          `RPCs answered during the outage; gaps reported ${results.reduce((n, r) => n + r.gaps, 0)}, silent 0`,
      )
    } finally {
      redis.resume()
    }
  }, 30_000)
})
