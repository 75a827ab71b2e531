import { createClient } from "@switchyard/client-browser/all"
import type { SwitchyardError } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers, memoryCluster, type NodeBus } from "@switchyard/server-node"
import { expect, it } from "vitest"
import WebSocket from "ws"
import { RoundRobinProxy } from "./support/cluster/roundRobin.ts"
import { testClientOptions } from "./support/harnesses.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

/**
 * Found by the cluster soak (issue 11): a HELLO whose session's owner is alive but does not answer (a
 * node killed with SIGKILL, before its liveness lapses) was refused with CONNECTION_LOST, whose close
 * code (1006) no WebSocket may send: `ws` threw from the take-over timer and the node that refused died,
 * and then the next one, as the clients went round.
 */
it("a WebSocket HELLO whose owner does not hand the session over in time is refused, and the client resumes later", async () => {
  const cluster = memoryCluster()
  const handlers = testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>
  const servers = ["n1", "n2"].map((id) => {
    const broker = cluster.broker(id)
    // n1 holds its sessions but never answers a take-over, as a node that hangs.
    if (id === "n1") deaf(broker.nodes as NodeBus)
    return createServer(TestContract, handlers, {
      limits: { takeOverTimeoutMs: 100, handOverGraceMs: 100 },
      onError: () => {},
      broker,
    })
  })
  const ports = await Promise.all(servers.map(async (s) => (await s.listen(0, "127.0.0.1")).port))
  await using balancer = await RoundRobinProxy.start(ports)
  await using proxy = await TcpProxy.start(balancer.port)
  const client = createClient(TestContract, {
    url: `http://127.0.0.1:${proxy.port}/switchyard`,
    transports: ["websocket"],
    WebSocket,
    ...testClientOptions,
  })
  try {
    const errors: SwitchyardError[] = []
    client.on("error", (error) => errors.push(error))
    await waitFor(() => client.state === "connected", 5000, "the client on n1")
    const sessionId = client.sessionId
    expect(servers[0]?.sessionCount).toBe(1)
    // The next connection goes to n2, whose take-over times out; the one after to n1, which resumes.
    proxy.drop()
    await waitFor(
      () => errors.some((e) => e.code === "CONNECTION_LOST" && /in time/.test(e.message)),
      5000,
      "the refusal",
    )
    await waitFor(() => client.state === "connected", 5000, "the client back on n1")
    expect(client.sessionId).toBe(sessionId)
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
  } finally {
    await client.close()
    await Promise.all(servers.map((s) => s.close()))
  }
})

function deaf(nodes: NodeBus): void {
  const start = nodes.start.bind(nodes)
  nodes.start = (receive) => start((from, message) => (message.t === "take" ? undefined : receive(from, message)))
}
