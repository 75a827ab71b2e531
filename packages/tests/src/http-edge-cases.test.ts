import { createClient, pollingTransport } from "@switchyard/client-browser/all"
import { control, type ErrorCode, FrameType } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { EventSource } from "eventsource"
import { afterEach, describe, expect, it } from "vitest"
import { connected, testClientOptions } from "./support/harnesses.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function startWithServer() {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, { onError: () => {} })
  const { url } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return { url, server }
}

async function start() {
  const ended: ErrorCode[] = []
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
    onError: () => {},
    onSessionEnd: (_s, reason) => ended.push(reason),
  })
  const { url } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return { url, ended }
}

describe("HTTP transports at the edges: batch sizes, polling intervals, BYE and shutdown", () => {
  it("splits upstream batches so that several large requests never make a body the server refuses", async () => {
    const { url } = await start()
    const client = createClient(TestContract, { url, transports: ["long-polling"], ...testClientOptions })
    cleanup.push(() => client.close())
    await connected(client)
    const states: string[] = []
    client.on("state", (s) => states.push(s))
    // Three frames of about 540,000 characters each (base64), queued together: over 1.6 MB in one outbox.
    const sizes = [400_000, 400_001, 400_002]
    const results = await Promise.all(sizes.map((n) => client.rpc.echoBytes({ bytes: new Uint8Array(n).fill(7) })))
    expect(results.map((r) => r.length)).toEqual(sizes)
    expect(states).toEqual([])
  })

  it.each(["long-polling", "polling", "sse"] as const)(
    "delivers the client's BYE on close over %s",
    async (transport) => {
      const { url, ended } = await start()
      const client = createClient(TestContract, { url, transports: [transport], EventSource, ...testClientOptions })
      await connected(client)
      await client.close()
      await waitFor(() => ended.length === 1, 3000, "the session to end")
      expect(ended).toEqual(["CLIENT_CLOSED"])
    },
  )

  it("ignores unusable polling intervals instead of polling back to back", async () => {
    const { url } = await start()
    let gets = 0
    const counting = (input: string, init?: RequestInit) => {
      if ((init?.method ?? "GET") === "GET") gets++
      return fetch(input, init)
    }
    const client = createClient(TestContract, {
      url,
      transports: [pollingTransport({ minIntervalMs: 0, maxIntervalMs: Number.NaN, fetch: counting })],
      ...testClientOptions,
    })
    cleanup.push(() => client.close())
    await connected(client)
    const before = gets
    await new Promise((r) => setTimeout(r, 600))
    // The default interval backs off from 25 ms towards 1 s while idle: a handful of polls, not hundreds.
    expect(gets - before).toBeLessThan(25)
    expect(await client.rpc.add({ a: 1, b: 1 })).toBe(2)
  })

  it.each(["long-polling", "polling", "sse"] as const)(
    "delivers the BYE that refuses a HELLO over %s, on the link's next GET",
    async (transport) => {
      const { url } = await start()
      const opened = await fetch(`${url}?transport=${transport}`, {
        method: "POST",
        body: control.hello(99, null, 0),
        headers: { "content-type": "text/plain;charset=UTF-8" },
      })
      const { link } = (await opened.json()) as { link: string }
      const body = await (await fetch(`${url}?transport=${transport}&link=${link}`)).text()
      expect(body).toContain(`[${FrameType.BYE},"UNSUPPORTED_VERSION"`)
      if (transport === "sse") expect(body).toContain("event: gone")
      // Collected once: the link is then gone.
      const again = await fetch(`${url}?transport=${transport}&link=${link}`)
      expect(transport === "sse" ? (await again.text()).includes("event: gone") : again.status === 410).toBe(true)
    },
  )

  it("tells a polling client why its session ended (SERVER_CLOSED), not just that it is gone", async () => {
    const { url, server } = await startWithServer()
    const client = createClient(TestContract, { url, transports: ["polling"], ...testClientOptions })
    cleanup.push(() => client.close())
    await connected(client)
    const errors: string[] = []
    client.on("error", (e) => errors.push(e.code))
    await server.close()
    await waitFor(() => errors.includes("SERVER_CLOSED"), 3000, "the BYE")
  })

  it("takes a DELETE for an existing link while shutting down, and opens no new link", async () => {
    const { url, server } = await startWithServer()
    const text = { "content-type": "text/plain" }
    const opened = await fetch(`${url}?transport=long-polling`, {
      method: "POST",
      body: control.hello(1, null, 0),
      headers: text,
    })
    const { link } = (await opened.json()) as { link: string }
    // Shutdown ends the session and leaves its BYE queued on the link, waiting for a poll: for the HTTP
    // transports' grace period (1 s, CLOSE_GRACE_MS in packages/server-node/src/transports/http.ts), counted
    // from after this call.
    const closingSince = performance.now()
    const closing = server.close()
    let settledAt: number | undefined
    void closing.then(() => {
      settledAt = performance.now()
    })
    // The refused POST first: once the DELETE lets shutdown go on, it closes every connection, and a request
    // still on its way then would be reset.
    const refused = await fetch(`${url}?transport=long-polling`, {
      method: "POST",
      body: control.hello(1, null, 0),
      headers: text,
    })
    expect(refused.status).toBe(503)
    const removed = await fetch(`${url}?link=${link}`, { method: "DELETE" })
    expect(removed.status).toBe(204)
    // With the link forgotten, shutdown does not wait for a poll that will never come: a shutdown that waited
    // out the grace period would settle 1 s after `closingSince` or later.
    await waitFor(() => settledAt !== undefined, 5000, "the shutdown")
    expect((settledAt ?? 0) - closingSince).toBeLessThan(1000)
  })

  it.each(["long-polling", "polling"] as const)(
    "acknowledges in the downstream requests over %s: no ACK posts, and the server's replay buffer is trimmed",
    async (transport) => {
      // A replay buffer of 40 frames: without acknowledgements reaching the server, 400 messages would end
      // the session with REPLAY_OVERFLOW.
      const ended: ErrorCode[] = []
      const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
        onError: () => {},
        limits: { maxReplayFrames: 40 },
        onSessionEnd: (_s, reason) => ended.push(reason),
      })
      const { url } = await server.listen(0, "127.0.0.1")
      cleanup.push(() => server.close())
      const posts: string[] = []
      const acks: number[] = []
      const counting: typeof fetch = (input, init) => {
        const target = new URL(String(input))
        if (init?.method === "POST") posts.push(String(init.body))
        else if (target.searchParams.has("ack")) acks.push(Number(target.searchParams.get("ack")))
        return fetch(input, init)
      }
      const client = createClient(TestContract, {
        url,
        transports: [transport],
        fetch: counting,
        ...testClientOptions,
      })
      cleanup.push(() => client.close())
      await connected(client)
      const received: number[] = []
      client.topics.feed("k").subscribe((n) => received.push(n))
      await waitFor(() => server.topics.feed("k").subscribers === 1, 3000, "the subscription")
      for (let n = 1; n <= 400; n++) {
        server.topics.feed("k").publish(n)
        // Never more than 10 ahead of the client, so that only missing acknowledgements could fill 40.
        if (n % 10 === 0) await waitFor(() => received.length === n, 5000, `message ${n}`)
      }
      expect(received).toEqual(Array.from({ length: 400 }, (_, i) => i + 1))
      expect(ended).toEqual([])
      const ackOnly = posts.filter((body) => body.split("\n").every((frame) => frame.startsWith(`[${FrameType.ACK},`)))
      expect(ackOnly).toEqual([])
      // The cumulative acknowledgement only grows, and reached (nearly) everything the client received.
      expect(acks).toEqual([...acks].sort((a, b) => a - b))
      expect(Math.max(...acks)).toBeGreaterThan(380)
    },
  )

  it("says Connection: close on a refusal sent before the body was read, so a keep-alive client reuses no closing connection", async () => {
    // A POST refused before its body is read (here 410, an unknown link) is followed by the connection's
    // close. Without `Connection: close` a client that keeps connections (fetch's pool; a proxy) put it back
    // in its pool and sent its next request on it: "other side closed". The fuzz tests' honest polling
    // client, sharing the pool with the attacker's requests, lost its link so.
    const { url } = await start()
    const body = "x".repeat(256 * 1024)
    for (let i = 0; i < 20; i++) {
      const refused = await fetch(`${url}?link=unknown-${i}`, { method: "POST", body })
      expect(refused.status).toBe(410)
      expect(refused.headers.get("connection")).toBe("close")
      await refused.arrayBuffer()
      // The same origin at once: the pool hands out a connection it still holds as reusable.
      const next = await fetch(`${url}?link=unknown-again-${i}`, { method: "DELETE" })
      expect(next.status).toBe(410)
      await next.arrayBuffer()
    }
  })
})
