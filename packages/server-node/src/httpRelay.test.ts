import { createServer, get, type IncomingMessage, type ServerResponse } from "node:http"
import { type AddressInfo, connect } from "node:net"
import { setTimeout as pause } from "node:timers/promises"
import { describe, expect, it } from "vitest"
import type { NodeMessage } from "./broker/nodeBus.ts"
import type { SessionCluster } from "./cluster.ts"
import { HttpRelay, type ServeLocal } from "./httpRelay.ts"
import { defaultLimits } from "./limits.ts"

/** What the relay uses of a cluster, with the messages it sends and a way to deliver one to it. */
function fakeCluster(nodeId: string) {
  let handler: ((from: string, m: NodeMessage) => boolean) | undefined
  const sent: Array<{ to: string; m: NodeMessage }> = []
  const cluster = {
    nodeId,
    nodes: { alive: () => true, send: (to: string, m: NodeMessage) => void sent.push({ to, m }) },
    use: (h: (from: string, m: NodeMessage) => boolean) => {
      handler = h
    },
  }
  return {
    cluster: cluster as unknown as SessionCluster,
    sent,
    deliver: (from: string, m: NodeMessage) => handler?.(from, m),
  }
}

/** Serves like SSE: keeps the response open, ends it when the request closes (as sse.ts's stop()). */
const sseLike: ServeLocal = (request: IncomingMessage, response: ServerResponse) => {
  response.writeHead(200, {})
  response.write("retry: 500\n\n")
  request.once("close", () => response.end())
}

describe("HttpRelay", () => {
  it("forgets a relayed request the client aborted (no entry left per closed SSE stream or long poll)", async () => {
    const owner = fakeCluster("a")
    const relay = new HttpRelay(owner.cluster, defaultLimits, sseLike)
    for (let rid = 1; rid <= 1000; rid++) {
      owner.deliver("b", {
        t: "http",
        rid,
        method: "GET",
        url: "/switchyard?transport=sse&link=a.x",
        headers: {},
        body: "",
      })
      owner.deliver("b", { t: "http-abort", rid })
    }
    await new Promise((resolve) => setImmediate(resolve))
    expect(relay.servingCount).toBe(0)
    // The owner answered each request's head and nothing after the abort.
    expect(owner.sent.filter(({ m }) => m.t === "http-end")).toHaveLength(0)
  })

  it("answers a relayed request as a gone link when the owner sends no first reply in time", async () => {
    // The owner never answers: its node is stuck, or the request was lost on the bus.
    const relaying = fakeCluster("b")
    const goneLink: ServeLocal = (_request, response) => {
      response.writeHead(410)
      response.end("gone")
    }
    const relay = new HttpRelay(relaying.cluster, { ...defaultLimits, takeOverTimeoutMs: 200 }, goneLink)
    const server = createServer((request, response) => {
      relay.request(request, response, new URL(request.url ?? "/", "http://x").searchParams)
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const { port } = server.address() as AddressInfo
      const started = performance.now()
      const status = await new Promise<number | string>((resolve) => {
        const hang = setTimeout(() => resolve("no answer within 2 s"), 2000)
        get(`http://127.0.0.1:${port}/switchyard?transport=long-polling&link=a.x`, (response) => {
          clearTimeout(hang)
          response.resume()
          resolve(response.statusCode ?? 0)
        })
      })
      expect(status).toBe(410)
      expect(performance.now() - started).toBeGreaterThanOrEqual(190)
      // The owner is told to drop the request, should it come late.
      expect(relaying.sent.map(({ to, m }) => [to, m.t])).toEqual([
        ["a", "http"],
        ["a", "http-abort"],
      ])
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it("acknowledges a relayed request at once, before a transport that holds its answer replies", () => {
    const owner = fakeCluster("a")
    new HttpRelay(owner.cluster, defaultLimits, () => {})
    owner.deliver("b", { t: "http", rid: 7, method: "GET", url: "/switchyard?link=a.x", headers: {}, body: "" })
    expect(owner.sent).toEqual([{ to: "b", m: { t: "http-ack", rid: 7 } }])
  })

  it("cuts a relayed stream whose client does not read once maxBufferedBytes pile up, and tells the owner", async () => {
    const relaying = fakeCluster("b")
    const relay = new HttpRelay(relaying.cluster, { ...defaultLimits, maxBufferedBytes: 64 * 1024 }, () => {})
    const server = createServer((request, response) => {
      relay.request(request, response, new URL(request.url ?? "/", "http://x").searchParams)
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as AddressInfo
    // A client that sends its request and never reads a byte.
    const socket = connect(port, "127.0.0.1")
    socket.pause()
    socket.on("error", () => {})
    socket.write("GET /switchyard?transport=sse&link=a.x HTTP/1.1\r\nhost: x\r\n\r\n")
    try {
      const deadline = performance.now() + 3000
      while (!relaying.sent.some(({ m }) => m.t === "http") && performance.now() < deadline) await pause(5)
      const rid = relaying.sent.find(({ m }) => m.t === "http")?.m.rid as number
      relaying.deliver("a", { t: "http-ack", rid })
      relaying.deliver("a", { t: "http-head", rid, status: 200, headers: { "content-type": "text/event-stream" } })
      const chunk = `data: ${"x".repeat(64 * 1024)}\n\n`
      // Up to 64 MiB, far more than the sockets' buffers hold, unless the relay cuts the stream first.
      for (let i = 0; i < 1024 && !relaying.sent.some(({ m }) => m.t === "http-abort"); i++) {
        relaying.deliver("a", { t: "http-chunk", rid, data: chunk })
        await pause(0)
      }
      expect(relaying.sent.filter(({ m }) => m.t === "http-abort")).toEqual([{ to: "a", m: { t: "http-abort", rid } }])
      // Later chunks of that stream are dropped here.
      relaying.deliver("a", { t: "http-chunk", rid, data: chunk })
      expect(relaying.sent.filter(({ m }) => m.t === "http-abort")).toHaveLength(1)
    } finally {
      socket.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
