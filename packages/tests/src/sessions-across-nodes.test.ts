import { connect } from "node:net"
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
    const owner = cluster.sessionCounts.indexOf(1)
    for (let i = 0; i < 5; i++) cluster.nodes[0]?.server.topics.feed("k").publish(i)
    await waitFor(() => got.length === 5, 5000, "the first messages")
    cluster.proxy.drop()
    for (let i = 5; i < 10; i++) cluster.nodes[0]?.server.topics.feed("k").publish(i)
    await waitFor(() => client.state === "connected" && got.length === 10, 5000, "the resume elsewhere")
    expect(client.sessionId).toBe(sessionId)
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(cluster.sessionCounts.reduce((a, b) => a + b)).toBe(1)
    expect(cluster.sessionCounts.indexOf(1)).not.toBe(owner)
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
  })
})

describe("work in flight across nodes", () => {
  it("a call in flight across a take-over resolves once, on the new owner's link", async () => {
    await using cluster = await SessionClusterFixture.start()
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const pending = client.rpc.delayed({ ms: 300, value: 7 })
    const stream: number[] = []
    const streaming = (async () => {
      for await (const n of client.streams.countdown({ from: 3 })) stream.push(n)
    })()
    await new Promise((resolve) => setTimeout(resolve, 50))
    cluster.proxy.drop()
    expect(await pending).toBe(7)
    await streaming
    expect(stream).toEqual([3, 2, 1, 0])
    expect(client.sessionId).toBe(sessionId)
    expect(await client.rpc.add({ a: 2, b: 2 })).toBe(4)
  })

  it("a session taken over twice still gets what its first node was running", async () => {
    await using cluster = await SessionClusterFixture.start()
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const answers: number[] = []
    const pending = client.rpc.delayed({ ms: 600, value: 11 }).then((v) => void answers.push(v))
    for (let move = 0; move < 2; move++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      cluster.proxy.drop()
      await waitFor(() => client.state === "connected", 5000, "the resume")
    }
    await pending
    expect(answers).toEqual([11])
    expect(client.sessionId).toBe(sessionId)
    // The answer came through the second owner to the third: the session is held by one node only.
    expect(cluster.sessionCounts.reduce((a, b) => a + b)).toBe(1)
  })

  it("a CANCEL for a call left on the previous node reaches it", async () => {
    await using cluster = await SessionClusterFixture.start()
    const client = await cluster.client("websocket")
    const abort = new AbortController()
    const pending = client.rpc.hang({ tag: "moved" }, { signal: abort.signal }).catch((e: { code?: string }) => e.code)
    await new Promise((resolve) => setTimeout(resolve, 50))
    cluster.proxy.drop()
    await waitFor(() => client.state === "connected", 5000, "the resume")
    abort.abort()
    expect(await pending).toBe("CANCELLED")
    await waitFor(() => cluster.state.aborted.has("moved"), 3000, "the handler to see the cancel")
  })
})

describe("HTTP requests of one link on any node", () => {
  it("long polling: requests dealt to every node are relayed to the link's node; the session never moves", async () => {
    await using cluster = await SessionClusterFixture.start()
    const client = await cluster.client("long-polling")
    const sessionId = client.sessionId
    for (let i = 0; i < 6; i++) expect(await client.rpc.add({ a: i, b: 1 })).toBe(i + 1)
    expect(client.sessionId).toBe(sessionId)
    expect(cluster.sessionCounts.filter((n) => n === 1)).toHaveLength(1)
    for (const node of cluster.nodes) {
      const dealt = cluster.balancer.dealt.get(node.port)
      expect((dealt?.requests ?? 0) + (dealt?.upgrades ?? 0)).toBeGreaterThan(1)
    }
  })
})

describe("a node's life", () => {
  it("closed gracefully with calls in flight: the session moves on, each result reaches the client once", async () => {
    await using cluster = await SessionClusterFixture.start({ serverLimits: { handOverGraceMs: 5000 } })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const owner = cluster.nodes.find((n) => n.server.sessionCount === 1)
    if (!owner) throw new Error("no owner")
    const got: number[] = []
    client.topics.feed("g").subscribe((n) => void got.push(n))
    await waitFor(() => owner.server.topics.feed("g").subscribers === 1, 3000, "the subscription")
    const results: number[] = []
    const calls = [1, 2, 3].map((v) =>
      client.rpc.delayed({ ms: 200 + v * 50, value: v }).then((r) => void results.push(r)),
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    const recovered: boolean[] = []
    client.on("session", (session) => void recovered.push(session.recovered))
    cluster.balancer.out(owner.port)
    const closing = owner.server.close()
    owner.server.topics.feed("g").publish(1)
    await Promise.all(calls)
    await closing
    owner.server.topics.feed("g").publish(2)
    await waitFor(() => got.length === 2, 3000, "the messages")
    expect(results.sort()).toEqual([1, 2, 3])
    expect(got).toEqual([1, 2])
    expect(client.sessionId).toBe(sessionId)
    expect(client.state).toBe("connected")
    expect(recovered).toEqual([true])
    expect(await client.rpc.add({ a: 1, b: 1 })).toBe(2)
  })

  it("closed gracefully: it stops listening at once, so that a balancer deals new connections to the others meanwhile", async () => {
    await using cluster = await SessionClusterFixture.start({ serverLimits: { handOverGraceMs: 5000 } })
    const client = await cluster.client("websocket")
    const owner = cluster.nodes.find((n) => n.server.sessionCount === 1)
    if (!owner) throw new Error("no owner")
    // A call that runs on the closing node as a ghost for a while keeps it handing over.
    const pending = client.rpc.delayed({ ms: 1000, value: 5 })
    await new Promise((resolve) => setTimeout(resolve, 50))
    let closed = false
    const closing = owner.server.close().then(() => {
      closed = true
    })
    await waitFor(() => client.state === "connected" && owner.server.sessionCount === 0, 3000, "the session moved")
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(owner.port, "127.0.0.1")
      socket.once("connect", () => {
        socket.destroy()
        resolve("connected")
      })
      socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    })
    expect(closed).toBe(false)
    expect(refused).toBe("ECONNREFUSED")
    expect(await pending).toBe(5)
    await closing
  })

  it("killed abruptly: calls it was running reject SESSION_LOST once, and the client gets a new session elsewhere", async () => {
    await using cluster = await SessionClusterFixture.start()
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const owner = cluster.nodes.find((n) => n.server.sessionCount === 1)
    if (!owner) throw new Error("no owner")
    const outcomes: string[] = []
    const calls = [1, 2].map((v) =>
      client.rpc.delayed({ ms: 2000, value: v }).then(
        () => void outcomes.push("resolved"),
        (e: { code?: string }) => void outcomes.push(e.code ?? "?"),
      ),
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    cluster.kill(owner.id)
    await Promise.all(calls)
    expect(outcomes).toEqual(["SESSION_LOST", "SESSION_LOST"])
    await waitFor(() => client.state === "connected", 5000, "the new session")
    expect(client.sessionId).not.toBe(sessionId)
    expect(owner.server.sessionCount + 0).toBeGreaterThanOrEqual(0)
    expect(await client.rpc.add({ a: 3, b: 4 })).toBe(7)
  })

  it("killed abruptly while running calls for a session that moved: the new owner answers them SESSION_LOST once", async () => {
    await using cluster = await SessionClusterFixture.start()
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const first = cluster.nodes.find((n) => n.server.sessionCount === 1)
    if (!first) throw new Error("no owner")
    const outcomes: string[] = []
    const ticks: number[] = []
    const call = client.rpc.delayed({ ms: 3000, value: 1 }).then(
      () => void outcomes.push("resolved"),
      (e: { code?: string }) => void outcomes.push(e.code ?? "?"),
    )
    const stream = (async () => {
      for await (const n of client.streams.ticks({ tag: "ghost", intervalMs: 20 })) ticks.push(n)
    })().catch((e: { code?: string }) => void outcomes.push(`stream:${e.code}`))
    await waitFor(() => ticks.length > 2, 3000, "the first ticks")
    cluster.proxy.drop()
    await waitFor(() => client.state === "connected" && first.server.sessionCount === 0, 5000, "the take-over")
    const seen = ticks.length
    await waitFor(() => ticks.length > seen + 2, 3000, "ticks forwarded from the ghost")
    cluster.kill(first.id)
    await call
    await stream
    expect(outcomes.sort()).toEqual(["SESSION_LOST", "stream:SESSION_LOST"])
    expect(client.sessionId).toBe(sessionId)
    expect(ticks).toEqual(ticks.map((_, i) => i))
  })
})
