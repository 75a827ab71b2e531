import { createClient, longPollingTransport, websocketTransport } from "@switchyard/client-browser"
import { control, FrameType } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, memoryServer, type ServerOptions, type ServerTransport } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { fastReconnect, freshStorage } from "./support/harnesses.ts"
import { testSocketTransport } from "./support/testSocketClient.ts"
import { testSocketServer } from "./support/testSocketServer.ts"

/**
 * A transport of an id Switchyard has never heard of needs only its own files: its two halves
 * (support/testSocketServer.ts, support/testSocketClient.ts) are listed in `transports` on each side, and
 * the server's offer, negotiation and SIGNAL routing carry it without an edit to core.
 */

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function serve(options: ServerOptions) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
    onError: () => {},
    ...options,
  })
  cleanup.push(() => server.close())
  return server
}

describe("a transport of a new id", () => {
  it("is offered, negotiated from the offer, and where the session starts", async () => {
    const server = serve({ transports: [testSocketServer(), "long-polling"] })
    const { url } = await server.listen(0, "127.0.0.1")
    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as { transports: unknown[] }
    expect(offer.transports).toEqual([
      { id: "test-socket", duplex: true, binary: true, ordered: true },
      { id: "long-polling", duplex: false, binary: false, ordered: true },
    ])

    // Without the offer the client would start on WebSocket (startRank 40 < 45), which this server does
    // not run: it starts on test-socket because the offer names it.
    const storage = freshStorage()
    const client = createClient(TestContract, {
      url,
      transports: [websocketTransport({ WebSocket }), testSocketTransport({ WebSocket })],
      negotiation: { storage },
      reconnect: fastReconnect,
    })
    cleanup.push(() => client.close())
    const transports: string[] = []
    client.on("transport", (id) => void transports.push(id))
    expect(await client.rpc.add({ a: 20, b: 22 })).toBe(42)
    expect(client.transport).toBe("test-socket")
    expect(transports).toEqual(["test-socket"])
    // And it is remembered, so the next page load starts there at once.
    expect(JSON.parse([...storage.map.values()][0] ?? "{}").worked?.id).toBe("test-socket")
  })

  it("is probed and moved up to like a built-in one", async () => {
    const server = serve({ transports: [testSocketServer(), "long-polling"] })
    const { url } = await server.listen(0, "127.0.0.1")
    // Long polling is the likelier start (10 < 45); test-socket, ranked first, is the upgrade.
    const client = createClient(TestContract, {
      url,
      transports: [testSocketTransport({ WebSocket }), longPollingTransport()],
      negotiation: { storage: freshStorage() },
      reconnect: fastReconnect,
    })
    cleanup.push(() => client.close())
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
    await waitFor(() => client.transport === "test-socket", 5000, "the move to test-socket")
    expect(await client.rpc.add({ a: 2, b: 3 })).toBe(5)
  })

  it("routes a SIGNAL to the signalled transport it names, and one that names none to the first", async () => {
    const seen: string[] = []
    const signalled = (id: string): ServerTransport => ({
      id,
      offer: { duplex: true, binary: true, ordered: true },
      reach: "signalled",
      start: () => ({
        signal(from, attempt, kind) {
          seen.push(`${id} ${attempt} ${kind}`)
          from.reply(attempt, "end", `${id} saw it`)
        },
        close: async () => {},
      }),
    })
    const inProcess = memoryServer()
    serve({ transports: ["websocket", signalled("test-signal-a"), signalled("test-signal-b"), inProcess] })
    const sent: unknown[][] = []
    const events = inProcess.accept(
      { send: (frame) => void sent.push(JSON.parse(frame)), close() {} },
      { transport: "memory", remoteAddress: undefined, auth: undefined },
    )
    events.frame(control.hello(1, null, 0))
    events.frame(JSON.stringify([FrameType.SIGNAL, 1, 1, "end", "x", "test-signal-b"]))
    events.frame(JSON.stringify([FrameType.SIGNAL, 2, 2, "end", "x"]))
    events.frame(JSON.stringify([FrameType.SIGNAL, 3, 3, "end", "x", "test-nothing"]))
    const replies = () => sent.filter((f) => f[0] === FrameType.SIGNAL).map((f) => [f[2], f[4]])
    await waitFor(() => replies().length === 3, 2000, "three SIGNAL replies")
    expect(seen).toEqual(["test-signal-b 1 end", "test-signal-a 2 end"])
    expect(replies()).toEqual([
      [1, "test-signal-b saw it"],
      [2, "test-signal-a saw it"],
      [3, "no signalled transport test-nothing here"],
    ])
    events.close(1000, "done")
  })
})
