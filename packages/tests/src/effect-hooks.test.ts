import { randomBytes } from "node:crypto"
import { createServer as createHttpServer, type Server as HttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { connect } from "node:net"
import { type Client, createClient } from "@switchyard/client-browser/all"
import { peers as clientPeers } from "@switchyard/client-browser/peers"
import { clientControl, contract, memoryTransport, peer, rpc, type SwitchyardError, topic } from "@switchyard/core"
import { rejection, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, memoryCluster, type Server, type ServerOptions } from "@switchyard/server-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { RoundRobinProxy } from "./support/cluster/roundRobin.ts"
import { testClientOptions } from "./support/harnesses.ts"
import { latch } from "./support/latch.ts"

// The hooks other than the handlers (authenticate, topic policies, presence hooks, peers.authorize) may
// return Effects, run with the services of the server's `layer` (docs/tutorial-effect.md#3-the-server):
// a failure refuses as `false` does (nothing reported), a defect as a throw does (reported to onError).

const Api = contract({
  rpc: { whoami: rpc({ input: Schema.Struct({}), output: Schema.String }) },
  topics: {
    notes: topic({ message: Schema.String }),
    lobby: topic({ message: Schema.String, presence: Schema.Struct({ name: Schema.String }) }),
  },
  peers: { note: peer({ message: Schema.String }) },
})
type Api = typeof Api
type Auth = { readonly user: string }

class NoSuchUser extends Schema.TaggedError<NoSuchUser>()("NoSuchUser", { token: Schema.String }) {}

/**
 * The app's users, as a database would answer: tokens name users, but "nobody" is unknown (a failure) and
 * "down" breaks the database (a defect). Keys and user names read the same way: "no" says false, "fail"
 * fails, "crash" dies. It writes what it is asked to `asked`.
 */
class Users extends Context.Service<
  Users,
  {
    readonly byToken: (token: string) => Effect.Effect<Auth, NoSuchUser>
    readonly may: (what: string, user: string, key: string) => Effect.Effect<boolean, NoSuchUser>
    readonly displayName: (user: string) => Effect.Effect<string, NoSuchUser>
  }
>()("test/Users") {}

function users(asked: string[], gate?: Promise<void>): Layer.Layer<Users> {
  const answer = <A>(said: string, value: A): Effect.Effect<A, NoSuchUser> =>
    said === "fail"
      ? Effect.fail(new NoSuchUser({ token: said }))
      : said === "crash"
        ? Effect.die(new Error("the user database is down"))
        : Effect.succeed(value)
  const service = Users.of({
    byToken: (token) =>
      Effect.suspend(() => {
        asked.push(`byToken ${token}`)
        if (token === "nobody") return Effect.fail(new NoSuchUser({ token }))
        // A user database that never answers.
        if (token === "hang")
          return Effect.onInterrupt(Effect.never, () => Effect.sync(() => asked.push("hang interrupted")))
        return token === "down" ? Effect.die(new Error("the user database is down")) : Effect.succeed({ user: token })
      }),
    may: (what, user, key) =>
      Effect.suspend(() => {
        asked.push(`${what} ${user} ${key}`)
        // A policy that never answers.
        if (key === "hang") {
          return Effect.onInterrupt(Effect.never, () =>
            Effect.sync(() => asked.push(`${what} ${user} hang interrupted`)),
          )
        }
        // A slow answer, for many in flight at once.
        if (key.startsWith("slow")) return Effect.as(Effect.sleep("200 millis"), true)
        return answer(key, key !== "no")
      }),
    displayName: (user) => Effect.suspend(() => answer(user, user.toUpperCase())),
  })
  const built = Effect.sync(() => service)
  return Layer.effect(
    Users,
    gate
      ? Effect.andThen(
          Effect.promise(() => gate),
          built,
        )
      : built,
  )
}

/** A client of `server.accept` has no `authenticate` of its own, so no auth. */
const userOf = (auth: Auth | undefined) => auth?.user ?? "anonymous"

const handlers: Handlers<Api, Auth, Users> = {
  rpc: { whoami: (_input, ctx) => Users.use((u) => u.displayName(userOf(ctx.auth))).pipe(Effect.orDie) },
  topics: {
    notes: {
      canSubscribe: (key, ctx) => Users.use((u) => u.may("read", userOf(ctx.auth), key)),
      canPublish: (key, _message, ctx) => Users.use((u) => u.may("write", userOf(ctx.auth), key)),
    },
    lobby: {
      canSubscribe: (key, ctx) => Users.use((u) => u.may("read", userOf(ctx.auth), key)),
      presence: (_key, ctx) => Users.use((u) => Effect.map(u.displayName(userOf(ctx.auth)), (name) => ({ name }))),
    },
  },
}

const options = (asked: string[], errors: unknown[], gate?: Promise<void>) =>
  ({
    layer: users(asked, gate),
    onError: (error) => errors.push(error),
    authenticate: (request) =>
      Users.use((u) => u.byToken(new URL(request.url ?? "/", "http://x").searchParams.get("token") ?? "")),
    peers: {
      direct: false,
      authorize: ({ from, to }) => Users.use((u) => u.may("call", from.auth.user, to.auth.user)),
    },
  }) satisfies ServerOptions<Auth, Users>

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close()
})

/** What a WebSocket upgrade may send before its answer (server-node's gate.ts, docs/limits.md). */
const EARLY_UPGRADE_BYTES = 4096

/** A WebSocket upgrade of `/switchyard` signed in with `token`, as bytes on a socket. */
const upgradeRequest = (port: number, token: string) =>
  `GET /switchyard?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`

/** `text` as one WebSocket text frame from a client (masked). */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text)
  const mask = randomBytes(4)
  const length = payload.length
  const header = length < 126 ? [0x81, 0x80 | length] : [0x81, 0x80 | 126, length >> 8, length & 0xff]
  return Buffer.concat([Buffer.from(header), mask, payload.map((b, i) => b ^ (mask[i % 4] as number))])
}

/**
 * `server` served through attach() on an HTTP server of the test's, on 127.0.0.1: connections come in before
 * the layer is built, and `close()` leaves the HTTP server's connections to it. Cleanup closes `server`
 * (again, if the test did), then the HTTP server and the connections it still has (the clients' keep-alive
 * sockets would hold it for their idle timeout).
 */
async function attached(server: Server<Api>): Promise<{ http: HttpServer; port: number }> {
  const http = createHttpServer()
  server.attach(http)
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  cleanup.push(async () => {
    await server.close()
    const stopped = new Promise<void>((resolve) => http.close(() => resolve()))
    http.closeAllConnections()
    await stopped
  })
  return { http, port: (http.address() as AddressInfo).port }
}

/** A server on 127.0.0.1 whose hooks ask the Users service. */
async function served() {
  const asked: string[] = []
  const errors: unknown[] = []
  const server = createServer(Api, handlers, options(asked, errors))
  cleanup.push(() => server.close())
  const { url } = await server.listen(0, "127.0.0.1")
  return { server, url, asked, errors }
}

/** A WebSocket client signed in with `token`, and the errors it hears. */
function client(url: string, token: string, transport: "websocket" | "long-polling" = "websocket") {
  const c: Client<Api> = createClient(Api, {
    url,
    transports: [transport],
    WebSocket,
    auth: { params: { token } },
    peers: clientPeers({ direct: false }),
    ...testClientOptions,
  })
  cleanup.push(() => c.close())
  const errors: SwitchyardError[] = []
  c.on("error", (error) => errors.push(error))
  return { c, errors }
}

async function connected(c: Client<Api>): Promise<void> {
  await waitFor(() => c.state === "connected", 5000, "the client to connect")
}

const codeOf = (error: unknown) => (error as SwitchyardError).code
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

describe("authenticate returning an Effect", () => {
  it("gives ctx.auth its success, and refuses with AUTH_REFUSED when it fails (nothing reported)", async () => {
    const { url, asked, errors } = await served()
    const ann = client(url, "ann")
    await connected(ann.c)
    expect(await ann.c.rpc.whoami({})).toBe("ANN")
    const nobody = client(url, "nobody")
    await waitFor(() => nobody.errors.length >= 2, 5000, "two refusals")
    expect(nobody.errors.map((e) => e.code)).toEqual(nobody.errors.map(() => "AUTH_REFUSED"))
    expect(nobody.c.state).not.toBe("connected")
    expect(asked).toContain("byToken nobody")
    expect(errors).toEqual([])
  })

  it("is interrupted when the client of a WebSocket upgrade goes away while it runs", async () => {
    const { url, asked, errors } = await served()
    const gone = new WebSocket(`${url.replace("http:", "ws:")}?token=hang`)
    gone.on("error", () => {})
    await waitFor(() => asked.includes("byToken hang"), 5000, "authenticate to run")
    gone.terminate()
    await waitFor(() => asked.includes("hang interrupted"), 5000, "the Effect to be interrupted")
    // The upgrades that wait for authenticate and then open read as before.
    const ann = client(url, "ann")
    await connected(ann.c)
    expect(await ann.c.rpc.whoami({})).toBe("ANN")
    expect(errors).toEqual([])
  })

  it("cuts a WebSocket upgrade that sends more than EARLY_UPGRADE_BYTES before its answer, interrupting it", async () => {
    const { url, asked, errors } = await served()
    const { port } = new URL(url)
    const socket = connect(Number(port), "127.0.0.1")
    cleanup.push(() => void socket.destroy())
    socket.on("error", () => {})
    let closed = false
    socket.once("close", () => (closed = true))
    socket.write(upgradeRequest(Number(port), "hang"))
    await waitFor(() => asked.includes("byToken hang"), 5000, "authenticate to run")
    // Within the bound: kept, the upgrade still waits.
    socket.write(Buffer.alloc(EARLY_UPGRADE_BYTES))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(asked).not.toContain("hang interrupted")
    socket.write(Buffer.alloc(1))
    await waitFor(() => closed, 5000, "the socket to be cut")
    await waitFor(() => asked.includes("hang interrupted"), 5000, "the Effect to be interrupted")
    expect(errors).toEqual([])
  })

  it("hands what a WebSocket client sent while it waited to the WebSocket once it decides", async () => {
    const asked: string[] = []
    const errors: unknown[] = []
    const { opened: gate, open } = latch()
    // Its authenticate waits for the layer, which waits for the gate: the upgrade is held meanwhile.
    const server = createServer(Api, handlers, options(asked, errors, gate))
    const { http, port } = await attached(server)
    let upgrades = 0
    http.on("upgrade", () => upgrades++)
    const socket = connect(port, "127.0.0.1")
    cleanup.push(() => void socket.destroy())
    let received = ""
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")))
    socket.write(upgradeRequest(port, "ann"))
    await waitFor(() => upgrades === 1, 5000, "the upgrade")
    // A HELLO before the 101, which a client must not send: read and kept while authenticate waits.
    socket.write(maskedText(clientControl.hello(1, null, 0)))
    await new Promise((resolve) => setTimeout(resolve, 100))
    open()
    await waitFor(() => received.includes('[21,1,"'), 5000, "the WELCOME")
    expect(received.startsWith("HTTP/1.1 101 ")).toBe(true)
    expect(asked).toEqual(["byToken ann"])
    expect(errors).toEqual([])
  })

  it("refuses with AUTH_REFUSED when it dies, and onError hears the defect", async () => {
    const { url, errors } = await served()
    const down = client(url, "down")
    await waitFor(() => down.errors.length >= 1, 5000, "the refusal")
    expect(down.errors[0]?.code).toBe("AUTH_REFUSED")
    await waitFor(() => errors.length >= 1, 5000, "the report")
    expect(messageOf(errors[0])).toBe("the user database is down")
  })
})

describe("topic policies returning Effects", () => {
  it("let subscribe and publish where the service says yes, and refuse FORBIDDEN where it says no", async () => {
    const { server, url, asked, errors } = await served()
    const { c } = client(url, "ann")
    const got: string[] = []
    await c.topics.notes("mine").subscribe((note) => got.push(note)).ready
    await c.topics.notes("mine").publish("hello")
    await waitFor(() => got.length === 1, 5000, "the note")
    expect(got).toEqual(["hello"])
    expect(codeOf(await rejection(c.topics.notes("no").subscribe(() => {}).ready))).toBe("FORBIDDEN")
    expect(codeOf(await rejection(c.topics.notes("no").publish("hi")))).toBe("FORBIDDEN")
    expect(asked).toEqual(["byToken ann", "read ann mine", "write ann mine", "read ann no", "write ann no"])
    expect(server.topics.notes("no").subscribers).toBe(0)
    expect(errors).toEqual([])
  })

  it("refuse FORBIDDEN when the Effect fails (nothing reported) or dies (onError hears the defect)", async () => {
    const { url, errors } = await served()
    const { c } = client(url, "ann")
    expect(codeOf(await rejection(c.topics.notes("fail").subscribe(() => {}).ready))).toBe("FORBIDDEN")
    expect(codeOf(await rejection(c.topics.notes("fail").publish("hi")))).toBe("FORBIDDEN")
    expect(errors).toEqual([])
    expect(codeOf(await rejection(c.topics.notes("crash").subscribe(() => {}).ready))).toBe("FORBIDDEN")
    expect(codeOf(await rejection(c.topics.notes("crash").publish("hi")))).toBe("FORBIDDEN")
    expect(errors.map(messageOf)).toEqual(["the user database is down", "the user database is down"])
  })
})

describe("a presence hook returning an Effect", () => {
  it("lists the member with its success; refuses INTERNAL_ERROR when it fails or dies, reported", async () => {
    const { server, url, errors } = await served()
    const ann = client(url, "ann")
    await ann.c.topics.lobby("k").subscribe(() => {}).ready
    expect((await server.topics.lobby("k").presence()).map((m) => m.data)).toEqual([{ name: "ANN" }])
    // Their names cannot be found: the hook's Effect fails, or dies.
    const fail = client(url, "fail")
    expect(codeOf(await rejection(fail.c.topics.lobby("k").subscribe(() => {}).ready))).toBe("INTERNAL_ERROR")
    expect(errors).toEqual([new NoSuchUser({ token: "fail" })])
    const crash = client(url, "crash")
    expect(codeOf(await rejection(crash.c.topics.lobby("k").subscribe(() => {}).ready))).toBe("INTERNAL_ERROR")
    expect(messageOf(errors[1])).toBe("the user database is down")
    expect((await server.topics.lobby("k").presence()).map((m) => m.data)).toEqual([{ name: "ANN" }])
    expect(server.topics.lobby("k").subscribers).toBe(1)
  })
})

describe("peers.authorize returning an Effect", () => {
  it("opens where the service says yes; refuses PEER_FORBIDDEN where it says no, fails, or dies (reported)", async () => {
    const { url, asked, errors } = await served()
    const [ann, bob, no, fail, crash] = ["ann", "bob", "no", "fail", "crash"].map((token) => client(url, token).c)
    for (const c of [ann, bob, no, fail, crash]) await connected(c as Client<Api>)
    const peerOf = (c: Client<Api> | undefined) => c?.peers.id as string
    const incoming = new Promise<unknown>((resolve) => bob?.peers.onConnection(resolve))
    const open = await ann?.peers.connect(peerOf(bob))
    expect(open?.state).toBe("open")
    await incoming
    expect((await rejection(ann?.peers.connect(peerOf(no)) as Promise<unknown>)).code).toBe("PEER_FORBIDDEN")
    expect((await rejection(ann?.peers.connect(peerOf(fail)) as Promise<unknown>)).code).toBe("PEER_FORBIDDEN")
    expect(errors).toEqual([])
    expect((await rejection(ann?.peers.connect(peerOf(crash)) as Promise<unknown>)).code).toBe("PEER_FORBIDDEN")
    expect(errors.map(messageOf)).toEqual(["the user database is down"])
    expect(asked.filter((line) => line.startsWith("call"))).toEqual([
      "call ann bob",
      "call ann no",
      "call ann fail",
      "call ann crash",
    ])
  })
})

describe("hooks' Effects and the layer being built", () => {
  it("never runs a policy whose session ended while the layer was being built; the others run once it is", async () => {
    const asked: string[] = []
    const { opened: gate, open } = latch()
    const errors: unknown[] = []
    const { authenticate: _, ...inMemory } = options(asked, errors, gate)
    const server = createServer(Api, handlers, inMemory)
    cleanup.push(() => server.close())
    const memory = () => {
      const c = createClient(Api, {
        url: "memory:",
        transports: [memoryTransport(server.accept)],
        ...testClientOptions,
      })
      cleanup.push(() => c.close())
      return c
    }
    const leaving = memory()
    const staying = memory()
    await connected(leaving)
    await connected(staying)
    const abandoned = leaving.topics
      .notes("abandoned")
      .subscribe(() => {})
      .ready.catch((e: unknown) => e)
    const kept = staying.topics.notes("kept").subscribe(() => {}).ready
    await waitFor(() => server.sessionCount === 2, 2000, "both sessions")
    leaving.close()
    await abandoned
    await waitFor(() => server.sessionCount === 1, 2000, "the session to end")
    open()
    await kept
    expect(asked).toEqual(["read anonymous kept"])
    expect(errors).toEqual([])
  })

  it("never runs authenticate for a client gone (its HTTP request's socket closed) while the layer was being built", async () => {
    const asked: string[] = []
    const { opened: gate, open } = latch()
    const errors: unknown[] = []
    const server = createServer(Api, handlers, options(asked, errors, gate))
    cleanup.push(() => server.close())
    const { http, port } = await attached(server)
    let closedSockets = 0
    http.on("connection", (socket) => socket.on("close", () => closedSockets++))
    const url = `http://127.0.0.1:${port}/switchyard`
    // An opening POST of long polling: authenticate is called as it comes (before this listener, added after the server's).
    let posted = false
    http.on("request", (request) => {
      if (request.method === "POST") posted = true
    })
    const gone = client(url, "gone", "long-polling")
    await waitFor(() => posted, 5000, "the opening POST")
    await gone.c.close()
    await waitFor(() => closedSockets >= 1, 5000, "the server to see the client go")
    open()
    const { c } = client(url, "ann")
    await connected(c)
    expect(await c.rpc.whoami({})).toBe("ANN")
    expect(asked).toEqual(["byToken ann"])
    expect(errors).toEqual([])
  })

  it("turns away authenticate waiting for the layer when the server closes, with nothing for onError", async () => {
    const asked: string[] = []
    const errors: unknown[] = []
    const server = createServer(Api, handlers, options(asked, errors, new Promise<void>(() => {})))
    const { http, port } = await attached(server)
    let posted = false
    http.on("request", (request) => {
      if (request.method === "POST") posted = true
    })
    client(`http://127.0.0.1:${port}/switchyard`, "late", "long-polling")
    await waitFor(() => posted, 5000, "the opening POST")
    // Its authenticate waits for a layer that never comes; the server closes meanwhile.
    await server.close()
    expect(asked).toEqual([])
    expect(errors).toEqual([])
  })

  it("close() interrupts an authenticate Effect still running, and turns the client away SERVER_CLOSED, not AUTH_REFUSED", async () => {
    const asked: string[] = []
    const errors: unknown[] = []
    const server = createServer(Api, handlers, options(asked, errors))
    // Through attach(): close() does not close the HTTP server's connections, so only the interruption ends it.
    const { http, port } = await attached(server)
    let status = 0
    http.on("request", (request, response) => {
      if (request.method === "POST") response.once("finish", () => (status ||= response.statusCode))
    })
    const { errors: told } = client(`http://127.0.0.1:${port}/switchyard`, "hang", "long-polling")
    await waitFor(() => asked.includes("byToken hang"), 5000, "authenticate to run")
    const closing = server.close()
    await Promise.race([
      closing,
      new Promise((_, reject) => setTimeout(() => reject(new Error("close() hangs")), 3000)),
    ])
    expect(asked).toEqual(["byToken hang", "hang interrupted"])
    await waitFor(() => status !== 0, 5000, "the answer to the opening POST")
    expect(status).toBe(503)
    expect(told.map((e) => e.code)).not.toContain("AUTH_REFUSED")
    expect(errors).toEqual([])
  })

  it("runs a burst of slow policies of one session at once with no listener warning", async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)
    process.on("warning", onWarning)
    cleanup.push(() => void process.off("warning", onWarning))
    const asked: string[] = []
    const server = createServer(Api, handlers, options(asked, []))
    cleanup.push(() => server.close())
    const c = createClient(Api, { url: "memory:", transports: [memoryTransport(server.accept)], ...testClientOptions })
    cleanup.push(() => c.close())
    // 15 SUBSCRIBEs of one session, their policies' Effects in flight together, each listening to the
    // session's one signal (Node warns past 10 listeners unless told they are expected).
    const ready = Array.from({ length: 15 }, (_, i) => c.topics.notes(`slow${i}`).subscribe(() => {}).ready)
    await waitFor(() => asked.length === 15, 5000, "the 15 policies to run")
    await Promise.all(ready)
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings).toEqual([])
  })

  it("refuses what a hook's Effect decides when the layer failed to build, and onError hears why", async () => {
    const errors: unknown[] = []
    const failing = Layer.effect(Users, Effect.fail(new Error("no database")))
    const server = createServer(Api, handlers, { ...options([], errors), layer: failing })
    cleanup.push(() => server.close())
    const c = createClient(Api, { url: "memory:", transports: [memoryTransport(server.accept)], ...testClientOptions })
    cleanup.push(() => c.close())
    expect(codeOf(await rejection(c.topics.notes("mine").subscribe(() => {}).ready))).toBe("FORBIDDEN")
    expect(codeOf(await rejection(c.topics.notes("mine").publish("hi")))).toBe("FORBIDDEN")
    // Once when it failed to build (no listen() to hear it), then once for each hook it could not run.
    expect(errors.map(messageOf)).toEqual(
      Array.from({ length: 3 }, () => "switchyard: options.layer failed to build: no database"),
    )
  })
})

describe("a canPublish Effect left running on a node the session moved away from", () => {
  it("is interrupted when the session ends at its new owner", async () => {
    const cluster = memoryCluster()
    const asked: string[] = []
    const [n1, n2] = ["n1", "n2"].map((id) =>
      createServer(Api, handlers, {
        ...options(asked, []),
        broker: cluster.broker(id),
        limits: { handOverGraceMs: 300 },
      }),
    ) as [Server<Api>, Server<Api>]
    const ports: number[] = []
    for (const server of [n1, n2]) {
      cleanup.push(() => server.close())
      ports.push((await server.listen(0, "127.0.0.1")).port)
    }
    const [port1, port2] = ports as [number, number]
    const balancer = await RoundRobinProxy.start([port1])
    cleanup.push(() => balancer[Symbol.asyncDispose]())
    const { c } = client(`${balancer.url}/switchyard`, "ann")
    await connected(c)
    // The PUBLISH waits for its canPublish on n1; the session moves to n2, the PUBLISH stays on n1.
    void c.topics
      .notes("hang")
      .publish("hi")
      .catch(() => {})
    await waitFor(() => asked.includes("write ann hang"), 5000, "canPublish to run on n1")
    balancer.add(port2)
    balancer.out(port1)
    await waitFor(() => n2.sessionCount === 1 && c.state === "connected", 10_000, "the session on n2")
    expect(asked).not.toContain("write ann hang interrupted")
    // The session ends at n2: n1 hears it, and what still runs there for it stops.
    await c.close()
    await waitFor(() => asked.includes("write ann hang interrupted"), 5000, "the Effect on n1 to be interrupted")
  })
})
