import { createServer as createHttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { createClient } from "@switchyard/client-browser/all"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { redisBroker } from "@switchyard/redis"
import { createServer, type Handlers } from "@switchyard/server-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { testClientOptions } from "./support/harnesses.ts"
import { latch } from "./support/latch.ts"
import { RedisServer } from "./support/redisServer.ts"
import { SessionClusterFixture } from "./support/sessionCluster.ts"

/**
 * Sessions across nodes on Redis: the scenarios of sessions-across-nodes-moves.test.ts where Redis
 * behaves unlike the in-process bus (a node's messages stop when it closes; broker reads are async).
 */
let redis: RedisServer
let prefixes = 0
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterAll(async () => {
  await redis?.[Symbol.asyncDispose]()
})

/** A fixture whose nodes share one redis-server, under a key prefix of their own. */
function onRedis(options: Parameters<typeof SessionClusterFixture.start>[0] = {}) {
  const keyPrefix = `s${++prefixes}:`
  return SessionClusterFixture.start({
    count: 2,
    ...options,
    broker: (nodeId) => redisBroker({ url: redis.url, keyPrefix, nodeId }),
  })
}

describe("sessions across nodes on Redis", () => {
  it("a client PUBLISH still deciding when its node closes gracefully is answered", async () => {
    // canPublish decides (allows) only once the session has moved.
    const { opened: moved, open: decide } = latch()
    let deciding = 0
    await using cluster = await onRedis({
      serverLimits: { handOverGraceMs: 5000 },
      handlers: (state: TestServerState) => {
        const base = testHandlers(state)
        const canPublish = () => {
          deciding++
          return moved.then(() => true)
        }
        return { ...base, topics: { ...base.topics, room: { canPublish } } }
      },
    })
    const client = await cluster.client("websocket")
    const sessionId = client.sessionId
    const owner = cluster.nodes.find((n) => n.server.sessionCount === 1)
    if (!owner) throw new Error("no owner")
    const outcome = Promise.race([
      client.topics
        .room("r")
        .publish({ user: "u", text: "t", at: new Date() })
        .then(
          () => "ok",
          (e: { code?: string }) => `error:${e.code}`,
        ),
      new Promise((resolve) => setTimeout(resolve, 10_000, "unanswered")),
    ])
    await waitFor(() => deciding === 1, 3000, "the PUBLISH to be decided")
    cluster.balancer.out(owner.port)
    const closing = owner.server.close()
    // The session moves while the closing node still decides its PUBLISH; only then does the decision come.
    const other = cluster.nodes.find((n) => n !== owner)
    await waitFor(() => client.state === "connected" && other?.server.sessionCount === 1, 5000, "the take-over")
    decide()
    await closing
    expect(await outcome).toBe("ok")
    expect(client.sessionId).toBe(sessionId)
  })
})

describe("a node attached to an HTTP server", () => {
  it("takes a session over from its first HELLO, before its first heartbeat", async () => {
    const keyPrefix = `s${++prefixes}:`
    const state: TestServerState = { aborted: new Set() }
    /** A node whose joining takes `joinMs` more (a slow link to Redis): until then it knows no node alive. */
    const start = (nodeId: string, joinMs = 0) => {
      const broker = redisBroker({ url: redis.url, keyPrefix, nodeId })
      const bus = broker.nodes
      if (bus && joinMs > 0) {
        const join = bus.start.bind(bus)
        bus.start = (receive) => new Promise((resolve) => setTimeout(resolve, joinMs)).then(() => join(receive))
      }
      return createServer(TestContract, testHandlers(state) as unknown as Handlers<TestContract>, {
        limits: { resumeWindowMs: 10_000, handOverGraceMs: 300 },
        onError: () => {},
        broker,
      })
    }
    const first = start("a1")
    const { port } = await first.listen(0, "127.0.0.1")
    let target = port
    let socket: WebSocket | undefined
    /** Connects wherever `target` says, and remembers the socket to cut it. */
    class Steered extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(String(url).replace(/:\d+\//, `:${target}/`), protocols)
        socket = this
      }
    }
    const client = createClient(TestContract, {
      url: `http://127.0.0.1:${port}/switchyard`,
      transports: ["websocket"],
      WebSocket: Steered,
      ...testClientOptions,
    })
    const http = createHttpServer()
    const second = start("a2", 800)
    try {
      await waitFor(() => client.state === "connected", 5000, "the client")
      const sessionId = client.sessionId
      second.attach(http)
      await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
      target = (http.address() as AddressInfo).port
      socket?.terminate()
      await waitFor(() => client.state === "connected" && second.sessionCount === 1, 5000, "the new link")
      expect(client.sessionId).toBe(sessionId)
      expect(first.sessionCount).toBe(0)
    } finally {
      await client.close()
      await second.close()
      await first.close()
      await new Promise((resolve) => http.close(resolve))
    }
  })
})
