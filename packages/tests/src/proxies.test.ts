import { connect } from "node:net"
import { createClient, type FetchLike } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import type { TransportId } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { EventSource } from "eventsource"
import { HttpProxyAgent } from "http-proxy-agent"
import { HttpsProxyAgent } from "https-proxy-agent"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { documentedLocation, Nginx } from "./support/cluster/nginx.ts"
import { negotiatingClient } from "./support/proxied.ts"
import { Squid } from "./support/squid.ts"

/**
 * Real proxies between a Node client and the server (docs/proxies.md): Debian's nginx as a reverse proxy
 * with the documented configuration and with worse ones, and squid as a forward proxy, by CONNECT tunnel
 * and by absolute-URI requests. The client negotiates among every transport; each test checks that it
 * ends on the best transport the proxy lets through, no higher and no lower, and prints its time to the
 * first RPC and to its last move.
 */

const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
  onError: () => {},
})
let port: number
beforeAll(async () => {
  port = (await server.listen(0, "127.0.0.1")).port
})
afterAll(() => server.close())

const report = (proxy: string, on: TransportId, figures: { firstRpcMs: number; settledMs: number }) =>
  console.log(
    `[proxies] ${proxy}: first RPC after ${figures.firstRpcMs} ms, on ${on} from ${figures.settledMs} ms after creation`,
  )

/** `ws` with an agent: every connection it makes goes through the proxy. */
function webSocketThrough(agent: import("node:http").Agent): typeof WebSocket {
  return class extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { agent })
    }
  } as typeof WebSocket
}

/**
 * Writes `requests` on one connection, each once the answer to the one before has come in full, as a proxy
 * reusing it would, until the server closes it; what came back, and whether the server closed it (given a
 * moment after the last answer, as it would close right after it).
 */
async function onOneConnection(requests: readonly string[]): Promise<{ answers: string; closed: boolean }> {
  const socket = connect(port, "127.0.0.1")
  let answers = ""
  let closed = false
  socket.on("data", (chunk) => (answers += chunk.toString("latin1")))
  socket.on("end", () => (closed = true))
  socket.on("error", () => {})
  await new Promise((resolve) => socket.once("connect", resolve))
  for (const [i, request] of requests.entries()) {
    if (closed) break
    socket.write(request)
    await waitFor(() => closed || completeAnswers(answers) > i, 10_000, `the answer to request ${i + 1}`)
  }
  // Not closed yet: the moment a server closing it right after its answer would need.
  if (!closed) await new Promise((resolve) => setTimeout(resolve, 150))
  socket.destroy()
  return { answers, closed }
}

/** How many whole HTTP/1.1 responses `text` holds: heads, and bodies of their Content-Length or chunked. */
function completeAnswers(text: string): number {
  let count = 0
  let at = 0
  for (;;) {
    const headEnd = text.indexOf("\r\n\r\n", at)
    if (headEnd === -1) return count
    const head = text.slice(at, headEnd).toLowerCase()
    let bodyEnd = headEnd + 4
    if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) {
      const last = text.indexOf("\r\n0\r\n\r\n", headEnd)
      if (last === -1) return count
      bodyEnd = last + 7
    } else {
      bodyEnd += Number(/\r\ncontent-length:\s*(\d+)/.exec(head)?.[1] ?? 0)
      if (text.length < bodyEnd) return count
    }
    count++
    at = bodyEnd
  }
}

describe("a connection a proxy may reuse", () => {
  // nginx's default proxy_pass speaks HTTP/1.0 with `Connection: close` and drops the Upgrade header.
  const upgradeWithoutUpgrade = (version: string, connection: string) =>
    `GET /switchyard HTTP/${version}\r\nHost: switchyard\r\nConnection: ${connection}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`
  const negotiate = "GET /switchyard?negotiate=1 HTTP/1.1\r\nHost: switchyard\r\n\r\n"

  it("is closed after a 426 when the request asked for it (HTTP/1.0), so that nothing is sent on it again", async () => {
    const { answers, closed } = await onOneConnection([upgradeWithoutUpgrade("1.0", "close"), negotiate])
    expect(answers).toMatch(/^HTTP\/1\.1 426 /)
    expect(answers).not.toContain("400 Bad Request")
    expect(closed).toBe(true)
  })

  it("serves the next request after a 426 on a keep-alive connection", async () => {
    const { answers, closed } = await onOneConnection([upgradeWithoutUpgrade("1.1", "keep-alive"), negotiate])
    expect(answers).toMatch(/^HTTP\/1\.1 426 /)
    expect(answers).toMatch(/HTTP\/1\.1 200 OK/)
    expect(closed).toBe(false)
  })
})

describe("behind nginx", () => {
  const withoutUpgrade = documentedLocation.filter((line) => !/Upgrade|Connection/.test(line))
  /** Response buffering on, whatever the server's `X-Accel-Buffering: no` says. */
  const buffered = (lines: readonly string[]) => [
    ...lines.filter((line) => !line.startsWith("proxy_buffering")),
    "proxy_buffering on;",
    "proxy_ignore_headers X-Accel-Buffering;",
  ]
  /** …and event streams compressed: gzip holds what it has until its buffer fills. */
  const compressed = (lines: readonly string[]) => [
    ...buffered(lines),
    "gzip on;",
    "gzip_types text/event-stream;",
    "gzip_proxied any;",
  ]
  // Node's own fetch (undici) asks for gzip and unpacks it, as a browser does; nodeFetch asks for nothing.
  const gzipFetch = globalThis.fetch as FetchLike
  const cases: Array<[string, readonly string[], FetchLike | undefined, TransportId, TransportId[]]> = [
    ["the documented configuration", documentedLocation, undefined, "websocket", []],
    // nginx's defaults: HTTP/1.0 upstream, no upgrade, buffering on, but X-Accel-Buffering: no honoured.
    ["a bare proxy_pass", ["proxy_pass http://switchyard;"], undefined, "sse", ["websocket"]],
    // nginx's buffering writes out what it has as it comes: events are not held.
    ["no upgrade headers, buffering forced on", buffered(withoutUpgrade), undefined, "sse", ["websocket"]],
    [
      "no upgrade headers, buffering forced on and event streams gzipped",
      compressed(withoutUpgrade),
      gzipFetch,
      "long-polling",
      ["sse", "websocket"],
    ],
    [
      "the upgrade headers, buffering forced on and event streams gzipped",
      compressed(documentedLocation),
      gzipFetch,
      "websocket",
      [],
    ],
  ]

  it.each(cases)(
    "with %s, the session ends on the best transport it lets through",
    async (name, location, fetch, best, failing) => {
      await using nginx = await Nginx.start([port], location)
      const { client, settles } = negotiatingClient(`${nginx.url}/switchyard`, {
        WebSocket,
        fetch: fetch ?? nodeFetch(),
      })
      try {
        report(`nginx, ${name}`, best, await settles(best, failing))
      } finally {
        await client.close()
      }
    },
  )

  it("with event streams held by gzip, an SSE-only client never connects, and a long-polling one does", async () => {
    await using nginx = await Nginx.start([port], compressed(withoutUpgrade))
    const url = `${nginx.url}/switchyard`
    const sse = createClient(TestContract, {
      url,
      transports: ["sse"],
      EventSource,
      fetch: gzipFetch,
      connectTimeoutMs: 1000,
    })
    const polling = createClient(TestContract, { url, transports: ["long-polling"], fetch: gzipFetch })
    try {
      const states: string[] = []
      sse.on("state", (state) => states.push(state))
      expect(await polling.rpc.add({ a: 1, b: 1 })).toBe(2)
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(states).not.toContain("connected")
      expect(sse.state).not.toBe("connected")
    } finally {
      await sse.close()
      await polling.close()
    }
  })
})

describe("through squid, a forward proxy", () => {
  it("by CONNECT tunnels (HttpsProxyAgent), the session ends on WebSocket", async () => {
    await using squid = await Squid.start()
    const agent = new HttpsProxyAgent(squid.url, { keepAlive: true })
    const { client, settles } = negotiatingClient(`http://127.0.0.1:${port}/switchyard`, {
      WebSocket: webSocketThrough(agent),
      fetch: nodeFetch({ httpAgent: agent }),
    })
    try {
      report("squid, CONNECT tunnels", "websocket", await settles("websocket", []))
    } finally {
      await client.close()
      agent.destroy()
    }
    // Everything went through the tunnels: squid logs a CONNECT to the server once each closes.
    const requests = await squid.requests((r) => r.length > 0)
    expect(requests.length).toBeGreaterThan(0)
    expect(requests.filter((r) => r !== `CONNECT 127.0.0.1:${port}`)).toEqual([])
  })

  it.each([
    ["refusing forwarded upgrades (squid's default)", false, "sse", ["websocket"]],
    ["passing forwarded upgrades (http_upgrade_request_protocols)", true, "websocket", []],
  ] as const)(
    "by absolute-URI requests (HttpProxyAgent), %s, the session ends on the best it allows",
    async (name, websocket, best, failing) => {
      await using squid = await Squid.start({ websocket })
      const agent = new HttpProxyAgent(squid.url, { keepAlive: true })
      const { client, settles } = negotiatingClient(`http://127.0.0.1:${port}/switchyard`, {
        WebSocket: webSocketThrough(agent),
        fetch: nodeFetch({ httpAgent: agent }),
      })
      try {
        report(`squid, absolute-URI requests ${name}`, best, await settles(best, [...failing]))
      } finally {
        await client.close()
        agent.destroy()
      }
      // Plain requests by absolute URI (squid logs them with the query string cut after `?`), no tunnel.
      const opening = `POST http://127.0.0.1:${port}/switchyard?`
      const requests = await squid.requests((r) => r.includes(opening))
      expect(requests).toContain(opening)
      expect(requests.filter((r) => !/^(GET|POST|DELETE) http:\/\//.test(r))).toEqual([])
    },
  )
})
