import { createServer, type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { waitFor } from "@switchyard/core/testing"
import { describe, expect, it } from "vitest"
import WebSocket, { WebSocketServer } from "ws"
import { ChaosProxy } from "./support/chaosProxy.ts"

/** What the target saw and holds: requests it was told to keep open, WebSocket messages, closes. */
interface Target extends AsyncDisposable {
  port: number
  /** `/hold` and `/stream` requests, left open for the test to answer. */
  held: Array<{ req: IncomingMessage; res: ServerResponse }>
  /** How many held requests closed before they were answered (the target noticed a cut). */
  heldClosed: number
  /** Server-side WebSockets, in connection order; each echoes what it gets as `echo:<message>`. */
  sockets: WebSocket[]
  socketsClosed: number
  messages: string[]
}

/**
 * A plain HTTP + `ws` server (not Switchyard): `/echo` answers with what it received, `/chunked` answers
 * in chunks with a hop-by-hop header, `/stream?type=…` sends a head and waits, `/hold` just waits.
 */
async function startTarget(): Promise<Target> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://target")
    if (url.pathname === "/echo") {
      let body = ""
      req.setEncoding("utf8")
      req.on("data", (chunk: string) => {
        body += chunk
      })
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json", "x-reply": "yes" })
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }))
      })
      return
    }
    if (url.pathname === "/chunked") {
      res.writeHead(200, { connection: "keep-alive, x-drop", "x-drop": "1", "x-keep": "1" })
      res.write("a")
      res.end("b")
      return
    }
    if (url.pathname === "/stream") {
      res.writeHead(200, { "content-type": url.searchParams.get("type") ?? "text/plain" })
      res.flushHeaders()
    }
    target.held.push({ req, res })
    res.on("close", () => {
      if (!res.writableFinished) target.heldClosed++
    })
  })
  const wss = new WebSocketServer({ server })
  wss.on("connection", (ws) => {
    target.sockets.push(ws)
    ws.on("error", () => {})
    ws.on("message", (data) => {
      target.messages.push(data.toString())
      ws.send(`echo:${data.toString()}`)
    })
    ws.on("close", () => target.socketsClosed++)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const target: Target = {
    port: (server.address() as AddressInfo).port,
    held: [],
    heldClosed: 0,
    sockets: [],
    socketsClosed: 0,
    messages: [],
    async [Symbol.asyncDispose]() {
      for (const ws of wss.clients) ws.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return target
}

/** A request seen from the client, filled in as it goes. */
interface Probe {
  status?: number
  headers?: IncomingHttpHeaders
  body: string
  ended: boolean
  error?: Error & { code?: string }
}

/** Sends a request on a fresh connection; a `body` array is sent chunk by chunk, without a Content-Length. */
function send(
  port: number,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | string[] } = {},
): Probe {
  const probe: Probe = { body: "", ended: false }
  const req = request({
    host: "127.0.0.1",
    port,
    path,
    method: init.method ?? "GET",
    headers: init.headers,
    agent: false,
  })
  req.on("error", (error) => {
    probe.error ??= error
  })
  req.on("response", (res) => {
    probe.status = res.statusCode ?? 0
    probe.headers = res.headers
    res.setEncoding("utf8")
    res.on("data", (chunk: string) => {
      probe.body += chunk
    })
    res.on("end", () => {
      probe.ended = true
    })
    res.on("error", (error) => {
      probe.error ??= error
    })
    res.on("close", () => {
      if (!res.complete) probe.error ??= new Error("the response was cut short")
    })
  })
  for (const chunk of Array.isArray(init.body) ? init.body : []) req.write(chunk)
  req.end(typeof init.body === "string" ? init.body : undefined)
  return probe
}

const settled = (probe: Probe) => waitFor(() => probe.ended || probe.error !== undefined, 5000, "the response")

/** A `ws` client, with what happened to it. */
function connectWs(port: number) {
  const client = {
    ws: new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false }),
    opened: false,
    closed: false,
    closeCode: 0,
    received: [] as string[],
    error: undefined as Error | undefined,
  }
  client.ws.on("open", () => {
    client.opened = true
  })
  client.ws.on("message", (data) => client.received.push(data.toString()))
  client.ws.on("error", (error) => {
    client.error ??= error
  })
  client.ws.on("close", (code) => {
    client.closed = true
    client.closeCode = code
  })
  return client
}

/** Resolves when `chunk` has been handed to the kernel. */
const write = (res: ServerResponse, chunk: string) => new Promise<void>((resolve) => res.write(chunk, () => resolve()))

/**
 * Lets every byte already written travel as far as it can, to assert that something did NOT arrive without
 * sleeping: everything here runs in this process over loopback, where written bytes are readable in the next
 * poll phase and each hop through the proxy takes one more. 20 turns of the event loop and a round trip straight
 * to the target are far more than any path in these tests needs.
 */
async function quiesce(target: Target): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  await settled(send(target.port, "/echo"))
}

/** mulberry32: a small seeded random source, so that a random cut is the same on every run. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The TCP handles (servers and sockets) this process holds. */
const tcpHandles = () => process.getActiveResourcesInfo().filter((kind) => kind.startsWith("TCP")).length

describe("ChaosProxy", () => {
  it("passes requests through unchanged: method, URL, headers and bodies, streamed or not", async () => {
    await using target = await startTarget()
    await using proxy = await ChaosProxy.start(target.port)
    const get = send(proxy.port, "/echo?q=1", {
      headers: { origin: "http://app.test", "last-event-id": "42", "x-custom": "a" },
    })
    const post = send(proxy.port, "/echo", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"n":1}',
    })
    const chunked = send(proxy.port, "/echo", { method: "PUT", body: ["part one, ", "part two"] })
    await Promise.all([get, post, chunked].map(settled))

    expect(get.status).toBe(200)
    expect(get.headers?.["x-reply"]).toBe("yes")
    expect(JSON.parse(get.body)).toMatchObject({
      method: "GET",
      url: "/echo?q=1",
      body: "",
      headers: { host: `127.0.0.1:${proxy.port}`, origin: "http://app.test", "last-event-id": "42", "x-custom": "a" },
    })
    expect(JSON.parse(post.body)).toMatchObject({
      method: "POST",
      body: '{"n":1}',
      headers: { "content-type": "application/json", "content-length": "7" },
    })
    expect(JSON.parse(chunked.body)).toMatchObject({ method: "PUT", body: "part one, part two" })
    expect(proxy.stats.requests).toBe(3)
  })

  it("does not pass hop-by-hop headers on, either way, and re-frames chunked bodies", async () => {
    await using target = await startTarget()
    await using proxy = await ChaosProxy.start(target.port)
    const echo = send(proxy.port, "/echo", {
      headers: { connection: "close, x-hop", "x-hop": "secret", "keep-alive": "timeout=1", "x-end": "kept" },
    })
    const chunked = send(proxy.port, "/chunked")
    await Promise.all([echo, chunked].map(settled))

    const seen = JSON.parse(echo.body).headers as IncomingHttpHeaders
    expect(seen["x-end"]).toBe("kept")
    expect(seen["x-hop"]).toBeUndefined()
    expect(seen["keep-alive"]).toBeUndefined()
    // The proxy's own keep-alive connection, not the client's "close".
    expect(seen.connection).toBe("keep-alive")
    expect(chunked.body).toBe("ab")
    expect(chunked.headers?.["x-keep"]).toBe("1")
    expect(chunked.headers?.["x-drop"]).toBeUndefined()
  })

  it("streams an event stream through chunk by chunk", async () => {
    await using target = await startTarget()
    await using proxy = await ChaosProxy.start(target.port)
    const sse = send(proxy.port, "/stream?type=text/event-stream", {
      headers: { accept: "text/event-stream", "last-event-id": "7" },
    })
    await waitFor(() => target.held.length === 1 && sse.status === 200, 5000, "the stream's head")
    const { req, res } = target.held[0] ?? expect.unreachable()
    expect(req.headers["last-event-id"]).toBe("7")

    await write(res, "id: 8\ndata: one\n\n")
    await waitFor(() => sse.body === "id: 8\ndata: one\n\n", 5000, "the first event")
    await write(res, "id: 9\ndata: two\n\n")
    await waitFor(() => sse.body.endsWith("data: two\n\n"), 5000, "the second event")
    expect(sse.ended).toBe(false)
    res.end()
    await settled(sse)
    expect(sse.ended).toBe(true)
  })

  it.each(["text/event-stream", "text/plain"])(
    "with bufferStreams, holds a streamed %s response until the target ends it",
    async (type) => {
      await using target = await startTarget()
      await using proxy = await ChaosProxy.start(target.port, { bufferStreams: true })
      const stream = send(proxy.port, `/stream?type=${type}`)
      await waitFor(() => target.held.length === 1, 5000, "the stream request")
      const { res } = target.held[0] ?? expect.unreachable()
      await write(res, "data: one\n\n")
      await write(res, "data: two\n\n")
      await quiesce(target)
      // A response with a Content-Length goes straight through.
      const plain = send(proxy.port, "/echo")
      await settled(plain)
      expect(plain.status).toBe(200)
      expect(stream.status).toBeUndefined()
      expect(stream.body).toBe("")

      res.end()
      await settled(stream)
      expect(stream.status).toBe(200)
      expect(stream.body).toBe("data: one\n\ndata: two\n\n")
    },
  )

  it("forwards WebSocket upgrades, both ways", async () => {
    await using target = await startTarget()
    await using proxy = await ChaosProxy.start(target.port)
    const client = connectWs(proxy.port)
    await waitFor(() => client.opened, 5000, "the WebSocket to open")
    client.ws.send("hi")
    await waitFor(() => client.received.length === 1, 5000, "the echo")
    expect(client.received).toEqual(["echo:hi"])
    expect(target.messages).toEqual(["hi"])
    expect(proxy.stats).toMatchObject({ upgrades: 1, refusedUpgrades: 0 })
    expect(proxy.connections).toBe(1)
  })

  it.each(["403", "reset"] as const)(
    "with blockUpgrades %s, refuses WebSockets while plain HTTP still works",
    async (mode) => {
      await using target = await startTarget()
      await using proxy = await ChaosProxy.start(target.port, { blockUpgrades: mode })
      const refused = connectWs(proxy.port)
      await waitFor(() => refused.closed, 5000, "the WebSocket to fail")
      expect(refused.opened).toBe(false)
      expect(refused.error?.message).toMatch(mode === "403" ? /403/ : /ECONNRESET|socket hang up/)
      expect(target.sockets).toHaveLength(0)
      expect(proxy.stats).toMatchObject({ upgrades: 0, refusedUpgrades: 1 })
      const plain = send(proxy.port, "/echo")
      await settled(plain)
      expect(plain.status).toBe(200)

      proxy.set({ blockUpgrades: false })
      const allowed = connectWs(proxy.port)
      await waitFor(() => allowed.opened, 5000, "the WebSocket to open once allowed")
      allowed.ws.close()
    },
  )

  it("with cutHeldAfterMs, cuts held requests (the target notices) but not quick ones", async () => {
    await using target = await startTarget()
    await using proxy = await ChaosProxy.start(target.port, { cutHeldAfterMs: 600 })
    const quick = send(proxy.port, "/echo")
    const held = send(proxy.port, "/hold")
    const stream = send(proxy.port, "/stream?type=text/event-stream")
    await settled(quick)
    expect(quick.status).toBe(200)
    await settled(held)
    await settled(stream)
    expect(held.status).toBeUndefined()
    expect(held.error).toBeDefined()
    // The head of the stream went through; then the connection was cut.
    expect(stream.status).toBe(200)
    expect(stream.error).toBeDefined()
    await waitFor(() => target.heldClosed === 2, 5000, "the target to see both requests go")
    expect(proxy.stats.cutHeld).toBe(2)
  })

  it("with delayMs, delays every step both ways, in order", async () => {
    await using target = await startTarget()
    await using proxy = await ChaosProxy.start(target.port, { delayMs: 100 })
    // Only lower bounds: the request is held once on its way, the response once on its way back.
    let start = performance.now()
    const echo = send(proxy.port, "/echo")
    await settled(echo)
    expect(echo.status).toBe(200)
    expect(performance.now() - start).toBeGreaterThanOrEqual(200)

    const client = connectWs(proxy.port)
    await waitFor(() => client.opened, 5000, "the WebSocket to open")
    start = performance.now()
    for (const message of ["a", "b", "c"]) client.ws.send(message)
    await waitFor(() => client.received.length === 3, 5000, "the echoes")
    expect(performance.now() - start).toBeGreaterThanOrEqual(200)
    expect(client.received).toEqual(["echo:a", "echo:b", "echo:c"])
  })

  it("stall holds bytes both ways without closing anything, then releases them in order", async () => {
    await using target = await startTarget()
    await using proxy = await ChaosProxy.start(target.port)
    const client = connectWs(proxy.port)
    await waitFor(() => client.opened && target.sockets.length === 1, 5000, "the WebSocket to open")

    proxy.stall(true)
    for (const message of ["a", "b", "c"]) client.ws.send(message)
    target.sockets[0]?.send("x")
    const echo = send(proxy.port, "/echo")
    await quiesce(target)
    expect(target.messages).toEqual([])
    expect(client.received).toEqual([])
    expect(echo.status).toBeUndefined()
    expect(client.ws.readyState).toBe(WebSocket.OPEN)
    expect(proxy.connections).toBe(2)

    proxy.stall(false)
    await waitFor(() => client.received.length === 4, 5000, "the held messages")
    expect(target.messages).toEqual(["a", "b", "c"])
    expect(client.received).toEqual(["x", "echo:a", "echo:b", "echo:c"])
    await settled(echo)
    expect(echo.status).toBe(200)
  })

  it("cut(0.5) with a seeded random cuts half of the open connections, and both ends notice", async () => {
    await using target = await startTarget()
    await using proxy = await ChaosProxy.start(target.port)
    const sockets = Array.from({ length: 8 }, () => connectWs(proxy.port))
    const held = [send(proxy.port, "/hold"), send(proxy.port, "/hold")]
    await waitFor(() => sockets.every((c) => c.opened) && target.held.length === 2, 5000, "ten connections")
    expect(proxy.connections).toBe(10)
    expect(proxy.cut(0)).toBe(0)

    expect(proxy.cut(0.5, seeded(42))).toBe(5)
    expect(proxy.connections).toBe(5)
    const noticed = () => sockets.filter((c) => c.closed).length + held.filter((h) => h.error !== undefined).length
    await waitFor(() => noticed() === 5, 5000, "five clients to notice")
    await waitFor(() => target.socketsClosed + target.heldClosed === 5, 5000, "the target to notice five")
    for (const c of sockets.filter((c) => c.closed)) expect(c.closeCode).toBe(1006)
    expect(proxy.stats.cut).toBe(5)

    const alive = sockets.filter((c) => !c.closed)
    for (const c of alive) c.ws.send("still")
    await waitFor(() => alive.every((c) => c.received.includes("echo:still")), 5000, "the others to still work")
    expect(noticed()).toBe(5)
  })

  it("dispose cuts everything, closes the port and leaves no TCP handles", async () => {
    await using target = await startTarget()
    const before = tcpHandles()
    const proxy = await ChaosProxy.start(target.port, { delayMs: 1, cutHeldAfterMs: 10_000 })
    const client = connectWs(proxy.port)
    const held = send(proxy.port, "/hold")
    await waitFor(() => client.opened && target.held.length === 1, 5000, "the connections")

    await proxy[Symbol.asyncDispose]()
    await waitFor(() => client.closed && held.error !== undefined, 5000, "the clients to notice")
    await waitFor(() => target.socketsClosed === 1 && target.heldClosed === 1, 5000, "the target to notice")
    const refused = send(proxy.port, "/echo")
    await settled(refused)
    expect(refused.error?.code).toBe("ECONNREFUSED")
    await waitFor(() => tcpHandles() <= before, 5000, "the TCP handles to close")
  })
})
