import { createClient } from "@switchyard/client-browser/all"
import type { SwitchyardError } from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { redisBroker } from "@switchyard/redis"
import { createServer, type Handlers } from "@switchyard/server-node"
import { expect, it } from "vitest"
import WebSocket from "ws"
import { connected, testClientOptions } from "./support/harnesses.ts"
import { RedisServer } from "./support/redisServer.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

/**
 * Found by the cluster soak under CPU starvation (issue 11, docs/scaling.md): a subscription renewed after
 * a lost session (or any SUBSCRIBE) whose history read was in flight when the node's Redis connection
 * dropped was refused at once with BROKER_UNAVAILABLE ("Redis: Disconnects client"), though the connection
 * came back within moments: the client's subscription ended, and with it the report of what the lost
 * session had missed (every client the soak counted as losing messages silently had one). The read is now
 * made again on the next connection, within `unavailableAfterMs`. Here the node reaches Redis through a
 * TCP proxy that holds the read's bytes, then cuts the connection.
 */
it("a SUBSCRIBE whose history read loses its Redis connection is read again on the next one, not refused", async () => {
  await using redis = await RedisServer.start()
  await using proxy = await TcpProxy.start(Number(new URL(redis.url).port))
  const server = createServer(
    TestContract,
    testHandlers({ aborted: new Set() } satisfies TestServerState) as unknown as Handlers<TestContract>,
    {
      broker: redisBroker({
        url: `redis://127.0.0.1:${proxy.port}`,
        unavailableAfterMs: 5000,
        pingIntervalMs: 200,
        pingTimeoutMs: 2000,
        backoffMs: [20, 100],
      }),
      onError: () => {},
    },
  )
  const { port } = await server.listen(0, "127.0.0.1")
  const client = () =>
    connected(
      createClient(TestContract, {
        url: `http://127.0.0.1:${port}/switchyard`,
        transports: ["websocket"],
        WebSocket,
        ...testClientOptions,
      }),
    )
  const first = await client()
  const second = await client()
  try {
    // The key is listened to on the node already: the second SUBSCRIBE needs only its history read.
    const seen: number[] = []
    await first.topics.feed("k").subscribe(() => {}).ready
    await server.topics.feed("k").publish(1)
    const errors: SwitchyardError[] = []
    second.on("error", (error) => errors.push(error))
    proxy.stall(true)
    const sub = second.topics.feed("k").subscribe((n) => seen.push(n))
    const settled = sub.ready.then(
      () => "confirmed",
      (error: SwitchyardError) => error.code,
    )
    // The read is on its way, held by the proxy (the script's keys name the key's log, which nothing else
    // sends now: the publication is done); the connection is cut under it, and comes back.
    await waitFor(() => proxy.heldUpstream().includes(":log"), 5000, "the history read, held by the proxy")
    proxy.drop()
    proxy.stall(false)
    expect(await settled).toBe("confirmed")
    await server.topics.feed("k").publish(2)
    await waitFor(() => seen.includes(2), 5000, "the next publication")
    expect(errors.map((e) => e.code)).toEqual([])
  } finally {
    await first.close()
    await second.close()
    await server.close()
  }
})
