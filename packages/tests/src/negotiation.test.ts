import { createServer as createHttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { createClient, type NegotiationOptions, type StorageLike } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import { type Client, control, FrameType, type TransportId } from "@switchyard/core"
import { parseMemory } from "@switchyard/core/negotiation"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type ServerOptions } from "@switchyard/server-node"
import { EventSource } from "eventsource"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"
import { latch } from "./support/latch.ts"
import { listenOn } from "./support/listenOn.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function start(options: ServerOptions = {}) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
    onError: () => {},
    ...options,
  })
  const { url, port } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return { server, url, port }
}

/**
 * A server whose WebSocket upgrades wait until `release()`: it serves on an HTTP server of the test's, whose
 * `upgrade` listeners (the server's) are called once released, for what came before and after.
 */
async function startHoldingUpgrades() {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, { onError: () => {} })
  const http = createHttpServer()
  server.attach(http)
  const upgrades = http.listeners("upgrade") as Array<(...args: unknown[]) => void>
  http.removeAllListeners("upgrade")
  const { opened, open } = latch()
  let upgradesAsked = 0
  http.on("upgrade", (...args: unknown[]) => {
    upgradesAsked++
    void opened.then(() => {
      for (const f of upgrades) f.apply(http, args)
    })
  })
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  cleanup.push(async () => {
    await server.close()
    http.closeAllConnections()
    await new Promise((resolve) => http.close(resolve))
  })
  return {
    server,
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/switchyard`,
    release: open,
    /** WebSocket upgrades asked for so far, held or not. */
    upgrades: () => upgradesAsked,
  }
}

/** Every transport, as a Node app would configure it, and a log of the switches. */
function negotiatingClient(
  url: string,
  storage: StorageLike,
  fetch = nodeFetch(),
  negotiation: NegotiationOptions = {},
) {
  const client = createClient(TestContract, {
    url,
    WebSocket,
    EventSource,
    fetch,
    reconnect: fastReconnect,
    negotiation: { ...negotiation, storage },
  })
  cleanup.push(() => client.close())
  const switches: Array<{ name: TransportId; reason: string; at: number }> = []
  client.on("transport", (name, reason) => switches.push({ name, reason, at: performance.now() }))
  return { client, switches }
}

function count<T>(list: readonly T[], value: T): number {
  return list.filter((x) => x === value).length
}

/** Counts the negotiate requests a client makes. */
function countingFetch() {
  const inner = nodeFetch()
  const counted = { negotiate: 0 }
  const fetch: typeof globalThis.fetch = (input, init) => {
    if (String(input).includes("negotiate=1")) counted.negotiate++
    return inner(String(input), init)
  }
  return { fetch, counted }
}

describe("negotiation", () => {
  it("starts on long polling, then moves to WebSocket by its first probe under steady traffic, nothing lost or repeated", async () => {
    // Its upgrades wait until answers and messages came on long polling: the move is made under traffic.
    const { server, url, release, upgrades } = await startHoldingUpgrades()
    // The server publishes from before the client exists: the client must see one unbroken run of
    // messages from its subscription on, across the switch.
    let published = 0
    const publisher = setInterval(() => {
      for (let i = 0; i < 5; i++) server.topics.feed("k").publish(++published)
    }, 2)
    const created = performance.now()
    // Long, so that a move that waited out a probe's timeout could not pass for a quick one.
    const probeTimeoutMs = 10_000
    const storage = freshStorage()
    const { client, switches } = negotiatingClient(url, storage, undefined, { probeTimeoutMs })
    const messages: number[] = []
    const on = (list: Array<TransportId | undefined>) => () => list.push(client.transport)
    const messagesOn: Array<TransportId | undefined> = []
    client.topics.feed("k").subscribe((n) => {
      messages.push(n)
      on(messagesOn)()
    })
    // Steady traffic from the first moment: RPCs one after another (the first is sent before the client
    // has connected), and the server publishing.
    const results: Array<[number, number]> = []
    const resultsOn: Array<TransportId | undefined> = []
    let calling = true
    const caller = (async () => {
      for (let i = 0; calling; i++) {
        results.push([i, await client.rpc.add({ a: i, b: 1000 })])
        on(resultsOn)()
      }
    })()
    await waitFor(
      () => count(resultsOn, "long-polling") >= 2 && count(messagesOn, "long-polling") >= 2,
      5000,
      "traffic on long polling",
    )
    release()
    await waitFor(() => switches.some((s) => s.reason === "upgrade"), probeTimeoutMs + 5000, "the upgrade")
    // Keep the traffic going across and after the switch, then stop and let everything arrive.
    await waitFor(
      () => count(resultsOn, "websocket") > 100 && count(messagesOn, "websocket") > 250,
      10_000,
      "traffic after the upgrade",
    )
    clearInterval(publisher)
    calling = false
    await caller
    await waitFor(() => messages.at(-1) === published, 5000, "every message")

    const connected = switches[0]
    const upgrade = switches[1]
    console.log(
      `negotiation: first transport ${connected?.name} after ${Math.round((connected?.at ?? 0) - created)} ms; ` +
        `upgrade to ${upgrade?.name} ${Math.round((upgrade?.at ?? 0) - (connected?.at ?? 0))} ms later; ` +
        `${results.length} RPCs (${count(resultsOn, "long-polling")} on long polling) and ${messages.length} topic ` +
        `messages (${count(messagesOn, "long-polling")} on long polling) meanwhile`,
    )
    expect(switches.map((s) => [s.name, s.reason])).toEqual([
      ["long-polling", "connected"],
      ["websocket", "upgrade"],
    ])
    // The first WebSocket probe passed, well before it could have timed out: one upgrade was asked for.
    expect(upgrades()).toBe(1)
    expect(parseMemory([...storage.map.values()][0]).worked?.id).toBe("websocket")
    expect((upgrade?.at ?? 0) - (connected?.at ?? 0)).toBeLessThan(probeTimeoutMs)
    expect(client.transport).toBe("websocket")
    // Every call resolved once with its own answer; every message arrived once, in order.
    expect(results.map(([i, sum]) => sum - i)).toEqual(results.map(() => 1000))
    expect(results.map(([i]) => i)).toEqual(results.map((_, i) => i))
    const first = messages[0] ?? 0
    expect(messages).toEqual(Array.from({ length: published - first + 1 }, (_, i) => first + i))
    // The switch happened under the traffic: answers and messages came on each transport.
    for (const on of [resultsOn, messagesOn]) {
      expect(count(on, "long-polling")).toBeGreaterThan(0)
      expect(count(on, "websocket")).toBeGreaterThan(0)
    }
    expect(server.sessionCount).toBe(1)
  })

  it("remembers the transport that worked: the next client connects straight to it, without negotiating", async () => {
    const { url } = await start()
    const storage = freshStorage()
    const first = countingFetch()
    const a = negotiatingClient(url, storage, first.fetch)
    await waitFor(() => a.client.transport === "websocket", 5000, "the first client's upgrade")
    expect(first.counted.negotiate).toBe(1)

    const second = countingFetch()
    const b = negotiatingClient(url, storage, second.fetch)
    expect(await b.client.rpc.add({ a: 1, b: 2 })).toBe(3)
    expect(b.switches.map((s) => [s.name, s.reason])).toEqual([["websocket", "connected"]])
    expect(second.counted.negotiate).toBe(0)
  })

  it("plans from the server's offer and order, and the server refuses what it does not offer", async () => {
    const { url, port } = await start({ transports: ["sse", "long-polling"] })
    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as {
      version: number
      transports: Array<{ id: string; duplex: boolean }>
      limits: { maxMessageBytes: number }
    }
    expect(offer.version).toBe(1)
    expect(offer.transports).toEqual([
      { id: "sse", duplex: false, binary: false, ordered: true },
      { id: "long-polling", duplex: false, binary: false, ordered: true },
    ])
    expect(offer.limits.maxMessageBytes).toBe(1024 * 1024)

    const { client, switches } = negotiatingClient(url, freshStorage())
    await waitFor(() => client.transport === "sse", 5000, "the move to SSE")
    expect(switches.map((s) => [s.name, s.reason])).toEqual([
      ["long-polling", "connected"],
      ["sse", "upgrade"],
    ])
    expect(await client.rpc.add({ a: 2, b: 2 })).toBe(4)

    // Neither a WebSocket nor a polling link gets in.
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/switchyard`)
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0))
      ws.on("error", () => {})
    })
    expect(refused).toBe(400)
    const polling = await fetch(`${url}?transport=polling`, { method: "POST", body: control.hello(1, null, 0) })
    expect(polling.status).toBe(400)
  })

  it("echoes PROBEs before HELLO (a few at most), offers its transports in WELCOME, and refuses PROBE after", async () => {
    const { port } = await start()
    const ws = new WebSocket(`ws://127.0.0.1:${port}/switchyard`)
    const frames: unknown[][] = []
    ws.on("message", (data) => frames.push(JSON.parse(String(data)) as unknown[]))
    await new Promise((resolve) => ws.once("open", resolve))
    cleanup.push(async () => ws.close())
    ws.send(control.probe(7))
    await waitFor(() => frames.length === 1, 2000, "the probe's echo")
    expect(frames[0]).toEqual([FrameType.PROBE, 7])
    ws.send(control.hello(1, null, 0))
    await waitFor(() => frames.length === 2, 2000, "WELCOME")
    const welcome = frames[1] as unknown[]
    expect(welcome[0]).toBe(FrameType.WELCOME)
    expect((welcome[7] as Array<{ id: string }>).map((t) => t.id)).toEqual([
      "websocket",
      "sse",
      "long-polling",
      "polling",
    ])
    ws.send(control.probe(8))
    await waitFor(() => frames.length === 3, 2000, "the refusal")
    expect(frames[2]?.[0]).toBe(FrameType.NOTICE)
    expect(frames[2]?.[1]).toBe("INVALID_FRAME")

    // Probing for ever is not a way to hold a connection without a session.
    const prober = new WebSocket(`ws://127.0.0.1:${port}/switchyard`)
    const echoed: unknown[][] = []
    prober.on("message", (data) => echoed.push(JSON.parse(String(data)) as unknown[]))
    const closed = new Promise<number>((resolve) => prober.once("close", resolve))
    await new Promise((resolve) => prober.once("open", resolve))
    for (let i = 1; i <= 5; i++) prober.send(control.probe(i))
    expect(await closed).toBe(4002)
    expect(echoed.slice(0, 4)).toEqual([1, 2, 3, 4].map((i) => [FrameType.PROBE, i]))
    expect(echoed[4]?.[1]).toBe("HANDSHAKE_REQUIRED")
  })

  it("answers the negotiate request only for allowed origins", async () => {
    const { url } = await start({ allowedOrigins: ["http://app.example"] })
    const allowed = await fetch(`${url}?negotiate=1`, { headers: { origin: "http://app.example" } })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://app.example")
    const foreign = await fetch(`${url}?negotiate=1`, { headers: { origin: "http://evil.example" } })
    expect(foreign.status).toBe(403)
  })

  it("with one transport listed, neither negotiates nor probes", async () => {
    const { url } = await start()
    const { fetch, counted } = countingFetch()
    const client: Client<typeof TestContract> = createClient(TestContract, {
      url,
      transports: ["long-polling"],
      fetch,
      negotiation: { storage: freshStorage() },
    })
    cleanup.push(() => client.close())
    expect(await client.rpc.add({ a: 1, b: 1 })).toBe(2)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(client.transport).toBe("long-polling")
    expect(counted.negotiate).toBe(0)
  })

  it("does not hold an outage against any transport: after a restart it gets back to WebSocket", async () => {
    const first = await start()
    const storage = freshStorage()
    const { client, switches } = negotiatingClient(first.url, storage)
    await waitFor(() => client.transport === "websocket", 5000, "the upgrade")
    await first.server.close()
    // While the server is away, every transport fails to connect, over and over.
    await waitFor(() => client.state === "reconnecting", 5000, "the client to notice")
    await new Promise((resolve) => setTimeout(resolve, 300))
    const second = await listenOn(
      () => createServer(TestContract, testHandlers({ aborted: new Set() }) as never, { onError: () => {} }),
      first.port,
    )
    cleanup.push(() => second.close())
    await waitFor(() => client.transport === "websocket" && client.state === "connected", 10_000, "WebSocket again")
    expect(await client.rpc.add({ a: 5, b: 5 })).toBe(10)
    // The restarted server has no session: a new one, on whichever transport connected first, then up.
    expect(switches.some((s) => s.reason === "new session")).toBe(true)
    expect(switches.at(-1)?.name).toBe("websocket")
    // Nothing is remembered as failing: the next page load would start straight on WebSocket.
    const [memory] = [...storage.map.values()]
    expect(JSON.parse(memory ?? "{}")).toMatchObject({ worked: { id: "websocket" }, failed: {} })
  })
})
