import type { SwitchyardError } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { redisBroker } from "@switchyard/redis"
import type { BrokerEvent } from "@switchyard/server-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
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
afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
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
