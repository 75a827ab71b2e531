import type { IncomingMessage } from "node:http"
import { createClient } from "@switchyard/client-browser/all"
import type { Client, SwitchyardError } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, type ServerOptions } from "@switchyard/server-node"
import { EventSource } from "eventsource"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"

/**
 * Why the server refused a connection reaches the app, on every transport (docs/sessions.md#when-the-server-refuses-a-connection):
 * the client reads the code of a refused opening POST (SSE, long polling, polling) and the close code of a
 * WebSocket the server refuses after its upgrade, reports it as an `error` event, and tries again on the
 * same transport after its backoff delay, so that it gets in once the refusal is over.
 */

type TransportName = "websocket" | "sse" | "long-polling" | "polling"
const transports: readonly TransportName[] = ["websocket", "sse", "long-polling", "polling"]

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function start(options: ServerOptions<unknown>): Promise<string> {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
    ...options,
  })
  cleanup.push(() => server.close())
  return (await server.listen(0, "127.0.0.1")).url
}

/** A client on one transport that records its `error` events. */
function client(url: string, transport: TransportName, extra: { auth?: { params: Record<string, string> } } = {}) {
  const c = createClient(TestContract, {
    url,
    transports: [transport],
    WebSocket,
    EventSource,
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    connectTimeoutMs: 2000,
    ...extra,
  }) as Client<typeof TestContract>
  cleanup.push(async () => c.close())
  const errors: SwitchyardError[] = []
  c.on("error", (error) => errors.push(error))
  return { c, errors }
}

async function connected(c: Client<typeof TestContract>): Promise<void> {
  await waitFor(() => c.state === "connected", 5000, "the client to connect")
}

describe.each(transports)("%s: a refused connection says why", (transport) => {
  it("authenticate refuses: AUTH_REFUSED, and the client gets in with credentials it accepts", async () => {
    const allowed = new Set(["alice"])
    const authenticate = (request: IncomingMessage) => {
      const token = new URL(request.url ?? "/", "http://x").searchParams.get("token") ?? ""
      if (!allowed.has(token)) throw new Error("not signed in")
      return { token }
    }
    const url = await start({ authenticate })
    const { c, errors } = client(url, transport, { auth: { params: { token: "mallory" } } })
    await waitFor(() => errors.length >= 2, 5000, "two refusals")
    expect(errors.map((e) => e.code)).toEqual(errors.map(() => "AUTH_REFUSED"))
    allowed.add("mallory")
    await connected(c)
    expect(c.transport).toBe(transport)
  })

  it("the address holds too many sessions: TOO_MANY_SESSIONS, then in once one ends", async () => {
    const url = await start({ limits: { maxSessionsPerIp: 1, refusalDelayMs: 0 } })
    const first = client(url, transport)
    await connected(first.c)
    const second = client(url, transport)
    await waitFor(() => second.errors.length > 0, 5000, "the refusal")
    expect(second.errors[0]?.code).toBe("TOO_MANY_SESSIONS")
    first.c.close()
    await connected(second.c)
    // The server refused, the transport worked: the client stayed on it.
    expect(second.c.transport).toBe(transport)
    expect(new Set(second.errors.map((e) => e.code))).toEqual(new Set(["TOO_MANY_SESSIONS"]))
  })

  it("too many new sessions from the address: RATE_LIMITED", async () => {
    const url = await start({ limits: { newSessionBurstPerIp: 1, newSessionsPerSecondPerIp: 4, refusalDelayMs: 0 } })
    const first = client(url, transport)
    await connected(first.c)
    const second = client(url, transport)
    await waitFor(() => second.errors.length > 0, 5000, "the refusal")
    expect(second.errors[0]?.code).toBe("RATE_LIMITED")
    // The bucket refills (4 a second): the retry gets in, on the same transport.
    await connected(second.c)
    expect(second.c.transport).toBe(transport)
  })

  it("too many connections from the address: CONNECTION_LOST whose cause names TOO_MANY_CONNECTIONS", async () => {
    const url = await start({ limits: { maxConnectionsPerIp: 1 } })
    const first = client(url, transport)
    await connected(first.c)
    const second = client(url, transport)
    await waitFor(() => second.errors.length > 0, 5000, "the refusal")
    const [refusal] = second.errors
    expect(refusal?.code).toBe("CONNECTION_LOST")
    expect(refusal?.cause).toEqual({ code: "TOO_MANY_CONNECTIONS" })
    first.c.close()
    await connected(second.c)
    expect(second.c.transport).toBe(transport)
  })
})

describe("a refused WebSocket upgrade", () => {
  /** What a raw `ws` sees of an upgrade: the HTTP status of a bare refusal, or the close after a 101. */
  function upgrade(url: string, headers: Record<string, string> = {}) {
    return new Promise<{ status?: number; close?: number; reason?: string }>((resolve) => {
      const ws = new WebSocket(url.replace(/^http/, "ws"), { headers })
      ws.on("unexpected-response", (_request, response) => {
        resolve({ status: response.statusCode })
        response.resume()
        ws.terminate()
      })
      ws.on("error", () => {})
      ws.on("close", (close, reason) => resolve({ close, reason: reason.toString() }))
    })
  }

  it("is completed and closed with its code (4211 AUTH_REFUSED, 1008 ORIGIN_FORBIDDEN) below the address's bound", async () => {
    const url = await start({
      authenticate: (request) => {
        if (request.headers.authorization !== "Bearer alice") throw new Error("not signed in")
        return {}
      },
    })
    expect(await upgrade(url)).toEqual({ close: 4211, reason: "AUTH_REFUSED" })
    expect(await upgrade(url, { origin: "http://elsewhere.example" })).toEqual({
      close: 1008,
      reason: "ORIGIN_FORBIDDEN",
    })
  })

  it("stays a bare HTTP refusal at the address's bound: a flood of refused upgrades holds no more than it", async () => {
    const url = await start({ limits: { maxConnectionsPerIp: 1 } })
    // Below the bound, the origin refusal is told with its close code; the refusal counts while it lasts.
    expect(await upgrade(url, { origin: "http://elsewhere.example" })).toMatchObject({ close: 1008 })
    // At the bound (one honest connection), it is the bare 403 a browser cannot read, and the
    // connection past the bound the bare 429.
    const honest = client(url, "websocket")
    await connected(honest.c)
    expect(await upgrade(url, { origin: "http://elsewhere.example" })).toEqual({ status: 403 })
    expect(await upgrade(url)).toEqual({ status: 429 })
  })

  it("reaches a Node client as ORIGIN_FORBIDDEN, which keeps retrying on its transport", async () => {
    const url = await start({ allowedOrigins: ["http://app.example"] })
    // The credentials' headers go on the upgrade in Node: an Origin header stands for a page on another site.
    const other = createClient(TestContract, {
      url,
      transports: ["websocket"],
      WebSocket,
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
      auth: { headers: { origin: "http://elsewhere.example" } },
    })
    cleanup.push(async () => other.close())
    const seen: SwitchyardError[] = []
    other.on("error", (error) => seen.push(error))
    await waitFor(() => seen.length >= 2, 5000, "two refusals")
    expect(seen.map((e) => e.code)).toEqual(seen.map(() => "ORIGIN_FORBIDDEN"))
  })
})
