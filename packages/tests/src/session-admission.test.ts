import type { IncomingMessage } from "node:http"
import { setTimeout as sleep } from "node:timers/promises"
import { control, FrameType, PROTOCOL_VERSION } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, type Server, type ServerOptions } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"

/**
 * The bounds on new sessions and on a connection's frames (docs/limits.md#sessions, issue 12): sessions
 * per address and per identity, new sessions per address over time, the per-connection rate, the status
 * of a refused opening POST, and the address behind a trusted proxy. Clients speak the raw protocol from
 * several loopback addresses (127.0.0.x all bind).
 */

/** A raw WebSocket client that sends a HELLO and keeps every frame it is sent. */
class Raw {
  readonly frames: unknown[][] = []
  closed: number | undefined
  /** The sequence number of its next request (a resume goes on from the session's). */
  seq = 1

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => this.frames.push(JSON.parse(String(data)) as unknown[]))
    ws.on("close", (code) => {
      this.closed = code
    })
    ws.on("error", () => {})
  }

  /** Opens a socket from `from` and sends HELLO (`token`: resume that session). */
  static async hello(
    url: string,
    from: string,
    token: string | null = null,
    headers: Record<string, string> = {},
  ): Promise<Raw> {
    const raw = new Raw(new WebSocket(url.replace(/^http/, "ws"), { localAddress: from, headers }))
    await new Promise<void>((resolve, reject) => {
      raw.ws.once("open", () => resolve())
      raw.ws.once("error", reject)
    })
    raw.ws.send(control.hello(PROTOCOL_VERSION, token, 0))
    await waitFor(() => raw.answer !== undefined, 3000, "WELCOME or BYE")
    return raw
  }

  /** The HELLO's answer: WELCOME or BYE. */
  get answer(): unknown[] | undefined {
    return this.frames.find((f) => f[0] === FrameType.WELCOME || f[0] === FrameType.BYE)
  }

  get welcomed(): boolean {
    return this.answer?.[0] === FrameType.WELCOME
  }

  /** The session token of its WELCOME. */
  get token(): string {
    return this.answer?.[2] as string
  }

  /** The BYE's code, once the close has come too. */
  async refusal(): Promise<{ code: unknown; close: number | undefined }> {
    await waitFor(() => this.closed !== undefined, 3000, "the close")
    const answer = this.answer
    return { code: answer?.[0] === FrameType.BYE ? answer[1] : undefined, close: this.closed }
  }

  /** Sends `add(a, b)` with the next sequence number; returns its id. */
  call(a: number, b: number, pad = ""): number {
    const seq = this.seq++
    this.ws.send(JSON.stringify([FrameType.CALL, seq, seq, "add", { a, b, ...(pad ? { pad } : {}) }]))
    return seq
  }

  async reply(id: number): Promise<unknown[]> {
    const find = () => this.frames.find((f) => (f[0] === FrameType.RESULT || f[0] === FrameType.ERROR) && f[2] === id)
    await waitFor(() => find() !== undefined, 3000, `reply ${id}`)
    return find() as unknown[]
  }

  close(): void {
    this.ws.terminate()
  }
}

let server: Server<TestContract> | undefined
const sockets: Raw[] = []

/** A server; refusals are answered at once unless the test sets `refusalDelayMs`. */
async function start(options: ServerOptions<unknown>): Promise<string> {
  server = createServer(
    TestContract,
    testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>,
    {
      onError: () => {},
      ...options,
      limits: { refusalDelayMs: 0, ...options.limits },
    } as ServerOptions<undefined>,
  )
  return (await server.listen(0, "127.0.0.1")).url
}

async function hello(url: string, from: string, token: string | null = null, headers = {}): Promise<Raw> {
  const raw = await Raw.hello(url, from, token, headers)
  sockets.push(raw)
  return raw
}

afterEach(async () => {
  for (const raw of sockets.splice(0)) raw.close()
  await server?.close()
  server = undefined
})

describe("sessions per address and per identity", () => {
  it("refuses a new session past maxSessionsPerIp with TOO_MANY_SESSIONS; other addresses and resumes go on, an ended session frees its place", async () => {
    const url = await start({ limits: { maxSessionsPerIp: 2 } })
    const first = await hello(url, "127.0.0.1")
    const second = await hello(url, "127.0.0.1")
    expect(first.welcomed && second.welcomed).toBe(true)
    const third = await hello(url, "127.0.0.1")
    expect(await third.refusal()).toEqual({ code: "TOO_MANY_SESSIONS", close: 4209 })
    expect((await hello(url, "127.0.0.2")).welcomed).toBe(true)
    // A resume is never a new session: the first one moves to a new socket.
    first.close()
    const resumed = await hello(url, "127.0.0.1", first.token)
    expect(resumed.answer?.[4]).toBe(true)
    // The second session ends (its client says goodbye): its place is free again.
    second.ws.send(control.bye("CLIENT_CLOSED", "bye"))
    await waitFor(() => second.closed !== undefined, 3000, "the end of the second session")
    expect((await hello(url, "127.0.0.1")).welcomed).toBe(true)
  })

  it("counts sessions per identity through identify, from any address", async () => {
    const url = await start({
      authenticate: (request: IncomingMessage) => ({ user: String(request.headers["x-user"]) }),
      identify: (auth: unknown) => (auth as { user: string }).user,
      limits: { maxSessionsPerIdentity: 2 },
    })
    const alice = { "x-user": "alice" }
    expect((await hello(url, "127.0.0.1", null, alice)).welcomed).toBe(true)
    expect((await hello(url, "127.0.0.2", null, alice)).welcomed).toBe(true)
    expect(await (await hello(url, "127.0.0.3", null, alice)).refusal()).toEqual({
      code: "TOO_MANY_SESSIONS",
      close: 4209,
    })
    expect((await hello(url, "127.0.0.3", null, { "x-user": "bob" })).welcomed).toBe(true)
  })

  it("rate-limits new sessions per address (a token bucket): RATE_LIMITED past the burst; resumes are never limited", async () => {
    const url = await start({ limits: { newSessionBurstPerIp: 2, newSessionsPerSecondPerIp: 0.001 } })
    const first = await hello(url, "127.0.0.1")
    expect((await hello(url, "127.0.0.1")).welcomed).toBe(true)
    expect(await (await hello(url, "127.0.0.1")).refusal()).toEqual({ code: "RATE_LIMITED", close: 4210 })
    expect((await hello(url, "127.0.0.2")).welcomed).toBe(true)
    first.close()
    expect((await hello(url, "127.0.0.1", first.token)).answer?.[4]).toBe(true)
    // At 0.001 a second, nothing comes back in 300 ms (the next test's contrast).
    await sleep(300)
    expect(await (await hello(url, "127.0.0.1")).refusal()).toEqual({ code: "RATE_LIMITED", close: 4210 })
  })

  it("gives an address its new sessions back at newSessionsPerSecondPerIp", async () => {
    const url = await start({ limits: { newSessionBurstPerIp: 1, newSessionsPerSecondPerIp: 4 } })
    expect((await hello(url, "127.0.0.1")).welcomed).toBe(true)
    // One token every 250 ms: after 300 ms there is at least one, however slow the machine.
    await sleep(300)
    expect((await hello(url, "127.0.0.1")).welcomed).toBe(true)
  })
})

describe("the answer to a refused HELLO", () => {
  it("is held for refusalDelayMs, and frames sent meanwhile are ignored", async () => {
    const url = await start({
      limits: { newSessionBurstPerIp: 1, newSessionsPerSecondPerIp: 0.001, refusalDelayMs: 800 },
    })
    expect((await hello(url, "127.0.0.1")).welcomed).toBe(true)
    const ws = new WebSocket(url.replace(/^http/, "ws"))
    const frames: unknown[][] = []
    ws.on("message", (data) => frames.push(JSON.parse(String(data)) as unknown[]))
    await new Promise((resolve) => ws.once("open", resolve))
    const sent = performance.now()
    ws.send(control.hello(PROTOCOL_VERSION, null, 0))
    ws.send(control.hello(PROTOCOL_VERSION, null, 0))
    await waitFor(() => frames.length > 0, 3000, "the refusal")
    expect(performance.now() - sent).toBeGreaterThan(700)
    await sleep(50)
    expect(frames).toEqual([[FrameType.BYE, "RATE_LIMITED", expect.any(String)]])
    ws.terminate()
  })

  it("is sent at once, as SERVER_CLOSED, when the server closes meanwhile", async () => {
    const url = await start({
      limits: { newSessionBurstPerIp: 1, newSessionsPerSecondPerIp: 0.001, refusalDelayMs: 30_000 },
    })
    expect((await hello(url, "127.0.0.1")).welcomed).toBe(true)
    const ws = new WebSocket(url.replace(/^http/, "ws"))
    const frames: unknown[][] = []
    ws.on("message", (data) => frames.push(JSON.parse(String(data)) as unknown[]))
    await new Promise((resolve) => ws.once("open", resolve))
    ws.send(control.hello(PROTOCOL_VERSION, null, 0))
    await sleep(100)
    expect(frames).toEqual([])
    await server?.close()
    expect(frames.map((f) => f.slice(0, 2))).toEqual([[FrameType.BYE, "SERVER_CLOSED"]])
  })

  it("on an HTTP link's opening POST, comes as the status after refusalDelayMs", async () => {
    const url = await start({
      limits: { newSessionBurstPerIp: 1, newSessionsPerSecondPerIp: 0.001, refusalDelayMs: 800 },
    })
    const post = () =>
      fetch(`${url}?transport=long-polling`, { method: "POST", body: control.hello(PROTOCOL_VERSION, null, 0) })
    expect((await post()).status).toBe(200)
    const sent = performance.now()
    const refused = await post()
    expect(performance.now() - sent).toBeGreaterThan(700)
    expect(refused.status).toBe(429)
    expect(((await refused.json()) as { code: string }).code).toBe("RATE_LIMITED")
  })
})

describe("a refused HELLO on an HTTP link's opening POST", () => {
  const open = async (url: string, transport: string, body = control.hello(PROTOCOL_VERSION, null, 0)) => {
    const response = await fetch(`${url}?transport=${transport}`, { method: "POST", body })
    return { status: response.status, body: (await response.json()) as { code?: string; link?: string } }
  }

  it("is answered with its status and code (429 RATE_LIMITED), on long polling, polling and SSE; the link is not kept", async () => {
    const url = await start({
      limits: { newSessionBurstPerIp: 1, newSessionsPerSecondPerIp: 0.001, maxConnectionsPerIp: 4 },
    })
    const opened = await open(url, "long-polling")
    expect(opened.status).toBe(200)
    for (const transport of ["long-polling", "polling", "sse", "long-polling", "polling", "sse"]) {
      const refused = await open(url, transport)
      expect(refused).toEqual({ status: 429, body: { code: "RATE_LIMITED", message: expect.any(String) } })
    }
    // Six refusals held no connection: past maxConnectionsPerIp (4) a POST would get TOO_MANY_CONNECTIONS.
    const again = await open(url, "polling", control.hello(PROTOCOL_VERSION, "not-a-token", 0))
    expect(again).toEqual({ status: 429, body: { code: "RATE_LIMITED", message: expect.any(String) } })
  })

  it("is answered 503 LIMIT_EXCEEDED when the server holds maxSessions", async () => {
    const url = await start({ limits: { maxSessions: 1 } })
    expect((await open(url, "long-polling")).status).toBe(200)
    expect(await open(url, "long-polling")).toEqual({
      status: 503,
      body: { code: "LIMIT_EXCEEDED", message: "the server holds too many sessions" },
    })
  })
})

describe("the per-connection rate limit", () => {
  it("answers requests past the frame rate with ERROR RATE_LIMITED, closes a connection that keeps on (4210) and keeps its session", async () => {
    const url = await start({ limits: { connectionFrameBurst: 3, connectionFramesPerSecond: 0.001 } })
    const peer = await hello(url, "127.0.0.1")
    const ids = [1, 2, 3, 4, 5, 6].map((n) => peer.call(n, 1))
    for (const id of ids.slice(0, 3)) expect((await peer.reply(id))[0]).toBe(FrameType.RESULT)
    for (const id of ids.slice(3)) {
      const reply = await peer.reply(id)
      expect([reply[0], reply[3]]).toEqual([FrameType.ERROR, "RATE_LIMITED"])
    }
    expect(peer.closed).toBeUndefined()
    // A whole burst past the rate: the connection goes, with a NOTICE saying why.
    peer.call(7, 1)
    await waitFor(() => peer.closed !== undefined, 3000, "the close")
    expect(peer.closed).toBe(4210)
    expect(peer.frames.some((f) => f[0] === FrameType.NOTICE && f[1] === "RATE_LIMITED")).toBe(true)
    // The session stays: it resumes on a new connection.
    const resumed = await hello(url, "127.0.0.1", peer.token)
    expect(resumed.answer?.[4]).toBe(true)
  })

  it("is the session's, not the connection's: a resume goes on with what the last connection left", async () => {
    const url = await start({ limits: { connectionFrameBurst: 3, connectionFramesPerSecond: 0.001 } })
    const peer = await hello(url, "127.0.0.1")
    for (const id of [1, 2, 3].map((n) => peer.call(n, 1))) expect((await peer.reply(id))[0]).toBe(FrameType.RESULT)
    peer.close()
    // The burst is spent: a resume does not get another one.
    const resumed = await hello(url, "127.0.0.1", peer.token)
    expect(resumed.answer?.[4]).toBe(true)
    resumed.seq = 4
    const reply = await resumed.reply(resumed.call(4, 1))
    expect([reply[0], reply[3]]).toEqual([FrameType.ERROR, "RATE_LIMITED"])
    // A client that was cut for its rate is cut again at once: looping on resumes buys no burst.
    for (let n = 5; n <= 7; n++) resumed.call(n, 1)
    expect((await resumed.refusal()).close).toBe(4210)
    const again = await hello(url, "127.0.0.1", peer.token)
    expect(again.answer?.[4]).toBe(true)
    // Frame 7 was cut, not taken: the session expects it again.
    again.seq = 7
    const after = again.call(7, 1)
    await waitFor(() => again.closed !== undefined, 3000, "the close")
    expect(again.closed).toBe(4210)
    expect(again.frames.some((f) => (f[0] === FrameType.RESULT || f[0] === FrameType.ERROR) && f[2] === after)).toBe(
      false,
    )
  })

  it("counts the characters of the frames too", async () => {
    const url = await start({ limits: { connectionByteBurst: 300, connectionBytesPerSecond: 1 } })
    const peer = await hello(url, "127.0.0.1")
    expect((await peer.reply(peer.call(1, 1)))[0]).toBe(FrameType.RESULT)
    const reply = await peer.reply(peer.call(2, 2, "x".repeat(400)))
    expect([reply[0], reply[3]]).toEqual([FrameType.ERROR, "RATE_LIMITED"])
  })
})

describe("the client's address behind a proxy", () => {
  const forwarded = (chain: string) => ({ "x-forwarded-for": chain })

  it("is read from X-Forwarded-For when the peer is a trusted proxy, one hop per trusted proxy", async () => {
    const url = await start({ trustedProxies: ["127.0.0.1", "10.0.0.0/8"], limits: { maxSessionsPerIp: 1 } })
    expect((await hello(url, "127.0.0.1", null, forwarded("203.0.113.5"))).welcomed).toBe(true)
    expect((await hello(url, "127.0.0.1", null, forwarded("203.0.113.6"))).welcomed).toBe(true)
    const again = await hello(url, "127.0.0.1", null, forwarded("203.0.113.5"))
    expect((await again.refusal()).code).toBe("TOO_MANY_SESSIONS")
    // What the client wrote left of the proxies' hops is not believed: it is counted as 203.0.113.6,
    // the address the trusted proxy at 10.0.0.1 saw.
    const spoofed = await hello(url, "127.0.0.1", null, forwarded("198.51.100.77, 203.0.113.6, 10.0.0.1"))
    expect((await spoofed.refusal()).code).toBe("TOO_MANY_SESSIONS")
    // An untrusted peer's header is ignored: 127.0.0.2 is counted as itself.
    expect((await hello(url, "127.0.0.2", null, forwarded("192.0.2.1"))).welcomed).toBe(true)
    const sameAddress = await hello(url, "127.0.0.2", null, forwarded("192.0.2.2"))
    expect((await sameAddress.refusal()).code).toBe("TOO_MANY_SESSIONS")
  })

  it("is the socket's peer without trustedProxies, whatever X-Forwarded-For says", async () => {
    const url = await start({ limits: { maxSessionsPerIp: 1 } })
    expect((await hello(url, "127.0.0.1", null, forwarded("203.0.113.5"))).welcomed).toBe(true)
    const other = await hello(url, "127.0.0.1", null, forwarded("203.0.113.6"))
    expect((await other.refusal()).code).toBe("TOO_MANY_SESSIONS")
  })
})
