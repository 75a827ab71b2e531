import { createClient } from "@switchyard/client-browser/all"
import { contract, FrameType, memoryTransport, rpc, type SwitchyardError, stream, topic } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { connected, testClientOptions } from "./support/harnesses.ts"

const Review = contract({
  rpc: {
    echo: rpc({ input: Schema.Unknown, output: Schema.Unknown }),
    selfInterrupt: rpc({ input: Schema.Struct({}), output: Schema.Number }),
    boom: rpc({ input: Schema.Struct({}), output: Schema.Number }),
    getter: rpc({ input: Schema.Struct({}), output: Schema.Struct({ n: Schema.Number }) }),
  },
  streams: { numbers: stream({ input: Schema.Struct({}), item: Schema.Number }) },
  topics: { slow: topic({ message: Schema.Number }) },
})

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function start(options: Parameters<typeof createServer<typeof Review, undefined>>[2] = {}) {
  let streamsStarted = 0
  const server = createServer(
    Review,
    {
      rpc: {
        echo: (x) => x,
        selfInterrupt: () => Effect.interrupt,
        boom: () => {
          throw new Error("boom")
        },
        getter: async () => ({
          get n(): number {
            throw new Error("getter boom")
          },
        }),
      },
      streams: {
        numbers: async function* () {
          streamsStarted++
          yield 1
        },
      },
      topics: { slow: { canSubscribe: () => new Promise<boolean>((r) => setTimeout(() => r(true), 30)) } },
    },
    { limits: { maxMessageBytes: 10_000, maxDepth: 16 }, ...options },
  )
  const transport = memoryTransport(server.accept)
  const client = createClient(Review, { url: "memory:", transports: [transport], ...testClientOptions })
  cleanup.push(async () => {
    await client.close()
    await server.close()
  })
  return { server, client, streamsStarted: () => streamsStarted }
}

describe("calls at the edges: limits before WELCOME, failing handlers and hooks, races, session events", () => {
  it("refuses an oversized or too-deep call before queueing it, instead of replaying it forever", async () => {
    const { client } = start()
    await connected(client)
    const states: string[] = []
    client.on("state", (s) => states.push(s))
    const big = await client.rpc.echo("x".repeat(20_000)).catch((e: SwitchyardError) => e)
    expect((big as SwitchyardError).code).toBe("MESSAGE_TOO_LARGE")
    const deep = await client.rpc
      .echo(JSON.parse(`${"[".repeat(20)}${"]".repeat(20)}`))
      .catch((e: SwitchyardError) => e)
    expect((deep as SwitchyardError).code).toBe("FRAME_TOO_DEEP")
    expect(await client.rpc.echo({ ok: [1, [2, [3]]] })).toEqual({ ok: [1, [2, [3]]] })
    expect(states).toEqual([])
  })

  it("answers a request queued before the first WELCOME that breaks the server's lower limits, and goes on", async () => {
    const { client } = start()
    const states: string[] = []
    client.on("state", (s) => states.push(s))
    // Made before the handshake: the client checks them against the default limits (1 MiB, depth 64).
    const deep = client.rpc.echo(JSON.parse(`${"[".repeat(20)}${"]".repeat(20)}`)).catch((e: SwitchyardError) => e)
    // Over twice the server's 10,000 bytes, under the 1 MiB the client assumes: still answered, not cut.
    const big = client.rpc.echo("x".repeat(50_000)).catch((e: SwitchyardError) => e)
    const fine = client.rpc.echo(7)
    expect(((await deep) as SwitchyardError).code).toBe("FRAME_TOO_DEEP")
    expect(((await big) as SwitchyardError).code).toBe("MESSAGE_TOO_LARGE")
    expect(await fine).toBe(7)
    expect(states).toEqual(["connected"])
  })

  it("over WebSocket too: a request between twice the limit and the client's assumed 1 MiB is answered", async () => {
    const { server } = start()
    const { url } = await server.listen(0, "127.0.0.1")
    const client = createClient(Review, { url, WebSocket, ...testClientOptions })
    cleanup.push(() => client.close())
    const states: string[] = []
    client.on("state", (s) => states.push(s))
    const big = client.rpc.echo("x".repeat(500_000)).catch((e: SwitchyardError) => e)
    const fine = client.rpc.echo(8)
    expect(((await big) as SwitchyardError).code).toBe("MESSAGE_TOO_LARGE")
    expect(await fine).toBe(8)
    expect(states).toEqual(["connected"])
  })

  it("answers a handler whose output throws while it is encoded, without crashing", async () => {
    const errors: unknown[] = []
    const { client } = start({ onError: (e) => errors.push(e) })
    const error = (await client.rpc.getter({}).catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(error.code).toBe("INVALID_OUTPUT")
    expect(errors).toHaveLength(1)
    expect(await client.rpc.echo(1)).toBe(1)
  })

  it("answers a handler that interrupts itself with CANCELLED", async () => {
    const { client } = start()
    const error = (await client.rpc.selfInterrupt({}).catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(error.code).toBe("CANCELLED")
  })

  it("survives an onError hook that throws, and still answers the call", async () => {
    const { client } = start({
      onError: () => {
        throw new Error("hook bug")
      },
    })
    const error = (await client.rpc.boom({}).catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(error.code).toBe("INTERNAL_ERROR")
    expect(await client.rpc.echo(1)).toBe(1)
  })

  it("does not start a stream whose signal is already aborted", async () => {
    const { client, streamsStarted } = start()
    await connected(client)
    const controller = new AbortController()
    controller.abort()
    const iterator = client.streams.numbers({}, { signal: controller.signal })[Symbol.asyncIterator]()
    const error = (await iterator.next().catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(error.code).toBe("CANCELLED")
    expect(await client.rpc.echo(2)).toBe(2)
    expect(streamsStarted()).toBe(0)
  })

  it("answers a SUBSCRIBE even when UNSUBSCRIBE overtakes its asynchronous policy", async () => {
    const { server } = start()
    const { url } = await server.listen(0, "127.0.0.1")
    const ws = new WebSocket(url.replace("http:", "ws:"))
    cleanup.push(async () => ws.terminate())
    const frames: unknown[][] = []
    ws.on("message", (data) => frames.push(JSON.parse(data.toString())))
    await new Promise((r) => ws.once("open", r))
    ws.send(JSON.stringify([FrameType.HELLO, 1, null, 0]))
    ws.send(JSON.stringify([FrameType.SUBSCRIBE, 1, 5, "slow", "k"]))
    ws.send(JSON.stringify([FrameType.UNSUBSCRIBE, 2, "slow", "k"]))
    await waitFor(() => frames.some((f) => f[0] === FrameType.RESULT && f[2] === 5), 2000, "the answer")
    expect(server.topics.slow("k").subscribers).toBe(0)
  })

  it("moves to reconnecting when the server ends the session, and reports session starts and ends", async () => {
    const events: string[] = []
    const { server, client } = start({
      onSessionStart: (s) => events.push(`start ${s.id}`),
      onSessionEnd: (s, reason) => events.push(`end ${s.id} ${reason}`),
    })
    await connected(client)
    const first = client.sessionId
    const states: string[] = []
    client.on("state", (s) => states.push(s))
    await server.close()
    await waitFor(() => states.includes("reconnecting"), 2000, "reconnecting")
    expect(events).toEqual([`start ${first}`, `end ${first} SERVER_CLOSED`])
  })

  it("reports a resumed session as recovered and a replacement as not", async () => {
    const { server } = start()
    const transport = memoryTransport(server.accept)
    const other = createClient(Review, { url: "memory:", transports: [transport], ...testClientOptions })
    cleanup.push(() => other.close())
    const sessions: Array<{ id: string; recovered: boolean }> = []
    other.on("session", (s) => sessions.push(s))
    await connected(other)
    transport.drop()
    await waitFor(() => sessions.length === 2, 3000, "the resume")
    expect(sessions[0]).toEqual({ id: other.sessionId, recovered: false })
    expect(sessions[1]).toEqual({ id: other.sessionId, recovered: true })
  })
})

describe("connection limits under concurrency", () => {
  it("counts a connection per IP before authenticate resolves, so simultaneous upgrades cannot pass the bound", async () => {
    const server = createServer(
      Review,
      {
        rpc: { echo: (x) => x, selfInterrupt: () => 1, boom: () => 1, getter: () => ({ n: 1 }) },
        streams: { numbers: async function* () {} },
      },
      {
        limits: { maxConnectionsPerIp: 2 },
        authenticate: () => new Promise((r) => setTimeout(() => r(undefined), 50)),
      },
    )
    const { url } = await server.listen(0, "127.0.0.1")
    cleanup.push(() => server.close())
    const outcomes = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<number>((resolve) => {
            const ws = new WebSocket(url.replace("http:", "ws:"))
            cleanup.push(async () => ws.terminate())
            ws.once("open", () => resolve(101))
            ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0))
            ws.once("error", () => resolve(0))
          }),
      ),
    )
    expect(outcomes.filter((s) => s === 101)).toHaveLength(2)
    expect(outcomes.filter((s) => s === 429)).toHaveLength(3)
  })

  it("releases the per-IP count of an upgrade that ws itself refuses", async () => {
    const server = createServer(
      Review,
      {
        rpc: { echo: (x) => x, selfInterrupt: () => 1, boom: () => 1, getter: () => ({ n: 1 }) },
        streams: { numbers: async function* () {} },
      },
      { limits: { maxConnectionsPerIp: 1 } },
    )
    const { port, url } = await server.listen(0, "127.0.0.1")
    cleanup.push(() => server.close())
    const { connect } = await import("node:net")
    for (let i = 0; i < 3; i++) {
      // An upgrade with an invalid Sec-WebSocket-Key: ws answers 400 without calling back.
      const status = await new Promise<string>((resolve) => {
        const socket = connect(port, "127.0.0.1", () =>
          socket.write(
            "GET /switchyard HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: nope\r\n\r\n",
          ),
        )
        socket.once("data", (d) => resolve(d.toString().split("\r\n")[0] ?? ""))
        socket.on("error", () => resolve("error"))
      })
      expect(status).toContain("400")
    }
    const ws = new WebSocket(url.replace("http:", "ws:"))
    cleanup.push(async () => ws.terminate())
    await new Promise((resolve, reject) => {
      ws.once("open", resolve)
      ws.once("unexpected-response", (_q, res) => reject(new Error(`refused ${res.statusCode}`)))
    })
  })
})
