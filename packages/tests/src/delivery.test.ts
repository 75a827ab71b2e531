import { get as httpGet, type IncomingMessage } from "node:http"
import { createClient } from "@switchyard/client-browser/all"
import { contract, control, FrameType, rpc, type SwitchyardError, stream, topic } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { UNRELIABLE_CHANNEL, webrtcTransport } from "@switchyard/webrtc-data"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import * as Schema from "effect/Schema"
import { EventSource } from "eventsource"
import { RTCPeerConnection } from "node-datachannel/polyfill"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { fastReconnect } from "./support/harnesses.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

/** A game: positions and telemetry latest-value-wins, chat reliable. */
export const Game = contract({
  rpc: { ping: rpc({ input: Schema.Null, output: Schema.String }) },
  streams: {
    telemetry: stream({
      input: Schema.Struct({ count: Schema.Number, pauseMs: Schema.Number }),
      item: Schema.Number,
      delivery: "unreliable",
    }),
  },
  topics: {
    cursor: topic({ message: Schema.Struct({ n: Schema.Number, pad: Schema.String }), delivery: "unreliable" }),
    chat: topic({ message: Schema.Number }),
  },
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function startServer() {
  const server = createServer(
    Game,
    {
      rpc: { ping: () => "pong" },
      streams: {
        telemetry: async function* ({ count, pauseMs }) {
          for (let i = 1; i <= count; i++) {
            if (pauseMs > 0) await sleep(pauseMs)
            yield i
          }
        },
      },
      topics: { cursor: { canSubscribe: () => true }, chat: { canSubscribe: () => true } },
    },
    { onError: () => {} },
  )
  const { url, port } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return { server, url, port }
}

type Transport = "websocket" | "sse" | "long-polling" | "polling"

function gameClient(url: string, transport: Transport, WebSocketImpl: new (url: string) => WebSocket = WebSocket) {
  const client = createClient(Game, {
    url,
    WebSocket: WebSocketImpl,
    EventSource,
    transports: [transport],
    reconnect: fastReconnect,
  })
  cleanup.push(() => client.close())
  const errors: SwitchyardError[] = []
  client.on("error", (e) => errors.push(e))
  return { client, errors }
}

/** Subscribes and waits until the server has the subscription. */
async function subscribed(
  server: Awaited<ReturnType<typeof startServer>>["server"],
  client: ReturnType<typeof gameClient>["client"],
  key: string,
) {
  const cursor: number[] = []
  const chat: number[] = []
  client.topics.cursor(key).subscribe((m) => cursor.push(m.n))
  client.topics.chat(key).subscribe((n) => chat.push(n))
  await waitFor(
    () => server.topics.cursor(key).subscribers === 1 && server.topics.chat(key).subscribers === 1,
    5000,
    "the subscriptions",
  )
  return { cursor, chat }
}

/** Strictly increasing: no value ever arrives after a newer one. */
const increasing = (values: readonly number[]) => values.every((v, i) => i === 0 || v > (values[i - 1] as number))

describe.each<Transport>(["websocket", "sse", "long-polling", "polling"])("unreliable topics over %s", (transport) => {
  it("conflates a burst to the latest message per key, while a reliable topic delivers every one", async () => {
    const { server, url } = await startServer()
    const { client, errors } = gameClient(url, transport)
    const a = await subscribed(server, client, "a")
    const b = await subscribed(server, client, "b")
    // One tick: every message of it waits in the same slot of its key, and only the last leaves.
    for (let n = 1; n <= 100; n++) {
      server.topics.cursor("a").publish({ n, pad: "" })
      server.topics.cursor("b").publish({ n: 1000 + n, pad: "" })
      server.topics.chat("a").publish(n)
    }
    await waitFor(() => a.chat.length === 100 && a.cursor.includes(100) && b.cursor.includes(1100), 5000, "delivery")
    expect(a.chat).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    expect(a.cursor).toEqual([100])
    expect(b.cursor).toEqual([1100])
    // The next publication, in another tick, arrives as well.
    server.topics.cursor("a").publish({ n: 101, pad: "" })
    await waitFor(() => a.cursor.includes(101), 5000, "the next message")
    expect(a.cursor).toEqual([100, 101])
    expect(errors).toEqual([])
  })
})

describe("unreliable delivery over WebSocket (Node)", () => {
  it("a client that stops reading gets the latest per key when it reads again, with no slow-consumer close", async () => {
    const { server, url } = await startServer()
    const sockets: WebSocket[] = []
    class Recording extends WebSocket {
      constructor(url: string) {
        super(url)
        sockets.push(this)
      }
    }
    const { client, errors } = gameClient(url, "websocket", Recording)
    const switches: string[] = []
    client.on("transport", (_name, reason) => switches.push(reason))
    const { cursor } = await subscribed(server, client, "k")
    // The client stops reading its socket: the kernel buffers fill, then the server's socket buffer.
    const raw = (sockets[0] as unknown as { _socket: import("node:net").Socket })._socket
    raw.pause()
    const pad = "x".repeat(64 * 1024)
    const published = 400
    // 400 × 64 KiB = 25 MiB: more than loopback's socket buffers, and more than `maxBufferedBytes`
    // (16 MiB), which would close a consumer this slow if these were reliable.
    for (let n = 1; n <= published; n++) {
      server.topics.cursor("k").publish({ n, pad })
      await nextTurn()
    }
    raw.resume()
    await waitFor(() => cursor.includes(published), 10_000, "the latest message")
    expect(increasing(cursor)).toBe(true)
    expect(cursor.length).toBeLessThan(published)
    expect(switches).toEqual(["connected"])
    expect(errors).toEqual([])
    expect(await client.rpc.ping(null)).toBe("pong")
  })

  it("after a dropped connection, reliable messages are replayed and unreliable ones are not", async () => {
    const { server, port } = await startServer()
    await using proxy = await TcpProxy.start(port)
    const { client, errors } = gameClient(`http://127.0.0.1:${proxy.port}/switchyard`, "websocket")
    const sessions: boolean[] = []
    client.on("session", (s) => sessions.push(s.recovered))
    const { cursor, chat } = await subscribed(server, client, "k")
    server.topics.cursor("k").publish({ n: 1, pad: "" })
    server.topics.chat("k").publish(1)
    await waitFor(() => cursor.includes(1) && chat.includes(1), 5000, "the first messages")
    // The network stops delivering: what the server sends now is written, held, then lost in the drop.
    proxy.stall(true)
    for (let n = 2; n <= 4; n++) {
      server.topics.cursor("k").publish({ n, pad: "" })
      server.topics.chat("k").publish(n)
      await nextTurn()
    }
    await sleep(20)
    proxy.drop()
    proxy.stall(false)
    await waitFor(() => sessions.length === 2, 5000, "the resume")
    expect(sessions).toEqual([false, true])
    await waitFor(() => chat.length === 4, 5000, "the replayed chat")
    server.topics.cursor("k").publish({ n: 5, pad: "" })
    await waitFor(() => cursor.includes(5), 5000, "the next cursor")
    expect(chat).toEqual([1, 2, 3, 4])
    expect(cursor).toEqual([1, 5])
    expect(errors).toEqual([])
  })

  it("an unreliable stream is iterated like any other and its last item comes before END", async () => {
    const { url } = await startServer()
    const { client } = gameClient(url, "websocket")
    const paced: number[] = []
    for await (const n of client.streams.telemetry({ count: 5, pauseMs: 5 })) paced.push(n)
    expect(paced).toEqual([1, 2, 3, 4, 5])
    // A consumer slower than the producer skips items: it never sees one older than the last, nor
    // more than the stream made, and still gets the last.
    const slow: number[] = []
    for await (const n of client.streams.telemetry({ count: 200, pauseMs: 1 })) {
      slow.push(n)
      await sleep(20)
    }
    expect(slow.at(-1)).toBe(200)
    expect(increasing(slow)).toBe(true)
    expect(slow.length).toBeLessThan(200)
  })

  it("a message that does not match the contract is an error event, never a crash, and the next one arrives", async () => {
    const Loose = contract({
      topics: {
        cursor: topic({ message: Schema.Struct({ n: Schema.Unknown, pad: Schema.String }), delivery: "unreliable" }),
      },
    })
    const server = createServer(Loose, { topics: { cursor: { canSubscribe: () => true } } }, { onError: () => {} })
    const { url } = await server.listen(0, "127.0.0.1")
    cleanup.push(() => server.close())
    const { client, errors } = gameClient(url, "websocket")
    const cursor: number[] = []
    client.topics.cursor("k").subscribe((m) => cursor.push(m.n))
    await waitFor(() => server.topics.cursor("k").subscribers === 1, 5000, "the subscription")
    server.topics.cursor("k").publish({ n: "not a number", pad: "" })
    await waitFor(() => errors.length === 1, 5000, "the error event")
    expect(errors[0]?.code).toBe("INVALID_OUTPUT")
    server.topics.cursor("k").publish({ n: 2, pad: "" })
    await waitFor(() => cursor.includes(2), 5000, "the next message")
    expect(cursor).toEqual([2])
  })

  it("a client that sends an UNRELIABLE frame gets a NOTICE, and its session goes on", async () => {
    const { url } = await startServer()
    const ws = new WebSocket(url.replace("http:", "ws:"))
    const frames: unknown[][] = []
    ws.on("message", (data) => frames.push(JSON.parse(data.toString()) as unknown[]))
    ws.on("error", () => {})
    cleanup.push(async () => ws.terminate())
    await new Promise((resolve) => ws.once("open", resolve))
    ws.send(control.hello(1, null, 0))
    await waitFor(() => frames.some((f) => f[0] === FrameType.WELCOME), 5000, "WELCOME")
    ws.send(JSON.stringify([FrameType.UNRELIABLE, 1, "cursor", "k", { n: 1, pad: "" }]))
    ws.send(JSON.stringify([FrameType.UNRELIABLE, 1, 7, 1]))
    ws.send(JSON.stringify([FrameType.CALL, 1, 1, "ping", null]))
    await waitFor(() => frames.some((f) => f[0] === FrameType.RESULT), 5000, "the RESULT")
    const notices = frames.filter((f) => f[0] === FrameType.NOTICE)
    expect(notices).toEqual([
      [25, "INVALID_FRAME", "UNRELIABLE frames travel from server to client only; publish with PUBLISH"],
      [25, "INVALID_FRAME", "UNRELIABLE frames travel from server to client only; publish with PUBLISH"],
    ])
    expect(frames.find((f) => f[0] === FrameType.RESULT)).toEqual([FrameType.RESULT, 1, 1, "pong"])
    expect(ws.readyState).toBe(WebSocket.OPEN)
  })
})

describe("unreliable delivery over WebRTC (Node client, Node server)", () => {
  it("sends unreliable topic messages on the second data channel, made unordered without retransmits on both ends", async () => {
    type Options = Parameters<RTCPeerConnection["createDataChannel"]>[1]
    const made: Array<{ side: "client" | "server"; label: string; options: Options }> = []
    const onLossy: string[] = []
    const onSession: string[] = []
    const spy = (side: "client" | "server") =>
      class extends RTCPeerConnection {
        override createDataChannel(label: string, options?: Options) {
          const channel = super.createDataChannel(label, options)
          made.push({ side, label, options })
          if (side === "client") {
            const seen = label === UNRELIABLE_CHANNEL ? onLossy : onSession
            channel.addEventListener("message", (event) => seen.push(String((event as MessageEvent).data)))
          }
          return channel
        }
      }
    const server = createServer(
      Game,
      {
        rpc: { ping: () => "pong" },
        streams: { telemetry: async function* () {} },
        topics: { cursor: { canSubscribe: () => true }, chat: { canSubscribe: () => true } },
      },
      { onError: () => {}, webrtc: webrtcServer({ RTCPeerConnection: spy("server") as never }) },
    )
    const { url } = await server.listen(0, "127.0.0.1")
    cleanup.push(() => server.close())
    const client = createClient(Game, {
      url,
      WebSocket,
      transports: [webrtcTransport({ RTCPeerConnection: spy("client") as never }), "websocket"],
      reconnect: fastReconnect,
    })
    cleanup.push(() => client.close())
    await waitFor(() => client.transport === "webrtc", 15_000, "the move to WebRTC")
    const { cursor, chat } = await subscribed(server, client, "k")
    for (let n = 1; n <= 20; n++) {
      server.topics.cursor("k").publish({ n, pad: "" })
      server.topics.chat("k").publish(n)
      await nextTurn()
    }
    await waitFor(() => cursor.includes(20) && chat.length === 20, 5000, "the messages")
    expect(increasing(cursor)).toBe(true)
    expect(chat).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    // Both ends made the same negotiated channel: neither relies on the other announcing it.
    const lossy = made.filter((m) => m.label === UNRELIABLE_CHANNEL)
    expect(lossy.map((m) => m.side).sort()).toEqual(["client", "server"])
    for (const m of lossy) expect(m.options).toEqual({ negotiated: true, id: 16, ordered: false, maxRetransmits: 0 })
    // Every cursor message came on it, and none on the session channel; chat stayed on the session channel.
    const cursorFrames = (frames: string[]) => frames.filter((f) => f.startsWith(`[${FrameType.UNRELIABLE},`))
    expect(cursorFrames(onLossy).length).toBe(cursor.length)
    expect(cursorFrames(onLossy).at(-1)).toMatch(/^\[28,\d+,"cursor","k",\{"n":20,"pad":""\}\]$/)
    expect(cursorFrames(onSession)).toEqual([])
    expect(onSession.some((f) => f.startsWith(`[${FrameType.MESSAGE},`))).toBe(true)
    expect(onLossy.every((f) => f.startsWith(`[${FrameType.UNRELIABLE},`))).toBe(true)
  })
})

describe("unreliable delivery over the HTTP transports, seen from the wire", () => {
  /** Opens a link with HELLO, subscribes to cursor("k") and waits until the server has it. */
  async function rawLink(transport: "sse" | "long-polling") {
    const { server, url } = await startServer()
    const text = { "content-type": "text/plain" }
    const opened = await fetch(`${url}?transport=${transport}`, {
      method: "POST",
      body: control.hello(1, null, 0),
      headers: text,
    })
    const { link } = (await opened.json()) as { link: string }
    const subscribe = await fetch(`${url}?link=${link}`, {
      method: "POST",
      body: JSON.stringify([FrameType.SUBSCRIBE, 1, 1, "cursor", "k"]),
      headers: text,
    })
    expect(subscribe.status).toBe(204)
    await waitFor(() => server.topics.cursor("k").subscribers === 1, 5000, "the subscription")
    return { server, url, link }
  }

  /** `n` of every UNRELIABLE frame in a batch or event stream text. */
  const unreliableNs = (text: string) => [...text.matchAll(/\[28,(\d+),"cursor","k",/g)].map((m) => Number(m[1]))

  it("long polling: a client that does not poll for a while gets the latest message per key in its next poll", async () => {
    const { server, url, link } = await rawLink("long-polling")
    // The first poll takes WELCOME and the RESULT (and maybe an ACK).
    const first = await (await fetch(`${url}?transport=long-polling&link=${link}`)).text()
    expect(first).toContain(`[${FrameType.WELCOME},`)
    for (let n = 1; n <= 50; n++) {
      server.topics.cursor("k").publish({ n, pad: "" })
      await nextTurn()
    }
    const second = await (await fetch(`${url}?transport=long-polling&link=${link}`)).text()
    const ns = unreliableNs(second)
    expect(ns).toHaveLength(1)
    expect(second).toMatch(/\[28,\d+,"cursor","k",\{"n":50,"pad":""\}\]/)
  })

  it("SSE: a stream that is not read conflates, never ends as a slow consumer, and ends with the latest", async () => {
    const { server, url, link } = await rawLink("sse")
    let received = ""
    const response = await new Promise<IncomingMessage>((resolve, reject) =>
      httpGet(`${url}?transport=sse&link=${link}`, resolve).on("error", reject),
    )
    response.setEncoding("utf8")
    response.on("data", (chunk: string) => {
      received += chunk
    })
    await waitFor(() => received.includes(`[${FrameType.WELCOME},`), 5000, "WELCOME")
    // The reader stops: loopback buffers fill, then the response's own buffer.
    response.pause()
    const pad = "x".repeat(64 * 1024)
    const published = 400
    for (let n = 1; n <= published; n++) {
      server.topics.cursor("k").publish({ n, pad })
      await nextTurn()
    }
    response.resume()
    await waitFor(() => received.includes(`{"n":${published},`), 10_000, "the latest message")
    const ns = unreliableNs(received)
    expect(ns.length).toBeLessThan(published)
    expect(increasing(ns)).toBe(true)
    // The link lives on: no `gone`, and unreliable frames carry no event id.
    expect(received).not.toContain("event: gone")
    expect(received).not.toMatch(/id: \d+\ndata: \[28,/)
    response.destroy()
  })
})
