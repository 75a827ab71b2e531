import {
  createServer as createHttpServer,
  type Server as HttpServer,
  get as httpGet,
  type IncomingMessage,
} from "node:http"
import type { AddressInfo } from "node:net"
import { createClient } from "@switchyard/client-browser/all"
import { type Client, control, FrameType } from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, type Server, type ServerLimits } from "@switchyard/server-node"
import { EventSource } from "eventsource"
import { afterEach, describe, expect, it } from "vitest"
import { newPage, startPageServer } from "./support/chromium.ts"
import { connected, testClientOptions } from "./support/harnesses.ts"
import { RemotePage } from "./support/remoteClient.ts"

const cleanup: Array<() => PromiseLike<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** What the SSE requests did: links opened, each stream's `Last-Event-ID`, streams the server ended. */
interface Seen {
  opened: number
  readonly lastEventIds: Array<number | undefined>
  endedByServer: number
}

/** A Switchyard server attached to `http`, with what the SSE requests did, seen from the HTTP side. */
function serve(http: HttpServer, limits: Partial<ServerLimits>) {
  const state: TestServerState = { aborted: new Set() }
  const server = createServer(TestContract, testHandlers(state) as unknown as Handlers<TestContract>, {
    limits,
    onError: () => {},
  })
  cleanup.push(() => server.close())
  server.attach(http)
  const seen: Seen = { opened: 0, lastEventIds: [], endedByServer: 0 }
  // Added after `attach`, so it watches the requests the server takes without taking them.
  http.on("request", (request, response) => {
    const query = new URL(request.url ?? "/", "http://x").searchParams
    if (query.get("transport") !== "sse") return
    if (request.method === "POST") seen.opened++
    if (request.method !== "GET") return
    const lastEventId = request.headers["last-event-id"]
    seen.lastEventIds.push(lastEventId === undefined ? undefined : Number(lastEventId))
    // "finish" means the server ended the response; a client that goes away only closes it.
    response.once("finish", () => seen.endedByServer++)
  })
  return { server, seen }
}

async function listen(http: HttpServer): Promise<number> {
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  cleanup.push(() => {
    http.closeAllConnections()
    return new Promise((resolve) => http.close(resolve))
  })
  return (http.address() as AddressInfo).port
}

/**
 * Calls, a stream and a topic run while the server ends the event stream every 300 ms: the EventSource
 * reconnects with Last-Event-ID each time and the same link, hence the same session, carries on.
 */
async function survivesStreamEnds(
  server: Server<TestContract>,
  seen: Seen,
  client: Client<TestContract>,
): Promise<void> {
  await connected(client)
  const sessionId = client.sessionId
  const states: string[] = []
  client.on("state", (s) => states.push(s))
  const enough = () => seen.endedByServer >= 3

  const feed: number[] = []
  client.topics.feed("k").subscribe((n) => feed.push(n))
  await waitFor(() => server.topics.feed("k").subscribers === 1, 5000, "the subscription")
  let published = 0
  const publisher = setInterval(() => {
    if (!enough() || published < 100) server.topics.feed("k").publish(published++)
  }, 10)

  const ticks: number[] = []
  const streamDone = (async () => {
    for await (const n of client.streams.ticks({ tag: "sse", intervalMs: 10 })) {
      ticks.push(n)
      if (enough() && n >= 100) break
    }
  })()

  const sums: number[] = []
  for (let i = 0; !enough() || i < 20; i++) {
    sums.push(await client.rpc.add({ a: i, b: 1 }))
    await new Promise((r) => setTimeout(r, 20))
  }
  await streamDone
  await waitFor(() => enough() && published >= 100, 10_000, "the publisher")
  clearInterval(publisher)
  await waitFor(() => feed.length >= published, 10_000, "every topic message")
  // Sent after the third end, so its answer needs a stream that resumed the link.
  expect(await client.rpc.add({ a: 41, b: 1 })).toBe(42)

  expect(sums).toEqual(sums.map((_, i) => i + 1))
  expect(ticks).toEqual(ticks.map((_, i) => i))
  expect(feed).toEqual(Array.from({ length: published }, (_, i) => i))
  expect(client.sessionId).toBe(sessionId)
  expect(states).toEqual([])
  // One link for the whole session: every stream after the first resumed it.
  expect(seen.opened).toBe(1)
  const ids = seen.lastEventIds
  expect(seen.endedByServer).toBeGreaterThanOrEqual(3)
  expect(ids.length).toBeGreaterThanOrEqual(4)
  expect(ids[0]).toBeUndefined()
  // Once the EventSource has seen an id it sends one on every reconnect, never going back. (Whether the
  // first stream lasted long enough to carry a data frame depends on the machine's speed.)
  const from = ids.findIndex((id) => id !== undefined)
  expect(from).toBeGreaterThan(0)
  const sent = ids.slice(from) as number[]
  expect(sent).toEqual([...sent].sort((a, b) => a - b))
  expect(sent.every((id) => Number.isSafeInteger(id) && id > 0)).toBe(true)
}

describe("SSE keeps its session across server-side ends of the stream", () => {
  it("in Chromium (native EventSource)", async () => {
    const site = await startPageServer()
    cleanup.push(() => site[Symbol.asyncDispose]())
    const { server, seen } = serve(site.http, { sseMaxStreamMs: 300 })
    const page = await newPage()
    cleanup.push(() => page.close())
    const remote = await RemotePage.open(page, `http://127.0.0.1:${site.port}/`)
    cleanup.push(() => remote.close())
    const client = remote.createClient(TestContract, `http://127.0.0.1:${site.port}/switchyard`, {
      ...testClientOptions,
      transports: ["sse"],
    })
    cleanup.push(() => client.close())
    await survivesStreamEnds(server, seen, client)
    expect(remote.defects).toEqual([])
  })

  it("in Node (the eventsource package)", async () => {
    const http = createHttpServer()
    const { server, seen } = serve(http, { sseMaxStreamMs: 300 })
    const port = await listen(http)
    const client = createClient(TestContract, {
      url: `http://127.0.0.1:${port}/switchyard`,
      transports: ["sse"],
      EventSource,
      ...testClientOptions,
    })
    cleanup.push(() => client.close())
    await survivesStreamEnds(server, seen, client)
  })
})

describe("SSE on the wire", () => {
  const text = { "content-type": "text/plain;charset=UTF-8" }

  /** Opens an SSE link by hand (HELLO in the opening POST) and returns its id. */
  async function openLink(url: string): Promise<string> {
    const opened = await fetch(`${url}?transport=sse`, {
      method: "POST",
      body: control.hello(1, null, 0),
      headers: text,
    })
    return ((await opened.json()) as { link: string }).link
  }

  /** Reads an event stream until `until` holds of everything read so far. */
  async function read(response: Response, until: (body: string) => boolean): Promise<string> {
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    let body = ""
    const deadline = setTimeout(() => void reader.cancel(), 3000)
    try {
      while (!until(body)) {
        const { done, value } = await reader.read()
        if (done) break
        body += decoder.decode(value, { stream: true })
      }
    } finally {
      clearTimeout(deadline)
      reader.releaseLock()
    }
    return body
  }

  it("streams frames as events, ids on data frames only, with keep-alive comments and headers for proxies", async () => {
    const http = createHttpServer()
    serve(http, { sseKeepAliveMs: 50 })
    const url = `http://127.0.0.1:${await listen(http)}/switchyard`
    const link = await openLink(url)
    const abort = new AbortController()
    cleanup.push(async () => abort.abort())
    const stream = await fetch(`${url}?transport=sse&link=${link}`, { signal: abort.signal })
    expect(stream.status).toBe(200)
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/)
    expect(stream.headers.get("cache-control")).toBe("no-cache")
    expect(stream.headers.get("x-accel-buffering")).toBe("no")
    const call = (seq: number, a: number) => JSON.stringify([FrameType.CALL, seq, seq, "add", { a, b: 1 }])
    const posted = await fetch(`${url}?link=${link}`, {
      method: "POST",
      body: `${call(1, 1)}\n${call(2, 2)}`,
      headers: text,
    })
    expect(posted.status).toBe(204)
    const body = await read(
      stream,
      (b) => b.includes(`id: 2\ndata: [${FrameType.RESULT},2,2,3]\n\n`) && b.includes(": \n\n"),
    )
    expect(body.startsWith("retry: 500\n\n")).toBe(true)
    // WELCOME is a control frame: no id, so it never moves Last-Event-ID.
    expect(body).toMatch(new RegExp(`(^|\\n\\n)data: \\[${FrameType.WELCOME},`))
    expect(body).toContain(`id: 1\ndata: [${FrameType.RESULT},1,1,2]\n\n`)
  })

  it("replays on the same link what came after Last-Event-ID", async () => {
    const http = createHttpServer()
    serve(http, {})
    const url = `http://127.0.0.1:${await listen(http)}/switchyard`
    const link = await openLink(url)
    const first = new AbortController()
    const stream = await fetch(`${url}?transport=sse&link=${link}`, { signal: first.signal })
    const calls = [1, 2, 3].map((n) => JSON.stringify([FrameType.CALL, n, n, "add", { a: n, b: 0 }])).join("\n")
    await fetch(`${url}?link=${link}`, { method: "POST", body: calls, headers: text })
    await read(stream, (b) => b.includes("id: 3\n"))
    first.abort()
    // The client says it has frame 1 only: 2 and 3 come again, on the same link, once each.
    const second = new AbortController()
    cleanup.push(async () => second.abort())
    const again = await fetch(`${url}?transport=sse&link=${link}`, {
      signal: second.signal,
      headers: { "last-event-id": "1" },
    })
    const body = await read(again, (b) => b.includes("id: 3\n"))
    expect(body).not.toContain("id: 1\n")
    expect(body.split("id: 2\n").length).toBe(2)
    expect(body).toContain(`id: 2\ndata: [${FrameType.RESULT},2,2,2]\n\n`)
    expect(body).toContain(`id: 3\ndata: [${FrameType.RESULT},3,3,3]\n\n`)
  })

  it("tells an EventSource of an unknown or closed link with a gone event on a 200, never a status it gives up on", async () => {
    const http = createHttpServer()
    serve(http, {})
    const url = `http://127.0.0.1:${await listen(http)}/switchyard`
    const unknown = await fetch(`${url}?transport=sse&link=nosuchlink`)
    expect(unknown.status).toBe(200)
    expect(unknown.headers.get("content-type")).toMatch(/^text\/event-stream/)
    expect(await unknown.text()).toBe("retry: 500\n\nevent: gone\ndata:\n\n")
    const link = await openLink(url)
    const stream = await fetch(`${url}?transport=sse&link=${link}`)
    expect((await fetch(`${url}?link=${link}`, { method: "DELETE" })).status).toBe(204)
    // The open stream is told, and ends.
    expect(await stream.text()).toMatch(/event: gone\ndata:\n\n$/)
  })

  it("ends the link of a client that stops reading once maxBufferedBytes wait, keeping its session", async () => {
    const http = createHttpServer()
    const { server } = serve(http, { maxBufferedBytes: 256 * 1024, maxReplayBytes: 64 * 1024 * 1024 })
    const port = await listen(http)
    const url = `http://127.0.0.1:${port}/switchyard`
    const bystander = createClient(TestContract, { url, transports: ["sse"], EventSource, ...testClientOptions })
    cleanup.push(() => bystander.close())
    await connected(bystander)
    const link = await openLink(url)
    // The event stream, read with node:http so that reading can stop: after WELCOME, nothing is read.
    const { response, closed } = await new Promise<{ response: IncomingMessage; closed: Promise<void> }>(
      (resolve, reject) => {
        const request = httpGet(`${url}?transport=sse&link=${link}`, (response) => {
          const closed = new Promise<void>((done) => response.socket.once("close", () => done()))
          response.once("data", () => {
            response.pause()
            resolve({ response, closed })
          })
        })
        request.on("error", reject)
      },
    )
    cleanup.push(async () => void response.destroy())
    // Twenty answers of ~540 kB each, far more than loopback socket buffers hold.
    const bytes = Buffer.alloc(400_000, 7).toString("base64")
    for (let i = 1; i <= 20; i++) {
      const call = JSON.stringify([FrameType.CALL, i, i, "echoBytes", { bytes }])
      const posted = await fetch(`${url}?link=${link}`, { method: "POST", body: call, headers: text })
      // Once the link has ended, the rest is refused as for any closed link.
      expect([204, 410]).toContain(posted.status)
      if (posted.status === 410) break
    }
    await closed
    // The link ended (the stream was cut), the session did not: it waits for a resume.
    expect(server.sessionCount).toBe(2)
    expect(await bystander.rpc.add({ a: 1, b: 2 })).toBe(3)
    const again = await fetch(`${url}?transport=sse&link=${link}`)
    expect(await again.text()).toMatch(/event: gone\ndata:\n\n$/)
  })
})
