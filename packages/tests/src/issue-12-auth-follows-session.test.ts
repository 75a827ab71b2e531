import type { IncomingMessage } from "node:http"
import { type ClientCredentials, createClient } from "@switchyard/client-browser/all"
import { type Client, contract, rpc, type SwitchyardError, stream } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { createServer, memoryCluster, type ServerLimits } from "@switchyard/server-node"
import * as Schema from "effect/Schema"
import { EventSource } from "eventsource"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { RoundRobinProxy } from "./support/cluster/roundRobin.ts"
import { testClientOptions } from "./support/harnesses.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

/**
 * Issue 12, item 8: `ctx.auth` follows the session. Every connection runs `authenticate`, and a resume
 * takes its result; a connection it refuses is reported `AUTH_REFUSED`; the client's `auth` option is
 * called on every connect, and `client.reauthenticate()` applies new credentials mid-session (docs/sessions.md#credentials).
 */

const Who = contract({
  rpc: { whoami: rpc({ input: Schema.Struct({}), output: Schema.String }) },
  streams: { whoEach: stream({ input: Schema.Struct({ count: Schema.Number }), item: Schema.String }) },
  topics: {},
})

interface Auth {
  readonly user: string
}

/** Tokens the server accepts: from `?token=` or `Authorization: Bearer`; anything else is refused (401). */
function authenticate(accepted: Set<string>) {
  return (request: IncomingMessage): Auth => {
    const query = new URL(request.url ?? "/", "http://x").searchParams.get("token")
    const header = request.headers.authorization?.replace(/^Bearer /, "")
    const token = header ?? query
    if (token === null || token === undefined || !accepted.has(token)) throw new Error("not signed in")
    return { user: token }
  }
}

function startServer(
  accepted: Set<string>,
  more: { broker?: ReturnType<ReturnType<typeof memoryCluster>["broker"]>; limits?: Partial<ServerLimits> } = {},
) {
  /** Lets the stream produce its next item; each item is what `ctx.auth` says then. */
  const gates: Array<() => void> = []
  const server = createServer(
    Who,
    {
      rpc: { whoami: (_input, ctx) => ctx.auth.user },
      streams: {
        whoEach: async function* ({ count }, ctx) {
          for (let i = 0; i < count; i++) {
            await new Promise<void>((resolve) => gates.push(resolve))
            yield ctx.auth.user
          }
        },
      },
    },
    {
      authenticate: authenticate(accepted),
      onError: () => {},
      ...(more.broker && { broker: more.broker }),
      limits: { resumeWindowMs: 10_000, ...more.limits },
    },
  )
  return { server, gates }
}

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

type WhoClient = Client<typeof Who>

async function setup(transport: "websocket" | "long-polling" | "sse" | "polling") {
  const accepted = new Set(["alice", "alice-2", "alice-3"])
  // Long polling notices a cut network by its heartbeat (a held GET cut mid-way may be sent again on a
  // new socket, and the link lives on); WebSocket sees the close at once.
  const limits = transport === "long-polling" ? { heartbeatIntervalMs: 150, heartbeatTimeoutMs: 150 } : {}
  const { server, gates } = startServer(accepted, { limits })
  const { port } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  const proxy = await TcpProxy.start(port)
  cleanup.push(() => proxy[Symbol.asyncDispose]())
  let token = "alice"
  let calls = 0
  const client = createClient(Who, {
    url: `http://127.0.0.1:${proxy.port}/switchyard`,
    transports: [transport],
    WebSocket,
    EventSource,
    ...testClientOptions,
    // Asynchronous, as a token refresh would be.
    auth: async (): Promise<ClientCredentials> => {
      calls++
      await Promise.resolve()
      if (token === "throw") throw new Error("the token service is down")
      return { params: { token } }
    },
  })
  cleanup.push(() => client.close())
  const errors: SwitchyardError[] = []
  client.on("error", (error) => errors.push(error))
  const states: string[] = []
  client.on("state", (state) => states.push(state))
  await waitFor(() => client.state === "connected", 5000, "the client to connect")
  /** Cuts the network until the client notices and its session's link is gone on both sides. */
  const cut = async () => {
    proxy.stall(true)
    proxy.drop()
    await waitFor(() => client.state === "reconnecting", 5000, "the client to notice")
    proxy.stall(false)
  }
  return {
    server,
    gates,
    cut,
    client: client as WhoClient,
    errors,
    states,
    accepted,
    setToken: (next: string) => {
      token = next
    },
    calls: () => calls,
  }
}

for (const transport of ["websocket", "long-polling"] as const) {
  describe(`auth follows the session (${transport}, Node)`, () => {
    it("a resume takes what authenticate returns for the new connection", async () => {
      const { client, cut, setToken, calls } = await setup(transport)
      const id = client.sessionId
      expect(await client.rpc.whoami({})).toBe("alice")
      const before = calls()
      setToken("alice-2")
      const sessions: Array<{ recovered: boolean }> = []
      client.on("session", (s) => sessions.push(s))
      await cut()
      await waitFor(() => sessions.length === 1, 5000, "the resume")
      expect(sessions).toEqual([{ id, recovered: true }])
      expect(calls()).toBeGreaterThan(before)
      expect(await client.rpc.whoami({})).toBe("alice-2")
      expect(client.sessionId).toBe(id)
    })

    it("a reconnect that authenticate refuses is reported AUTH_REFUSED; the session resumes once it accepts", async () => {
      const { client, cut, setToken, errors } = await setup(transport)
      const id = client.sessionId
      setToken("mallory")
      await cut()
      await waitFor(() => errors.some((e) => e.code === "AUTH_REFUSED"), 5000, "AUTH_REFUSED")
      // A call made meanwhile waits: nothing runs with credentials the server refused.
      let answered: string | undefined
      const call = client.rpc.whoami({}).then((who) => {
        answered = who
      })
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(client.state).toBe("reconnecting")
      expect(answered).toBeUndefined()
      setToken("alice-3")
      await call
      expect(answered).toBe("alice-3")
      expect(client.sessionId).toBe(id)
    })

    it("reauthenticate() applies new credentials mid-session: the next call sees them, a running stream keeps its own", async () => {
      const { client, gates, setToken, states } = await setup(transport)
      const id = client.sessionId
      const items: string[] = []
      const consumed = (async () => {
        for await (const who of client.streams.whoEach({ count: 2 })) items.push(who)
      })()
      await waitFor(() => gates.length === 1, 5000, "the stream to start")
      gates.shift()?.()
      await waitFor(() => items.length === 1)
      setToken("alice-2")
      const transports: Array<[string, string]> = []
      client.on("transport", (name, reason) => transports.push([name, reason]))
      await client.reauthenticate()
      expect(await client.rpc.whoami({})).toBe("alice-2")
      // No reconnect: the session moved to the new connection without going down.
      expect(states).toEqual(["connected"])
      expect(transports).toEqual([[transport, "reauthenticated"]])
      expect(client.sessionId).toBe(id)
      await waitFor(() => gates.length === 1, 5000, "the stream's next item")
      gates.shift()?.()
      await consumed
      expect(items).toEqual(["alice", "alice"])
      // Credentials passed to reauthenticate replace the option from then on, headers included.
      await client.reauthenticate({ headers: { authorization: "Bearer alice-3" } })
      expect(await client.rpc.whoami({})).toBe("alice-3")
    })

    it("a refresh that authenticate refuses rejects with AUTH_REFUSED and changes nothing", async () => {
      const { client, setToken, states } = await setup(transport)
      setToken("mallory")
      const refused = (await client.reauthenticate().catch((e: SwitchyardError) => e)) as SwitchyardError
      expect(refused.code).toBe("AUTH_REFUSED")
      expect(client.state).toBe("connected")
      expect(states).toEqual(["connected"])
      expect(await client.rpc.whoami({})).toBe("alice")
    })

    it("an auth option that throws refuses; calls made while a refresh is under way wait for a later one", async () => {
      const { client, setToken, states, errors } = await setup(transport)
      setToken("throw")
      const refused = (await client.reauthenticate().catch((e: SwitchyardError) => e)) as SwitchyardError
      expect(refused.code).toBe("AUTH_REFUSED")
      expect((refused.cause as Error).message).toBe("the token service is down")
      expect(await client.rpc.whoami({})).toBe("alice")
      setToken("alice-2")
      const first = client.reauthenticate()
      // Asked while the first refresh is asking for its credentials: a second refresh follows it.
      const second = client.reauthenticate({ params: { token: "alice-3" } })
      await Promise.all([first, second])
      expect(await client.rpc.whoami({})).toBe("alice-3")
      expect(client.state).toBe("connected")
      expect(states).toEqual(["connected"])
      expect(errors).toEqual([])
    })
  })
}

// SSE and polling send the credentials' headers on the opening POST of each link, as long polling does.
describe.each(["sse", "polling"] as const)("reauthenticate() on %s (Node)", (transport) => {
  it("applies new credentials (headers), and a refused refresh changes nothing", async () => {
    const { client, states } = await setup(transport)
    expect(await client.rpc.whoami({})).toBe("alice")
    await client.reauthenticate({ headers: { authorization: "Bearer alice-2" } })
    expect(await client.rpc.whoami({})).toBe("alice-2")
    const refused = (await client
      .reauthenticate({ headers: { authorization: "Bearer mallory" } })
      .catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(refused.code).toBe("AUTH_REFUSED")
    expect(await client.rpc.whoami({})).toBe("alice-2")
    expect(states).toEqual(["connected"])
  })
})

describe("auth follows the session across nodes", () => {
  it("a session taken over by another node takes what that node's authenticate returns", async () => {
    const cluster = memoryCluster()
    const accepted = new Set(["alice", "alice-2"])
    // A node's close hands its sessions over for handOverGraceMs, then ends those nobody took.
    const limits = { handOverGraceMs: 100 }
    const a = startServer(accepted, { broker: cluster.broker("a"), limits })
    const b = startServer(accepted, { broker: cluster.broker("b"), limits })
    const pa = await a.server.listen(0, "127.0.0.1")
    const pb = await b.server.listen(0, "127.0.0.1")
    cleanup.push(
      () => a.server.close(),
      () => b.server.close(),
    )
    const proxy = await RoundRobinProxy.start([pa.port, pb.port])
    cleanup.push(() => proxy[Symbol.asyncDispose]())
    let token = "alice"
    const client = createClient(Who, {
      url: `http://127.0.0.1:${proxy.port}/switchyard`,
      transports: ["websocket"],
      WebSocket,
      ...testClientOptions,
      auth: () => ({ params: { token } }),
    })
    cleanup.push(() => client.close())
    await waitFor(() => client.state === "connected", 5000, "the client to connect")
    const id = client.sessionId
    expect(await client.rpc.whoami({})).toBe("alice")
    token = "alice-2"
    const sessions: Array<{ recovered: boolean }> = []
    client.on("session", (s) => sessions.push(s))
    // The next connection goes to the other node, which takes the session over.
    proxy.drop()
    await waitFor(() => sessions.length === 1, 5000, "the take-over")
    expect(sessions).toEqual([{ id, recovered: true }])
    expect(await client.rpc.whoami({})).toBe("alice-2")
    expect(proxy.dealt.get(pa.port)?.upgrades).toBe(1)
    expect(proxy.dealt.get(pb.port)?.upgrades).toBe(1)
  })
})
