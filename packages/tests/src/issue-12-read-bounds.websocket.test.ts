import { createClient } from "@switchyard/client-browser/all"
import { control, FrameType } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Server, type ServerLimits } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { connected } from "./support/harnesses.ts"
import { closeCodeIn, frameHeader, openRawWebSocket, textFrame } from "./support/rawWebSocket.ts"

const KiB = 1024
/**
 * The per-address bound of most tests: the least createServer takes is the largest message a client may
 * send (1 MiB + 64 KiB with the default maxMessageBytes), and one 1,000 KiB message stays under it.
 */
const BOUND = 1280 * KiB
/** The closing wait after a refusal (CLOSE_WAIT_MS), and room for a busy machine. */
const CLOSE_WAIT_MS = 1000
const SLACK_MS = 1500

/** A WebSocket with a session, that can leave a message unfinished (`send(data, { fin: false })`). */
interface Peer {
  readonly ws: WebSocket
  readonly frames: unknown[][]
  readonly closed: Promise<{ code: number; reason: string; at: number }>
}

/**
 * Issue 12, item 2: unfinished WebSocket messages. What they hold is bounded per address and in all
 * (`SERVER_BUSY`, close 1013), and a message has `readTimeoutMs` from its first byte to its last
 * (`READ_TIMEOUT`, close 4212). The full-size attack is `scripts/attack-bodies.mjs`.
 */
describe("unfinished WebSocket messages (issue 12, item 2)", () => {
  const servers: Server<TestContract>[] = []
  const peers: WebSocket[] = []
  afterEach(async () => {
    for (const ws of peers.splice(0)) ws.terminate()
    for (const server of servers.splice(0)) await server.close()
  })

  const start = async (limits: Partial<ServerLimits>) => {
    const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
      limits,
      onError: () => {},
    })
    servers.push(server)
    const { url } = await server.listen(0, "127.0.0.1")
    return { server, url }
  }
  const open = async (url: string, localAddress = "127.0.0.1"): Promise<Peer> => {
    const ws = new WebSocket(url.replace("http:", "ws:"), { localAddress })
    peers.push(ws)
    const frames: unknown[][] = []
    ws.on("error", () => {})
    ws.on("message", (data) => frames.push(JSON.parse(data.toString()) as unknown[]))
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    )
    await new Promise((resolve, reject) => {
      ws.once("open", resolve)
      ws.once("error", reject)
    })
    ws.send(control.hello(1, null, 0))
    await waitFor(() => frames.some((f) => f[0] === FrameType.WELCOME), 3000, "WELCOME")
    return { ws, frames, closed }
  }
  /** Starts a text message of `bytes` and leaves it unfinished; resolves when it has been written. */
  const startMessage = (peer: Peer, bytes: number) =>
    new Promise<number>((resolve) => peer.ws.send("x".repeat(bytes), { fin: false }, () => resolve(Date.now())))

  it("bounds the bytes of unfinished messages per address (1013 SERVER_BUSY) and ends held ones after readTimeoutMs (4212)", async () => {
    const readTimeoutMs = 1500
    const { server, url } = await start({ maxIncompleteBytesPerIp: BOUND, readTimeoutMs })
    const bystander = createClient(TestContract, { url, WebSocket, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } })
    await connected(bystander)
    let states = 0
    bystander.on("state", () => states++)

    const first = await open(url)
    const firstStarted = await startMessage(first, 1000 * KiB)
    await waitFor(() => server.incompleteBytes >= 1000 * KiB, 2000, "the first message's bytes")
    // The frame's header counts too (14 bytes).
    expect(server.incompleteBytes).toBeLessThan(1000 * KiB + 64)
    const second = await open(url)
    await startMessage(second, 500 * KiB)
    expect(await second.closed).toMatchObject({ code: 1013, reason: "SERVER_BUSY" })
    // Another address has its own share.
    const other = await open(url, "127.0.0.2")
    const otherStarted = await startMessage(other, 500 * KiB)
    await waitFor(() => server.incompleteBytes >= 1500 * KiB, 2000, "the other address's bytes")
    // Small messages finish within the read they come in: they take nothing and are never refused.
    expect(await bystander.rpc.add({ a: 20, b: 22 })).toBe(42)
    expect(states).toBe(0)

    for (const [peer, started] of [
      [first, firstStarted],
      [other, otherStarted],
    ] as const) {
      const closed = await peer.closed
      expect(closed).toMatchObject({ code: 4212, reason: "READ_TIMEOUT" })
      expect(closed.at - started).toBeGreaterThanOrEqual(readTimeoutMs - 50)
      expect(closed.at - started).toBeLessThan(readTimeoutMs + CLOSE_WAIT_MS + SLACK_MS)
    }
    await waitFor(() => server.incompleteBytes === 0, 2000, "every byte given back")
    await bystander.close()
  })

  it("bounds the bytes of unfinished messages from every address together", async () => {
    const { server, url } = await start({ maxIncompleteBytes: BOUND, maxIncompleteBytesPerIp: 4 * BOUND })
    const first = await open(url)
    await startMessage(first, 1000 * KiB)
    await waitFor(() => server.incompleteBytes >= 1000 * KiB, 2000, "the first message's bytes")
    const other = await open(url, "127.0.0.3")
    await startMessage(other, 500 * KiB)
    expect(await other.closed).toMatchObject({ code: 1013, reason: "SERVER_BUSY" })
    expect(first.ws.readyState).toBe(WebSocket.OPEN)
  })

  it("gives the bytes back when the message ends, and the message is served", async () => {
    const { server, url } = await start({ maxIncompleteBytesPerIp: BOUND })
    const peer = await open(url)
    const head = `[${FrameType.CALL},1,1,"add",{"a":1,"b":2,"pad":"`
    await new Promise((resolve) => peer.ws.send(head + "x".repeat(750 * KiB), { fin: false }, resolve))
    await waitFor(() => server.incompleteBytes >= 750 * KiB, 2000, "the message's bytes")
    peer.ws.send(`"}]`, { fin: true })
    await waitFor(() => peer.frames.some((f) => f[0] === FrameType.RESULT), 3000, "the result")
    expect(peer.frames.find((f) => f[0] === FrameType.RESULT)).toEqual([FrameType.RESULT, 1, 1, 3])
    expect(server.incompleteBytes).toBe(0)
    // Twice the bound in messages one after the other: each gives its bytes back before the next.
    for (let id = 2; id <= 4; id++) {
      peer.ws.send(`[${FrameType.CALL},${id},${id},"add",{"a":1,"b":${id},"pad":"${"y".repeat(1000 * KiB)}"}]`)
    }
    await waitFor(() => peer.frames.filter((f) => f[0] === FrameType.RESULT).length === 4, 3000, "the results")
    expect(server.incompleteBytes).toBe(0)
  })

  it("counts a frame announced and not sent in full, and sends its 1013 close frame", async () => {
    const { server, url } = await start({ maxIncompleteBytesPerIp: BOUND })
    const raw = await openRawWebSocket(url)
    raw.socket.write(Buffer.concat([textFrame(control.hello(1, null, 0)), frameHeader(0x1, 2000 * KiB)]))
    raw.socket.write(Buffer.alloc(1000 * KiB, 0x78))
    await waitFor(() => server.incompleteBytes >= 1000 * KiB, 2000, "the frame's bytes")
    raw.socket.write(Buffer.alloc(500 * KiB, 0x78))
    await raw.closed
    expect(closeCodeIn(raw.received())).toBe(1013)
    await waitFor(() => server.incompleteBytes === 0, 2000, "every byte given back")
  })

  it("holds at most the per-address bound however many connections leave messages unfinished, and closes them all", async () => {
    const readTimeoutMs = 1000
    // Room for 109 of the 10 KiB fragments below (10,254 bytes with their headers), not 110 (the least
    // bound createServer takes is 1,088 KiB): 120 connections pass it.
    const bound = 1100 * KiB
    const { server, url } = await start({ maxIncompleteBytesPerIp: bound, readTimeoutMs })
    const attack = await Promise.all(Array.from({ length: 120 }, () => open(url)))
    let peak = 0
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.incompleteBytes)
    }, 5)
    const started = Date.now()
    await Promise.all(attack.map((peer) => startMessage(peer, 10 * KiB)))
    const closes = await Promise.all(attack.map((peer) => peer.closed))
    clearInterval(sampler)
    expect(peak).toBeLessThanOrEqual(bound)
    expect(closes.every((c) => c.code === 1013 || c.code === 4212)).toBe(true)
    const timedOut = closes.filter((c) => c.code === 4212).length
    expect(timedOut).toBeGreaterThan(0)
    expect(timedOut).toBeLessThanOrEqual(109)
    expect(Math.max(...closes.map((c) => c.at - started))).toBeLessThan(readTimeoutMs + CLOSE_WAIT_MS + SLACK_MS)
    await waitFor(() => server.incompleteBytes === 0, 2000, "every byte given back")
  })
})
