import { once } from "node:events"
import { Agent, get, type IncomingMessage, type ServerResponse } from "node:http"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { plainUpstream, type Upstream } from "./support/cluster/plainUpstream.ts"
import { RoundRobinProxy } from "./support/cluster/roundRobin.ts"
import { within } from "./support/fleet.ts"

/**
 * The round-robin proxy of the many-node tests (support/cluster/roundRobin.ts), over real sockets in
 * front of three plain HTTP + WebSocket servers, each answering with its own name.
 */

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function threeUpstreams(): Promise<{ ups: Upstream[]; proxy: RoundRobinProxy }> {
  const ups = await Promise.all(["a", "b", "c"].map(plainUpstream))
  for (const up of ups) cleanup.push(() => up.close())
  const proxy = await RoundRobinProxy.start(ups.map((u) => u.port))
  cleanup.push(() => proxy[Symbol.asyncDispose]())
  return { ups, proxy }
}

/** GET `url` with `agent`, resolving with the whole body. */
function fetchText(url: string, agent: Agent): Promise<string> {
  return within(
    new Promise((resolve, reject) => {
      get(url, { agent }, (res) => {
        let text = ""
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString()
        })
        res.on("end", () => resolve(text))
        res.on("error", reject)
      }).on("error", reject)
    }),
    5000,
    `GET ${url}`,
  )
}

/** The first message of a WebSocket to `url`: the name of the upstream it reached. */
async function wsName(url: string): Promise<{ name: string; socket: WebSocket }> {
  const socket = new WebSocket(url)
  cleanup.push(async () => socket.terminate())
  const [data] = (await within(once(socket, "message"), 5000, `a message on ${url}`)) as [Buffer]
  return { name: data.toString(), socket }
}

describe("RoundRobinProxy", () => {
  it("deals every request of one keep-alive connection, and every WebSocket, to the next upstream in turn", async () => {
    const { ups, proxy } = await threeUpstreams()
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    cleanup.push(async () => agent.destroy())
    const names: string[] = []
    for (let i = 0; i < 6; i++) names.push(await fetchText(`${proxy.url}/who`, agent))
    expect(names).toEqual(["a", "b", "c", "a", "b", "c"])
    // One client connection carried all six: the proxy dealt requests, not connections.
    expect(proxy.connectionsAccepted).toBe(1)

    const sockets = []
    for (let i = 0; i < 3; i++) sockets.push((await wsName(`ws://127.0.0.1:${proxy.port}/`)).name)
    expect(sockets).toEqual(["a", "b", "c"])
    for (const up of ups) expect(proxy.dealt.get(up.port)).toEqual({ requests: 2, upgrades: 1, refused: 0 })
  })

  it("forwards request bodies, deals nothing to a removed upstream, and passes over one that refuses", async () => {
    const { ups, proxy } = await threeUpstreams()
    const [a, b, c] = ups as [Upstream, Upstream, Upstream]
    const agent = new Agent({ keepAlive: true })
    cleanup.push(async () => agent.destroy())
    const post = await within(
      fetch(`${proxy.url}/echo`, { method: "POST", body: "hello" }).then((r) => r.text()),
      5000,
      "the POST",
    )
    expect(post).toBe("a hello")

    proxy.remove(b.port)
    expect(proxy.upstreams).toEqual([a.port, c.port])
    const names: string[] = []
    for (let i = 0; i < 4; i++) names.push(await fetchText(`${proxy.url}/who`, agent))
    expect(names.sort()).toEqual(["a", "a", "c", "c"])
    expect(proxy.dealt.get(b.port)?.requests).toBe(0)

    // c goes away without leaving the rotation: its turns go to a, and are counted as refused.
    await c.close()
    const after: string[] = []
    for (let i = 0; i < 4; i++) after.push(await fetchText(`${proxy.url}/who`, agent))
    expect(after).toEqual(["a", "a", "a", "a"])
    expect(proxy.dealt.get(c.port)?.refused).toBeGreaterThanOrEqual(1)
    const { name } = await wsName(`ws://127.0.0.1:${proxy.port}/`)
    expect(name).toBe("a")
  })

  it("passes an event stream and a held response through as they are written, unbuffered", async () => {
    const { ups, proxy } = await threeUpstreams()
    const [a, b] = ups as [Upstream, Upstream, Upstream]
    const agent = new Agent({ keepAlive: true })
    cleanup.push(async () => agent.destroy())

    const sse = await within(
      new Promise<IncomingMessage>((resolve) => get(`${proxy.url}/sse`, { agent }, resolve)),
      5000,
      "the event stream's head",
    )
    expect(sse.headers["content-type"]).toBe("text/event-stream")
    const events: string[] = []
    sse.on("data", (chunk: Buffer) => events.push(chunk.toString()))
    await within(
      (async () => {
        while (events.length < 1) await once(sse, "data")
      })(),
      5000,
      "the first event",
    )
    expect(events).toEqual(["data: a 1\n\n"])
    a.held[0]?.write("data: a 2\n\n")
    await within(once(sse, "data"), 5000, "the second event")
    expect(events).toEqual(["data: a 1\n\n", "data: a 2\n\n"])

    // A long poll: the upstream holds the request, then writes a part of its answer and keeps it open.
    let text = ""
    const holding = once(b.events, "held") as Promise<[ServerResponse]>
    const response = new Promise<IncomingMessage>((resolve) => get(`${proxy.url}/hold`, { agent }, resolve))
    const [res] = await within(holding, 5000, "the upstream to hold the request")
    res.writeHead(200, { "content-type": "application/octet-stream" })
    res.write("part")
    const held = await within(response, 5000, "the held response's head")
    held.on("data", (chunk: Buffer) => {
      text += chunk.toString()
    })
    await within(once(held, "data"), 5000, "the first part of the held response")
    expect(text).toBe("part")
    b.held[0]?.end("-end")
    await within(once(held, "end"), 5000, "the end of the held response")
    expect(text).toBe("part-end")
  })

  it("aborts the upstream request when the client goes away", async () => {
    const { ups, proxy } = await threeUpstreams()
    const [a] = ups as [Upstream, Upstream, Upstream]
    const controller = new AbortController()
    const holding = once(a.events, "held")
    const request = fetch(`${proxy.url}/hold`, { signal: controller.signal }).catch((error: Error) => error)
    await within(holding, 5000, "the upstream to hold the request")
    controller.abort()
    expect(await request).toBeInstanceOf(Error)
    await within(once(a.held[0] as ServerResponse, "close"), 5000, "the upstream request to close")
    expect(a.aborted).toBe(1)
  })

  it("drop() cuts every connection, both sides", async () => {
    const { ups, proxy } = await threeUpstreams()
    const [a] = ups as [Upstream, Upstream, Upstream]
    const { socket } = await wsName(`ws://127.0.0.1:${proxy.port}/`)
    expect(a.wss.clients.size).toBe(1)
    const [upstreamSide] = [...a.wss.clients] as [WebSocket]
    const closed = Promise.all([once(socket, "close"), once(upstreamSide, "close")])
    expect(proxy.drop()).toBe(1)
    await within(closed, 5000, "both sides to see the cut")
    expect(proxy.connections).toBe(0)
  })
})
