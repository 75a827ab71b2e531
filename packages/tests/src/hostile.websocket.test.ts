import { randomBytes } from "node:crypto"
import { createClient } from "@switchyard/client-browser/all"
import { control, FrameType } from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { connected, startTestServer } from "./support/harnesses.ts"

/** A raw protocol speaker: what an attacker or a buggy client can send. */
class RawPeer {
  readonly frames: unknown[][] = []
  readonly notices: unknown[][] = []
  closed: { code: number; reason: string } | undefined
  private seq = 1

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as unknown[]
      if (frame[0] === FrameType.NOTICE) this.notices.push(frame)
      this.frames.push(frame)
    })
    ws.on("close", (code, reason) => (this.closed = { code, reason: reason.toString() }))
    ws.on("error", () => {})
  }

  static async open(url: string, options: { hello?: boolean; origin?: string } = {}): Promise<RawPeer> {
    const ws = new WebSocket(url.replace("http:", "ws:"), options.origin ? { origin: options.origin } : {})
    const peer = new RawPeer(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve())
      ws.once("unexpected-response", (_req, res) =>
        reject(Object.assign(new Error("refused"), { status: res.statusCode })),
      )
      ws.once("error", reject)
    })
    if (options.hello !== false) {
      ws.send(control.hello(1, null, 0))
      await waitFor(() => peer.frames.some((f) => f[0] === FrameType.WELCOME), 3000, "WELCOME")
    }
    return peer
  }

  /** Sends a well-numbered data frame: `[type, seq, ...rest]`. */
  data(type: number, ...rest: unknown[]): number {
    const seq = this.seq++
    this.ws.send(JSON.stringify([type, seq, ...rest]))
    return seq
  }

  /** Sends `[type,seq,<rest>]` with the next sequence number, `rest` given as raw JSON text. */
  dataText(type: number, rest: string): number {
    const seq = this.seq++
    this.ws.send(`[${type},${seq},${rest}]`)
    return seq
  }

  raw(text: string | Buffer): void {
    this.ws.send(text)
  }

  async reply(id: number): Promise<unknown[]> {
    await waitFor(
      () => this.frames.some((f) => (f[0] === FrameType.RESULT || f[0] === FrameType.ERROR) && f[2] === id),
      3000,
      `reply ${id}`,
    )
    return this.frames.find((f) => (f[0] === FrameType.RESULT || f[0] === FrameType.ERROR) && f[2] === id) as unknown[]
  }

  async notice(count: number): Promise<unknown[]> {
    await waitFor(() => this.notices.length >= count, 3000, `notice ${count}`)
    return this.notices[count - 1] as unknown[]
  }
}

describe("hostile input over WebSocket", () => {
  let server: ReturnType<typeof startTestServer>
  let url: string
  let state: TestServerState
  const peers: RawPeer[] = []

  beforeEach(async () => {
    state = { aborted: new Set() }
    server = startTestServer({}, state)
    url = (await server.listen(0, "127.0.0.1")).url
  })
  afterEach(async () => {
    for (const p of peers.splice(0)) p.ws.terminate()
    await server.close()
  })

  const open = async (options?: Parameters<typeof RawPeer.open>[1]) => {
    const peer = await RawPeer.open(url, options)
    peers.push(peer)
    return peer
  }

  /** A well-behaved client beside the attacker, which must not notice anything. */
  const bystander = async () => {
    const client = createClient(TestContract, { url, WebSocket, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } })
    await connected(client)
    let states = 0
    client.on("state", () => states++)
    return {
      client,
      async stillFine() {
        expect(await client.rpc.add({ a: 20, b: 22 })).toBe(42)
        expect(states).toBe(0)
        await client.close()
      },
    }
  }

  it("answers random bytes, binary frames and invalid JSON with a NOTICE and keeps the connection", async () => {
    const other = await bystander()
    const peer = await open()
    peer.raw(randomBytes(256))
    expect((await peer.notice(1))[1]).toBe("INVALID_FRAME")
    peer.raw("{not json")
    expect((await peer.notice(2))[1]).toBe("INVALID_FRAME")
    peer.raw(randomBytes(64).toString("latin1"))
    expect((await peer.notice(3))[1]).toBe("INVALID_FRAME")
    for (const text of [
      "[]",
      "{}",
      "null",
      "42",
      '"x"',
      "[999,1]",
      "[1]",
      '[1,1,1,"add"]',
      '[1,-1,1,"add",{}]',
      '[1,1.5,1,"add",{}]',
    ]) {
      peer.raw(text)
    }
    await peer.notice(13)
    expect(peer.notices.slice(3).every((n) => n[1] === "INVALID_FRAME")).toBe(true)
    expect(peer.closed).toBeUndefined()
    // The frames did not consume sequence numbers: a good frame numbered 1 still works.
    const id = 7
    peer.data(FrameType.CALL, id, "add", { a: 1, b: 2 })
    expect(await peer.reply(id)).toEqual([FrameType.RESULT, 1, id, 3])
    await other.stillFine()
  })

  it("closes a connection that keeps sending garbage, and only that one", async () => {
    const other = await bystander()
    const peer = await open()
    for (let i = 0; i < 40; i++) peer.raw("garbage")
    await waitFor(() => peer.closed !== undefined, 3000, "the close")
    expect(peer.closed?.code).toBe(4000)
    await other.stillFine()
  })

  it("refuses unknown channels, including prototype names", async () => {
    const other = await bystander()
    const peer = await open()
    let id = 1
    for (const name of ["toString", "__proto__", "constructor", "hasOwnProperty", "nope", "valueOf"]) {
      const callId = id++
      peer.data(FrameType.CALL, callId, name, {})
      const reply = await peer.reply(callId)
      expect(reply.slice(0, 4)).toEqual([FrameType.ERROR, expect.any(Number), callId, "UNKNOWN_CHANNEL"])
      const streamId = id++
      peer.data(FrameType.STREAM, streamId, name, {}, 8)
      expect((await peer.reply(streamId))[3]).toBe("UNKNOWN_CHANNEL")
      const subId = id++
      peer.data(FrameType.SUBSCRIBE, subId, name, "k")
      expect((await peer.reply(subId))[3]).toBe("UNKNOWN_CHANNEL")
      const pubId = id++
      peer.data(FrameType.PUBLISH, pubId, name, "k", {})
      expect((await peer.reply(pubId))[3]).toBe("UNKNOWN_CHANNEL")
    }
    await other.stillFine()
  })

  it("refuses schema-invalid payloads with INVALID_INPUT; the handler never runs", async () => {
    // A server whose handlers count their calls, to show that invalid input never reaches them.
    const base = testHandlers(state)
    const ran: string[] = []
    const counted = Object.fromEntries(
      Object.entries(base.rpc).map(([name, fn]) => [
        name,
        (...args: unknown[]) => {
          ran.push(name)
          return (fn as (...a: unknown[]) => unknown)(...args)
        },
      ]),
    )
    const guarded = createServer(TestContract, { ...base, rpc: counted } as never, { onError: () => {} })
    const { url: guardedUrl } = await guarded.listen(0, "127.0.0.1")
    try {
      const peer = await RawPeer.open(guardedUrl)
      peers.push(peer)
      const cases: Array<[string, unknown]> = [
        ["add", { a: "1", b: 2 }],
        ["add", { a: 1 }],
        ["add", null],
        ["add", [1, 2]],
        ["add", { a: Number.NaN, b: 1 }],
        ["echoDate", { at: "not a date" }],
        ["echoBytes", { bytes: "***not base64***" }],
        ["hang", { tag: 5 }],
      ]
      let id = 100
      for (const [name, input] of cases) {
        const callId = id++
        peer.data(FrameType.CALL, callId, name, input)
        const reply = await peer.reply(callId)
        expect(reply[3], `${name} ${JSON.stringify(input)}`).toBe("INVALID_INPUT")
        expect(typeof reply[4]).toBe("string")
      }
      const pubId = id++
      peer.data(FrameType.PUBLISH, pubId, "room", "k", { user: "x", text: 1, at: "2020-01-01T00:00:00.000Z" })
      expect((await peer.reply(pubId))[3]).toBe("INVALID_INPUT")
      expect(ran).toEqual([])
      // The same connection still serves valid calls.
      peer.data(FrameType.CALL, id, "add", { a: 1, b: 2 })
      expect((await peer.reply(id))[3]).toBe(3)
      expect(ran).toEqual(["add"])
    } finally {
      await guarded.close()
    }
  })

  it("refuses JSON nested 10,000 deep with FRAME_TOO_DEEP, without walking it, and the session goes on", async () => {
    const other = await bystander()
    const peer = await open()
    // A request too deep is answered for its id, and its sequence number counts.
    peer.dataText(FrameType.CALL, `1,"add",${"[".repeat(10_000)}${"]".repeat(10_000)}`)
    expect((await peer.reply(1)).slice(2, 4)).toEqual([1, "FRAME_TOO_DEEP"])
    peer.dataText(FrameType.CALL, `2,"add",${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`)
    expect((await peer.reply(2)).slice(2, 4)).toEqual([2, "FRAME_TOO_DEEP"])
    // Depth with no request header to answer is a protocol error, answered with a NOTICE.
    peer.raw(`${"[".repeat(10_000)}${"]".repeat(10_000)}`)
    expect((await peer.notice(1))[1]).toBe("FRAME_TOO_DEEP")
    // Deep nesting hidden in a string is only a string.
    peer.data(FrameType.CALL, 3, "echoDate", { at: "[".repeat(5000) })
    expect((await peer.reply(3))[3]).toBe("INVALID_INPUT")
    peer.data(FrameType.CALL, 4, "add", { a: 1, b: 2 })
    expect((await peer.reply(4))[3]).toBe(3)
    expect(peer.closed).toBeUndefined()
    await other.stillFine()
  })

  it("answers a request over maxMessageBytes with MESSAGE_TOO_LARGE; closes past twice the limit", async () => {
    const other = await bystander()
    const peer = await open()
    peer.data(FrameType.CALL, 1, "add", { a: 1, b: 2, pad: "x".repeat(1.5 * 1024 * 1024) })
    expect((await peer.reply(1)).slice(2, 4)).toEqual([1, "MESSAGE_TOO_LARGE"])
    peer.data(FrameType.CALL, 2, "add", { a: 1, b: 2 })
    expect((await peer.reply(2))[3]).toBe(3)
    peer.raw(JSON.stringify([1, 3, 3, "add", { a: 1, b: 2, pad: "x".repeat(3 * 1024 * 1024) }]))
    await waitFor(() => peer.closed !== undefined, 3000, "the close")
    expect(peer.closed?.code).toBe(1009)
    await other.stillFine()
  })

  it("answers duplicate and replayed sequence numbers idempotently, and gaps by closing the link", async () => {
    const peer = await open()
    peer.ws.send(JSON.stringify([FrameType.CALL, 1, 1, "add", { a: 1, b: 1 }]))
    peer.ws.send(JSON.stringify([FrameType.CALL, 1, 1, "add", { a: 1, b: 1 }]))
    await peer.reply(1)
    await new Promise((r) => setTimeout(r, 50))
    expect(peer.frames.filter((f) => f[0] === FrameType.RESULT)).toHaveLength(1)
    peer.ws.send(JSON.stringify([FrameType.CALL, 5, 2, "add", { a: 1, b: 1 }]))
    await waitFor(() => peer.closed !== undefined, 3000, "the close")
    expect(peer.closed?.code).toBe(4003)
  })

  it("requires HELLO first, a supported version, and rejects a forged token", async () => {
    const noHello = await open({ hello: false })
    noHello.raw(JSON.stringify([FrameType.CALL, 1, 1, "add", { a: 1, b: 1 }]))
    await waitFor(() => noHello.closed !== undefined, 3000, "the close")
    expect(noHello.closed?.code).toBe(4002)

    const future = await open({ hello: false })
    future.raw(control.hello(99, null, 0))
    await waitFor(() => future.closed !== undefined, 3000, "the close")
    expect(future.closed?.code).toBe(4001)

    // A guessed token gets a brand-new session, never someone else's.
    const victim = await open()
    const victimWelcome = victim.frames.find((f) => f[0] === FrameType.WELCOME) as unknown[]
    const forger = await open({ hello: false })
    forger.raw(control.hello(1, randomBytes(18).toString("base64url"), 0))
    await waitFor(() => forger.frames.some((f) => f[0] === FrameType.WELCOME))
    const welcome = forger.frames.find((f) => f[0] === FrameType.WELCOME) as unknown[]
    expect(welcome[4]).toBe(false)
    expect(welcome[2]).not.toBe(victimWelcome[2])
    expect(welcome[3]).not.toBe(victimWelcome[3])
  })

  it("refuses a claimed acknowledgement of frames never sent", async () => {
    const peer = await open()
    peer.raw(control.ack(500))
    await waitFor(() => peer.closed !== undefined, 3000, "the close")
    expect(peer.closed?.code).toBe(4003)
  })

  it("refuses cross-origin WebSocket upgrades by default with 403", async () => {
    await expect(RawPeer.open(url, { origin: "https://evil.example" })).rejects.toMatchObject({ status: 403 })
    const sameOrigin = await open({ origin: url.replace(/\/switchyard$/, "") })
    expect(sameOrigin.closed).toBeUndefined()
  })

  it("refuses too many calls in flight with LIMIT_EXCEEDED", async () => {
    const limited = createServer(TestContract, testHandlers(state) as never, {
      limits: { maxInFlight: 3 },
      onError: () => {},
    })
    const { url: limitedUrl } = await limited.listen(0, "127.0.0.1")
    try {
      const peer = await RawPeer.open(limitedUrl)
      peers.push(peer)
      for (let id = 1; id <= 4; id++) peer.data(FrameType.CALL, id, "hang", { tag: `x${id}` })
      expect((await peer.reply(4))[3]).toBe("LIMIT_EXCEEDED")
    } finally {
      await limited.close()
    }
  })
})
