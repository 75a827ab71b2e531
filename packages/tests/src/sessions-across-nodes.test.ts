import { waitFor } from "@switchyard/core/testing"
import { describe, expect, it } from "vitest"
import { SessionClusterFixture } from "./support/sessionCluster.ts"

describe("sessions across nodes (memoryNodes, 3 servers behind a round robin)", () => {
  it("a WebSocket that reconnects to another node resumes its session there: nothing lost, nothing repeated", async () => {
    await using cluster = await SessionClusterFixture.start()
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const got: number[] = []
    client.topics.feed("k").subscribe((n) => void got.push(n))
    await waitFor(() => cluster.nodes[0]?.server.topics.feed("k").subscribers === 1, 3000, "the subscription")
    const owner = cluster.sessionCounts.findIndex((n) => n === 1)
    for (let i = 0; i < 5; i++) cluster.nodes[0]?.server.topics.feed("k").publish(i)
    await waitFor(() => got.length === 5, 5000, "the first messages")
    cluster.proxy.drop()
    for (let i = 5; i < 10; i++) cluster.nodes[0]?.server.topics.feed("k").publish(i)
    await waitFor(() => client.state === "connected" && got.length === 10, 5000, "the resume elsewhere")
    expect(client.sessionId).toBe(sessionId)
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(cluster.sessionCounts.reduce((a, b) => a + b)).toBe(1)
    expect(cluster.sessionCounts.findIndex((n) => n === 1)).not.toBe(owner)
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
  })
})
