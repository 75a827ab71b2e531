import type { Client } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import { type ChaosOptions, ChaosProxy } from "./support/chaosProxy.ts"
import { checkedPage, servePage } from "./support/chromium.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/**
 * A page served, with the Switchyard server attached, behind a chaos proxy: the page, its requests and
 * its WebSocket share the proxy's origin. Clients in the page use the browser's own WebSocket,
 * EventSource, fetch and localStorage, and every transport (no `transports` option).
 */
async function pageBehind(options: ChaosOptions) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
  })
  cleanup.push(() => server.close())
  const site = await servePage(server, cleanup)
  const proxy = await ChaosProxy.start(site.port, options)
  cleanup.push(() => proxy[Symbol.asyncDispose]())
  const remote = await checkedPage(`${proxy.url}/`, cleanup)
  const open = () => {
    const client = remote.createClient(TestContract, `${proxy.url}/switchyard`, {
      reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
    })
    cleanup.push(() => client.close())
    const switches: Array<[string, string]> = []
    client.on("transport", (name, reason) => switches.push([name, reason]))
    return { client: client as Client<typeof TestContract>, switches }
  }
  return { server, proxy, open }
}

describe("negotiation in Chromium", () => {
  it("starts on long polling and moves to the native WebSocket, with calls and topic traffic flowing", async () => {
    const { server, open } = await pageBehind({})
    const { client, switches } = open()
    const messages: number[] = []
    client.topics.feed("k").subscribe((n) => messages.push(n))
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
    await waitFor(() => server.topics.feed("k").subscribers === 1, 5000, "the subscription")
    let published = 0
    const publisher = setInterval(() => server.topics.feed("k").publish(++published), 5)
    cleanup.push(async () => clearInterval(publisher))
    await waitFor(() => client.transport === "websocket", 5000, "the upgrade")
    const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => client.rpc.add({ a: i, b: i })))
    clearInterval(publisher)
    await waitFor(() => messages.length === published, 5000, "every message")
    expect(switches).toEqual([
      ["long-polling", "connected"],
      ["websocket", "upgrade"],
    ])
    expect(sums).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i))
    const first = messages[0] ?? 1
    expect(messages).toEqual(Array.from({ length: published - first + 1 }, (_, i) => first + i))
  })

  it("with WebSocket refused, settles on the native EventSource, and the next client remembers it", async () => {
    const { proxy, open } = await pageBehind({ blockUpgrades: "403" })
    const a = open()
    expect(await a.client.rpc.add({ a: 2, b: 2 })).toBe(4)
    await waitFor(() => a.client.transport === "sse", 10_000, "the move to SSE")
    expect(a.switches).toEqual([
      ["long-polling", "connected"],
      ["sse", "upgrade"],
    ])
    const refused = proxy.stats.refusedUpgrades
    expect(refused).toBeGreaterThan(0)
    // Another client of the same page (the same localStorage) starts on SSE and leaves WebSocket alone.
    const b = open()
    expect(await b.client.rpc.add({ a: 3, b: 3 })).toBe(6)
    expect(b.switches).toEqual([["sse", "connected"]])
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(proxy.stats.refusedUpgrades).toBe(refused)
  })
})
