import { waitFor } from "@switchyard/core/testing"
import { memoryCluster } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import { follow, publishRange, RawPeer, range, startNode } from "./support/topicNodes.ts"

/**
 * Topics across nodes on `memoryCluster()` (docs/scaling.md#topics-across-nodes): three servers in this
 * process share topics; a publication on any node reaches every subscriber on every node once, in one
 * order, and a subscription renewed on another node recovers from the shared history.
 */

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

describe("topics across nodes (memoryCluster)", () => {
  it("a publication on node A reaches subscribers on A, B and C exactly once, in order", async () => {
    const cluster = memoryCluster()
    const nodes = [
      await startNode(cluster.broker(), cleanup),
      await startNode(cluster.broker(), cleanup),
      await startNode(cluster.broker(), cleanup),
    ]
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    const followers = nodes.flatMap((node) => [follow(node, "k", cleanup), follow(node, "k", cleanup)])
    await waitFor(() => nodes.every((n) => n.server.topics.feed("k").subscribers === 2), 5000, "subscriptions")
    await publishRange(a, "k", 1, 50)
    // A client on B publishes too: its PUBLISH goes through the cluster like the server's.
    const publisher = follow(b, "k", cleanup)
    await waitFor(() => b.server.topics.feed("k").subscribers === 3, 5000, "the publisher's subscription")
    for (const n of range(51, 60)) await publisher.client.topics.feed("k").publish(n)
    await publishRange(a, "k", 61, 100)
    // The publisher subscribed late (from 51 on): it is done when it has 100 too.
    await waitFor(
      () => followers.every((f) => f.got.length >= 100) && publisher.got.at(-1) === 100,
      5000,
      "every delivery",
    )
    for (const f of [...followers, publisher]) expect(f.got.slice(-40)).toEqual(range(61, 100))
    for (const f of followers) {
      expect(f.got).toEqual(range(1, 100))
      expect(f.errors).toEqual([])
    }
  })

  it("a subscription renewed in a new session on another node recovers the missed publications from history", async () => {
    const cluster = memoryCluster()
    const a = await startNode(cluster.broker(), cleanup)
    const b = await startNode(cluster.broker(), cleanup)
    const onA = await RawPeer.open(a.url, cleanup)
    const [, epoch] = await onA.subscribe("k", null)
    await publishRange(a, "k", 1, 3)
    await waitFor(() => onA.messages("k").length === 3, 5000, "the first messages")
    await publishRange(b, "k", 4, 8)

    // A new session on B, renewing from offset 3 of A's epoch: the same stream, so it is replayed 4…8.
    const onB = await RawPeer.open(b.url, cleanup)
    expect(await onB.subscribe("k", [3, epoch])).toEqual([3, epoch, true])
    await publishRange(a, "k", 9, 9)
    await waitFor(() => onB.messages("k").length === 6, 5000, "the replay and the live message")
    expect(onB.messages("k")).toEqual(range(4, 9).map((n) => [n, n]))
    // Once the key is idle on every node, its history lives on for topicHistoryTtlMs, shared.
    expect(await onB.subscribe("other", [0, epoch])).toEqual([0, expect.any(String), false])
  })

  it("each server without a cluster keeps its topics to itself (the default broker)", async () => {
    const { memoryBroker } = await import("@switchyard/server-node")
    const a = await startNode(memoryBroker(), cleanup)
    const b = await startNode(memoryBroker(), cleanup)
    const onA = follow(a, "k", cleanup)
    const onB = follow(b, "k", cleanup)
    await waitFor(
      () => a.server.topics.feed("k").subscribers + b.server.topics.feed("k").subscribers === 2,
      5000,
      "subs",
    )
    await publishRange(a, "k", 1, 2)
    await waitFor(() => onA.got.length === 2, 5000, "A's messages")
    await publishRange(b, "k", 7, 7)
    await waitFor(() => onB.got.length === 1, 5000, "B's message")
    expect(onA.got).toEqual([1, 2])
    expect(onB.got).toEqual([7])
  })
})
