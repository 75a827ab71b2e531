import type { IncomingMessage } from "node:http"
import { createClient } from "@switchyard/client-browser/all"
import { contract, FrameType, PROTOCOL_VERSION, rpc, type SwitchyardError } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import * as Schema from "effect/Schema"
import { EventSource } from "eventsource"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { testClientOptions } from "./support/harnesses.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

/**
 * A resume is checked against the session's identity (docs/sessions.md#credentials): with `identify`
 * set, a HELLO naming a session whose `identify(auth)` differs from the new connection's is refused
 * `AUTH_REFUSED`, so that a session token and someone else's valid credentials do not continue the
 * session as that someone.
 */

const Who = contract({
  rpc: { whoami: rpc({ input: Schema.Struct({}), output: Schema.String }) },
  streams: {},
  topics: {},
})

interface Auth {
  readonly user: string
  readonly device: string
}

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A server whose users sign in with `?user=` (and `&device=`), identified by user. */
async function start(heartbeat: { heartbeatIntervalMs?: number; heartbeatTimeoutMs?: number } = {}) {
  const server = createServer(
    Who,
    { rpc: { whoami: (_input, ctx) => `${ctx.auth.user}/${ctx.auth.device}` } },
    {
      authenticate: (request: IncomingMessage): Auth => {
        const query = new URL(request.url ?? "/", "http://x").searchParams
        const user = query.get("user")
        if (!user) throw new Error("not signed in")
        return { user, device: query.get("device") ?? "-" }
      },
      identify: (auth) => auth.user,
      onError: () => {},
      limits: { resumeWindowMs: 10_000, refusalDelayMs: 0, ...heartbeat },
    },
  )
  const { url, port } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  return { url, port }
}

/** Opens a raw WebSocket signed in as `query` and sends HELLO (`token`: resume that session). */
async function hello(url: string, query: string, token: string | null) {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}?${query}`)
  cleanup.push(() => socket.terminate())
  const frames: unknown[][] = []
  let closed: number | undefined
  socket.on("message", (data) => void frames.push(JSON.parse(String(data)) as unknown[]))
  socket.on("close", (code) => {
    closed = code
  })
  socket.on("error", () => {})
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject))
  socket.send(JSON.stringify([FrameType.HELLO, PROTOCOL_VERSION, token, 0]))
  const answer = () => frames.find((f) => f[0] === FrameType.WELCOME || f[0] === FrameType.BYE)
  await waitFor(() => answer() !== undefined, 3000, "WELCOME or BYE")
  return { socket, frames, answer: answer() as unknown[], closed: () => closed }
}

describe("a resume under another identity (raw protocol)", () => {
  it("is refused AUTH_REFUSED (close 4211); the session stays, and resumes for its own identity on another device", async () => {
    const { url } = await start()
    const alice = await hello(url, "user=alice&device=phone", null)
    expect(alice.answer[0]).toBe(FrameType.WELCOME)
    const token = alice.answer[2] as string
    alice.socket.terminate()
    const mallory = await hello(url, "user=mallory", token)
    expect(mallory.answer.slice(0, 2)).toEqual([FrameType.BYE, "AUTH_REFUSED"])
    await waitFor(() => mallory.closed() !== undefined, 3000, "the close")
    expect(mallory.closed()).toBe(4211)
    expect(mallory.frames.some((f) => f[0] === FrameType.WELCOME)).toBe(false)
    // Alice's own credentials (another device: the same identity) resume it, with their ctx.auth.
    const back = await hello(url, "user=alice&device=laptop", token)
    expect(back.answer[0]).toBe(FrameType.WELCOME)
    expect(back.answer[4]).toBe(true)
    back.socket.send(JSON.stringify([FrameType.CALL, 1, 1, "whoami", {}]))
    await waitFor(() => back.frames.some((f) => f[0] === FrameType.RESULT), 3000, "the RESULT")
    expect(back.frames.find((f) => f[0] === FrameType.RESULT)?.[3]).toBe("alice/laptop")
  })
})

for (const transport of ["websocket", "long-polling"] as const) {
  describe(`a client reconnecting under another identity (${transport})`, () => {
    it("gets AUTH_REFUSED and keeps its session: the old identity's credentials resume it", async () => {
      // Long polling notices a cut network by its heartbeat (a held GET cut mid-way may be sent again on a
      // new socket, and the link lives on); WebSocket sees the close at once.
      const { port } = await start(
        transport === "long-polling" ? { heartbeatIntervalMs: 150, heartbeatTimeoutMs: 150 } : {},
      )
      const proxy = await TcpProxy.start(port)
      cleanup.push(() => proxy[Symbol.asyncDispose]())
      let user = "alice"
      const client = createClient(Who, {
        url: `http://127.0.0.1:${proxy.port}/switchyard`,
        transports: [transport],
        WebSocket,
        EventSource,
        ...testClientOptions,
        auth: () => ({ params: { user } }),
      })
      cleanup.push(() => client.close())
      const errors: SwitchyardError[] = []
      client.on("error", (error) => errors.push(error))
      await waitFor(() => client.state === "connected", 5000, "the client to connect")
      const sessionId = client.sessionId
      expect(await client.rpc.whoami({})).toBe("alice/-")
      user = "mallory"
      proxy.stall(true)
      proxy.drop()
      await waitFor(() => client.state === "reconnecting", 5000, "the client to notice")
      proxy.stall(false)
      await waitFor(() => errors.some((e) => e.code === "AUTH_REFUSED"), 5000, "AUTH_REFUSED")
      expect(client.state).not.toBe("connected")
      user = "alice"
      await waitFor(() => client.state === "connected", 5000, "the resume")
      expect(client.sessionId).toBe(sessionId)
      expect(await client.rpc.whoami({})).toBe("alice/-")
    })
  })
}

describe("client.reauthenticate() to another identity (websocket)", () => {
  it("cannot move the session: the client starts a new session for the new identity", async () => {
    const { url } = await start()
    const client = createClient(Who, {
      url,
      transports: ["websocket"],
      WebSocket,
      ...testClientOptions,
      auth: { params: { user: "alice" } },
    })
    cleanup.push(() => client.close())
    const errors: SwitchyardError[] = []
    client.on("error", (error) => errors.push(error))
    const sessions: string[] = []
    client.on("session", (event) => sessions.push(JSON.stringify(event)))
    await waitFor(() => client.state === "connected", 5000, "the client to connect")
    const sessionId = client.sessionId
    const outcome = await client.reauthenticate({ params: { user: "mallory" } }).then(
      () => "resolved",
      (error: SwitchyardError) => error.code,
    )
    await waitFor(() => client.state === "connected" && client.sessionId !== sessionId, 5000, "a new session")
    // The HELLO on the new connection was refused AUTH_REFUSED; the client left the session and started a
    // new one with the new credentials, and reauthenticate() resolved with that handshake.
    expect(outcome).toBe("resolved")
    expect(errors.map((e) => e.code)).toContain("AUTH_REFUSED")
    expect(sessions).toHaveLength(2)
    expect(await client.rpc.whoami({})).toBe("mallory/-")
  })
})
