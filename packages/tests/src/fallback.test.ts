import { createClient, type StorageLike } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import type { TransportId } from "@switchyard/core"
import { parseMemory } from "@switchyard/core/negotiation"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { EventSource } from "eventsource"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { type ChaosOptions, ChaosProxy } from "./support/chaosProxy.ts"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A server behind a chaos proxy with `options`; clients connect through the proxy. */
async function behind(options: ChaosOptions) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, { onError: () => {} })
  const { port } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  const proxy = await ChaosProxy.start(port, options)
  cleanup.push(() => proxy[Symbol.asyncDispose]())
  return { server, proxy, url: `${proxy.url}/switchyard` }
}

/** What the storage remembers as failed now. */
function failedIn(storage: { readonly map: Map<string, string> }): TransportId[] {
  const [text] = [...storage.map.values()]
  const memory = parseMemory(text)
  return (Object.keys(memory.failed) as TransportId[]).filter((id) => (memory.failed[id] ?? 0) > Date.now()).sort()
}

/**
 * A client with every transport and default negotiation settings; times its first RPC, and says where the
 * session stood when it was answered: its moves so far, and the transports remembered as failed.
 */
async function negotiate(url: string, storage: StorageLike & { readonly map: Map<string, string> }, label: string) {
  const created = performance.now()
  const client = createClient(TestContract, {
    url,
    WebSocket,
    EventSource,
    fetch: nodeFetch(),
    reconnect: fastReconnect,
    negotiation: { storage },
  })
  cleanup.push(() => client.close())
  const switches: Array<[TransportId, string]> = []
  client.on("transport", (name, reason) => switches.push([name, reason]))
  expect(await client.rpc.add({ a: 40, b: 2 })).toBe(42)
  const firstRpc = { switches: [...switches], failed: failedIn(storage) }
  const firstRpcMs = performance.now() - created
  console.log(`${label}: first RPC answered ${firstRpcMs.toFixed(0)} ms after createClient, on ${client.transport}`)
  return { client, switches, firstRpc }
}

describe("fallback through a hostile network", () => {
  it("WebSocket blocked: the first RPC does not wait for it, and the session settles on SSE", async () => {
    const { proxy, url } = await behind({ blockUpgrades: "403" })
    const storage = freshStorage()
    const { client, switches, firstRpc } = await negotiate(url, storage, "WebSocket blocked")
    // Answered on long polling, where the session started, before the probes moved it.
    expect(firstRpc.switches).toEqual([["long-polling", "connected"]])
    await waitFor(() => client.transport === "sse", 10_000, "the move to SSE")
    expect(switches).toEqual([
      ["long-polling", "connected"],
      ["sse", "upgrade"],
    ])
    expect(proxy.stats.refusedUpgrades).toBeGreaterThan(0)
    expect(failedIn(storage)).toEqual(["websocket"])
    expect(await client.rpc.add({ a: 1, b: 1 })).toBe(2)

    // The next page load remembers: straight to SSE, and no new attempt at the blocked WebSocket.
    const refused = proxy.stats.refusedUpgrades
    const again = await negotiate(url, storage, "WebSocket blocked, second load")
    expect(again.switches).toEqual([["sse", "connected"]])
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(proxy.stats.refusedUpgrades).toBe(refused)
  })

  it("WebSocket blocked and event streams buffered: it settles on long polling", async () => {
    const { client, switches, firstRpc, storage } = await (async () => {
      const { url } = await behind({ blockUpgrades: "reset", bufferStreams: true })
      const storage = freshStorage()
      return { ...(await negotiate(url, storage, "SSE buffered")), storage }
    })()
    // Answered on long polling while the SSE probe still waited for its echo: the call did not wait for it.
    expect(firstRpc.switches).toEqual([["long-polling", "connected"]])
    expect(firstRpc.failed).not.toContain("sse")
    // Both probes fail (the buffered one by its 3 s timeout) and the session never leaves long polling.
    await waitFor(() => failedIn(storage).length === 2, 10_000, "both probes to fail")
    expect(failedIn(storage)).toEqual(["sse", "websocket"])
    expect(client.transport).toBe("long-polling")
    expect(switches).toEqual([["long-polling", "connected"]])
    expect(await client.rpc.add({ a: 2, b: 3 })).toBe(5)
  })

  it("held requests cut as well: it falls back to polling", async () => {
    const { url } = await behind({ blockUpgrades: "403", bufferStreams: true, cutHeldAfterMs: 300 })
    const storage = freshStorage()
    const { client, switches, firstRpc } = await negotiate(url, storage, "held requests cut")
    // Answered on long polling, before the fall back (a link cut meanwhile resumes there: the cuts are timed).
    expect(firstRpc.switches[0]).toEqual(["long-polling", "connected"])
    expect(firstRpc.switches.map(([name]) => name)).toEqual(firstRpc.switches.map(() => "long-polling"))
    await waitFor(() => client.transport === "polling", 15_000, "the fall back to polling")
    expect(switches[0]).toEqual(["long-polling", "connected"])
    expect(switches.at(-1)).toEqual(["polling", "fallback"])
    expect(failedIn(storage)).toContain("long-polling")
    // It stays there, and works: a few rounds of calls over more than one cut interval.
    for (let i = 0; i < 5; i++) {
      expect(await client.rpc.add({ a: i, b: i })).toBe(2 * i)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(client.transport).toBe("polling")
    expect(client.state).toBe("connected")
  })
})
