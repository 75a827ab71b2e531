import { createClient } from "@switchyard/client-browser/all"
import { type Client, SwitchyardError } from "@switchyard/core"
import { TestContract, waitFor } from "@switchyard/core/testing"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { ClusterNodes } from "./support/cluster/nodes.ts"
import { RoundRobinProxy } from "./support/cluster/roundRobin.ts"
import { within } from "./support/fleet.ts"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"

/**
 * The node processes of the many-node tests (support/cluster/nodes.ts): each a Switchyard server in its
 * own Node process, answering a Node client, stopped gracefully, killed and restarted on its port.
 */

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function client(url: string, connectTimeoutMs = 2000): Client<TestContract> {
  const c = createClient(TestContract, {
    url,
    transports: ["websocket"],
    WebSocket,
    reconnect: fastReconnect,
    connectTimeoutMs,
    negotiation: { storage: freshStorage() },
  })
  cleanup.push(() => c.close())
  return c
}

describe("Switchyard nodes as processes", () => {
  // Each step has its own bound; the whole (four process starts, a stop and a kill) took up to 21 s under load.
  it("start, answer RPCs and publish, stop gracefully, die and restart on the same port", {
    timeout: 90_000,
  }, async () => {
    const cluster = await ClusterNodes.start(2)
    cleanup.push(() => cluster[Symbol.asyncDispose]())
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]]
    expect(a.port).not.toBe(b.port)
    expect(a.pid).not.toBe(process.pid)

    const onA = client(a.url)
    expect(await within(onA.rpc.add({ a: 1, b: 2 }), 5000, "add on a")).toBe(3)
    // The node reports its runs over IPC, after the answer may have left.
    await waitFor(() => a.runs.get("2:1") === 1, 5000, "a to report the run")
    // Server-side publish and subscriber counts, over IPC.
    const seen: number[] = []
    onA.topics.feed("k").subscribe((n) => seen.push(n))
    await waitFor(() => a.subscribers("feed", "k") === 1, 5000, "the subscription on a")
    a.publish("feed", "k", 7)
    await waitFor(() => seen.length === 1, 5000, "the message")
    expect(seen).toEqual([7])

    // Graceful: SIGTERM runs server.close(), which ends the session (no broker: nobody takes it over).
    const onB = client(b.url)
    expect(await within(onB.rpc.add({ a: 2, b: 2 }), 5000, "add on b")).toBe(4)
    const ended = new Promise<unknown>((resolve) => onB.on("error", resolve))
    expect(await b.stop()).toBe(0)
    expect(b.running).toBe(false)
    expect(await within(ended, 5000, "b's client to hear the server close")).toBeInstanceOf(SwitchyardError)

    // SIGKILL: no goodbye; the client is left reconnecting.
    const port = a.port
    await a.kill()
    expect(a.running).toBe(false)
    expect(a.exits).toBe(1)
    await waitFor(() => onA.state === "reconnecting", 5000, "a's client to notice")

    // Restarted on the same port: the client's reconnect reaches it (a new session) and calls work again.
    await a.restart()
    expect(a.port).toBe(port)
    await waitFor(() => onA.state === "connected", 10_000, "a's client to reconnect")
    expect(await within(onA.rpc.add({ a: 5, b: 2 }), 5000, "add on the restarted a")).toBe(7)
    await b.restart()
    expect(await within(client(b.url).rpc.add({ a: 1, b: 1 }), 5000, "add on the restarted b")).toBe(2)
    expect(cluster.runs().get("2:1")).toBe(1)
  })

  it("behind the round-robin proxy, clients are dealt across the nodes", async () => {
    const cluster = await ClusterNodes.start(2)
    cleanup.push(() => cluster[Symbol.asyncDispose]())
    const proxy = await RoundRobinProxy.start(cluster.ports)
    cleanup.push(() => proxy[Symbol.asyncDispose]())
    // Each client connects once: an attempt given up on a loaded node process and made again would be
    // dealt to the next node in turn (its connect timeout is past the calls' deadline).
    const clients = [0, 1, 2, 3].map(() => client(`${proxy.url}/switchyard`, 20_000))
    const sums = await within(
      Promise.all(clients.map((c, i) => c.rpc.add({ a: 10, b: i }))),
      10_000,
      "a call from each client",
    )
    expect(sums).toEqual([10, 11, 12, 13])
    for (const port of cluster.ports) expect(proxy.dealt.get(port)?.upgrades).toBe(2)
    await waitFor(() => cluster.nodes.every((n) => n.runs.size === 2), 5000, "two runs reported by each node")
  })
})
