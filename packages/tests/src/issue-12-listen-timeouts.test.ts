import { connect } from "node:net"
import { control, FrameType } from "@switchyard/core"
import { TestContract, testHandlers } from "@switchyard/core/testing"
import { createServer, defaultListenOptions, type ListenOptions, type Server } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"

/** Node checks its header and request timeouts every second on a server `listen()` made. */
const CHECK_INTERVAL_MS = 1000
const SLACK_MS = 1500

/**
 * Issue 12, item 4: `listen()` sets header and request timeouts suited to a realtime server, and takes
 * others. Held responses (a long poll, an SSE stream) are not requests being received and outlive them.
 */
describe("listen() timeouts (issue 12, item 4)", () => {
  const servers: Server<TestContract>[] = []
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close()
  })
  const start = async (options?: ListenOptions, pollTimeoutMs?: number) => {
    const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
      onError: () => {},
      ...(pollTimeoutMs === undefined ? {} : { limits: { pollTimeoutMs } }),
    })
    servers.push(server)
    return (await server.listen(0, "127.0.0.1", options)).url
  }

  it("defaults to 10 s for headers and 30 s for a whole request, far below Node's 60 s and 300 s", () => {
    expect(defaultListenOptions).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
    })
  })

  it("answers slow headers 408 and closes them after headersTimeoutMs", async () => {
    const url = new URL(await start({ headersTimeoutMs: 1000, requestTimeoutMs: 3000 }))
    const slow = await rawRequest(url, `POST ${url.pathname}?transport=long-polling HTTP/1.1\r\nHost: x\r\n`)
    const closed = await slow.closed
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408/)
    expect(closed - slow.startedAt).toBeGreaterThanOrEqual(1000)
    expect(closed - slow.startedAt).toBeLessThan(1000 + CHECK_INTERVAL_MS + SLACK_MS)
    // A connection that sends nothing at all is closed the same way.
    const idle = await rawRequest(url, "")
    expect((await idle.closed) - idle.startedAt).toBeLessThan(1000 + CHECK_INTERVAL_MS + SLACK_MS)
  })

  it("closes a request whose body is slower than requestTimeoutMs, on any path", async () => {
    const url = new URL(await start({ headersTimeoutMs: 500, requestTimeoutMs: 1500 }))
    // Another path: no Switchyard bound on its body, only the server's request timeout.
    const slow = await rawRequest(url, "POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
    const closed = await slow.closed
    expect(closed - slow.startedAt).toBeGreaterThanOrEqual(1500)
    expect(closed - slow.startedAt).toBeLessThan(1500 + CHECK_INTERVAL_MS + SLACK_MS)
  })

  it("lets a held long poll and an SSE stream outlive requestTimeoutMs", async () => {
    const url = await start({ headersTimeoutMs: 500, requestTimeoutMs: 1000 }, 2000)
    const open = async (transport: string) => {
      const opened = await fetch(`${url}?transport=${transport}`, { method: "POST", body: control.hello(1, null, 0) })
      return ((await opened.json()) as { link: string }).link
    }
    const poll = await open("long-polling")
    const welcome = await fetch(`${url}?transport=long-polling&link=${poll}`)
    expect(await welcome.text()).toContain(`[${FrameType.WELCOME},`)
    const startedAt = Date.now()
    const held = await fetch(`${url}?transport=long-polling&link=${poll}`)
    expect(held.status).toBe(200)
    await held.text()
    // Answered by pollTimeoutMs, empty, not cut at requestTimeoutMs.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1900)

    const sse = await open("sse")
    const stream = await fetch(`${url}?transport=sse&link=${sse}`)
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
    const streamStarted = Date.now()
    let text = ""
    // Past requestTimeoutMs plus a check of the timeouts.
    while (Date.now() - streamStarted < 2200) {
      const { value, done } = await Promise.race([
        reader.read(),
        new Promise<{ value: undefined; done: false }>((r) =>
          setTimeout(() => r({ value: undefined, done: false }), 200),
        ),
      ])
      expect(done).toBe(false)
      if (value) text += new TextDecoder().decode(value)
    }
    expect(text).toContain("data: ")
    await reader.cancel()
  })
})

/** Opens a TCP connection and writes `text`: what came back, and when the connection closed. */
async function rawRequest(url: URL, text: string) {
  const socket = connect({ host: url.hostname, port: Number(url.port) })
  let received = ""
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1")
  })
  socket.on("error", () => {})
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())))
  await new Promise((resolve) => socket.once("connect", resolve))
  const startedAt = Date.now()
  if (text) socket.write(text)
  return { startedAt, closed, received: () => received }
}
