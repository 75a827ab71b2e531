import { createClient } from "@switchyard/client-browser/all"
import { TestContract, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, memoryCluster, type NodeMessage } from "@switchyard/server-node"
import { expect, it } from "vitest"
import WebSocket from "ws"
import { RoundRobinProxy } from "./support/cluster/roundRobin.ts"
import { countingHandlers, type Runs } from "./support/counting.ts"
import { testClientOptions } from "./support/harnesses.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

/**
 * Found by the cluster soak under CPU starvation (issue 11, docs/scaling.md): a node that hands a session
 * over put it back when the new owner's "adopted" had not reached it within `takeOverTimeoutMs`, though
 * the new owner had adopted it in time (its own deadline had not passed) and was serving the client. Two
 * nodes then held the session: the old one a stale copy, which resumed the client when a later connection
 * landed there, with its older count of the client's frames, so that the client sent again calls the
 * other node had already run. Here n2's "adopted" reaches n1 a second late, as from a starved node, or never
 * (n1 then asks n2 again, every `takeOverTimeoutMs`, rather than putting the session back).
 */
for (const [what, late] of [
  ["comes a second late", (send: () => void) => setTimeout(send, 1000)],
  ["is lost on the way", (_send: () => void) => undefined],
] as const) {
  it(`a session whose new owner's confirmation ${what} stays with the new owner alone, and no call runs twice`, async () => {
    const cluster = memoryCluster()
    const runs: Runs = new Map()
    const handlers = countingHandlers(runs) as unknown as Handlers<TestContract>
    const timers: Array<ReturnType<typeof setTimeout> | undefined> = []
    const servers = ["n1", "n2"].map((id) => {
      const broker = cluster.broker(id)
      const bus = broker.nodes
      if (bus && id === "n2") {
        const send = bus.send.bind(bus)
        let first = true
        bus.send = (to: string, message: NodeMessage) => {
          if (message.t !== "adopted" || !first) return send(to, message)
          first = false
          timers.push(late(() => send(to, message)))
        }
      }
      return createServer(TestContract, handlers, {
        limits: { takeOverTimeoutMs: 300, handOverGraceMs: 300, resumeWindowMs: 10_000 },
        onError: () => {},
        broker,
      })
    })
    const ports = await Promise.all(servers.map(async (s) => (await s.listen(0, "127.0.0.1")).port))
    await using balancer = await RoundRobinProxy.start(ports)
    await using proxy = await TcpProxy.start(balancer.port)
    const client = createClient(TestContract, {
      url: `http://127.0.0.1:${proxy.port}/switchyard`,
      transports: ["websocket"],
      WebSocket,
      ...testClientOptions,
    })
    try {
      await waitFor(() => client.state === "connected", 5000, "the client on n1")
      const sessionId = client.sessionId
      expect(servers.map((s) => s.sessionCount)).toEqual([1, 0])
      expect(await client.rpc.add({ a: 1, b: 0 })).toBe(1)
      // The next connection goes to n2, which takes the session over; n1 hears of it late, or not at all.
      proxy.drop()
      await waitFor(() => servers[1]?.sessionCount === 1 && client.state === "connected", 5000, "the client on n2")
      expect(client.sessionId).toBe(sessionId)
      for (let a = 2; a <= 5; a++) expect(await client.rpc.add({ a, b: 0 })).toBe(a)
      // Past n1's take-over timeout and the late "adopted" (or n1 asking again): the session is n2's alone.
      await new Promise((resolve) => setTimeout(resolve, 1200))
      expect(servers.map((s) => s.sessionCount)).toEqual([0, 1])
      // The next connection lands on n1 again, which takes the session over from n2 (not a stale copy).
      proxy.drop()
      await waitFor(() => servers[0]?.sessionCount === 1 && client.state === "connected", 5000, "the client on n1")
      expect(client.sessionId).toBe(sessionId)
      expect(await client.rpc.add({ a: 6, b: 0 })).toBe(6)
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect([...runs].filter(([, n]) => n > 1)).toEqual([])
      expect(runs.size).toBe(6)
    } finally {
      for (const timer of timers) clearTimeout(timer)
      await client.close()
      await Promise.all(servers.map((s) => s.close()))
    }
  })
}
