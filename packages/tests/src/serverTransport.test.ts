import { createClient, pollingTransport } from "@switchyard/client-browser"
import { nodeFetch } from "@switchyard/client-browser/node"
import { control, FrameType, memoryTransport, transportTraits } from "@switchyard/core"
import { TestContract, testHandlers } from "@switchyard/core/testing"
import {
  answerFrames,
  createServer,
  defaultTransports,
  httpTransport,
  memoryServer,
  type ServerOptions,
  type ServerTransport,
  type TransportHost,
} from "@switchyard/server-node"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import { afterEach, describe, expect, it } from "vitest"
import { fastReconnect } from "./support/harnesses.ts"

/**
 * A transport registers through `options.transports` and nothing else: these transports are written
 * here, against the public API of `@switchyard/server-node` only, as a third party would write one.
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

/** Polling in a dozen lines: every GET takes what the link holds. Counts what the server asks of it. */
function homemadePolling() {
  const seen = { started: 0, hosts: [] as TransportHost[], gets: 0, closed: 0 }
  const inner = httpTransport("polling", transportTraits.polling, () => ({
    get(link, _request, response) {
      seen.gets++
      answerFrames(response, link.drain())
    },
    ready() {},
    closed() {},
  }))
  const transport: ServerTransport = {
    ...inner,
    start(host) {
      seen.started++
      seen.hosts.push(host)
      const running = inner.start(host)
      return {
        request: (request, response, query) => running.request?.(request, response, query) ?? false,
        close: async () => {
          seen.closed++
          await running.close()
        },
      }
    },
  }
  return { transport, seen }
}

describe("ServerTransport registration", () => {
  it("runs a transport written outside the package: offered, started once with the host, routed, closed", async () => {
    const { transport, seen } = homemadePolling()
    const server = serve({ transports: [transport], limits: { maxMessageBytes: 4096 } })
    const { url } = await server.listen(0, "127.0.0.1")
    expect(seen.started).toBe(1)
    expect(seen.hosts[0]?.limits.maxMessageBytes).toBe(4096)

    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as { transports: unknown[] }
    expect(offer.transports).toEqual([{ id: "polling", ...transportTraits.polling }])

    const client = createClient(TestContract, {
      url,
      transports: [pollingTransport({ fetch: nodeFetch(), minIntervalMs: 0, maxIntervalMs: 20 })],
      reconnect: fastReconnect,
    })
    cleanup.push(() => client.close())
    expect(await client.rpc.add({ a: 20, b: 22 })).toBe(42)
    expect(seen.gets).toBeGreaterThan(0)
    expect(server.sessionCount).toBe(1)

    await client.close()
    await server.close()
    expect(seen.closed).toBe(1)
  })

  it("registers the in-memory transport like any other, and offers it to no URL client", async () => {
    const inProcess = memoryServer()
    expect(() =>
      inProcess.accept({ send() {}, close() {} }, { transport: "memory", remoteAddress: undefined, auth: 1 }),
    ).toThrow(/not registered/)
    const server = serve({ transports: [...defaultTransports(), inProcess] })
    const { url } = await server.listen(0, "127.0.0.1")
    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as { transports: Array<{ id: string }> }
    expect(offer.transports.map((t) => t.id)).toEqual(["websocket", "sse", "long-polling", "polling"])

    const client = createClient(TestContract, {
      url: "memory:",
      transports: [memoryTransport(inProcess.accept)],
      reconnect: fastReconnect,
    })
    cleanup.push(() => client.close())
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
    expect(client.transport).toBe("memory")
    expect(() => serve({ transports: [inProcess] })).toThrow(/serves one server/)
  })

  it("offers a signalled transport first wherever it is listed, and refuses what it cannot run", async () => {
    const server = serve({ transports: ["sse", webrtcServer()] })
    const { url } = await server.listen(0, "127.0.0.1")
    const offer = (await (await fetch(`${url}?negotiate=1`)).json()) as { transports: Array<{ id: string }> }
    expect(offer.transports.map((t) => t.id)).toEqual(["webrtc", "sse"])

    expect(() => serve({ transports: [] })).toThrow(/at least one transport/)
    expect(() => serve({ transports: ["memory"] })).toThrow(/cannot offer transport "memory"/)
    expect(() => serve({ transports: [memoryServer(), memoryServer()] })).toThrow(/listed twice/)
    // The same built-in named twice is one transport, as it always was.
    const twice = serve({ transports: ["sse", "sse"] })
    const { url: twiceUrl } = await twice.listen(0, "127.0.0.1")
    const sseOnly = (await (await fetch(`${twiceUrl}?negotiate=1`)).json()) as { transports: Array<{ id: string }> }
    expect(sseOnly.transports.map((t) => t.id)).toEqual(["sse"])
  })

  it("hands a link from a host's accept to the session table: the handshake is the server's", async () => {
    let host: TransportHost | undefined
    const probe: ServerTransport = {
      id: "memory",
      offer: transportTraits.memory,
      reach: "in-process",
      start(h) {
        host = h
        return { close: async () => {} }
      },
    }
    const server = serve({ transports: ["websocket", probe] })
    const sent: string[] = []
    const events = host?.accept(
      { send: (frame) => void sent.push(frame), close() {} },
      { transport: "memory", remoteAddress: undefined, auth: undefined },
    )
    events?.frame(control.hello(1, null, 0))
    expect(JSON.parse(sent[0] ?? "[]")[0]).toBe(FrameType.WELCOME)
    expect(server.sessionCount).toBe(1)
    events?.close(1000, "done")
  })
})
