import { createClient } from "@switchyard/client-browser"
import { type Client, memoryTransport } from "@switchyard/core"
import { type SuiteHarness, type SuiteSetup, TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { type Handlers, type Server, createServer } from "@switchyard/server-node"
import WebSocket from "ws"
import { TcpProxy } from "./tcpProxy.ts"

export const fastReconnect = { initialDelayMs: 10, maxDelayMs: 100 }

export function startTestServer(options: SuiteSetup, state: TestServerState): Server<TestContract> {
  return createServer(TestContract, testHandlers(state) as unknown as Handlers<TestContract>, {
    limits: { ...options.serverLimits, resumeWindowMs: 10_000 },
    onError: () => {},
  })
}

export async function connected(client: Client<TestContract>): Promise<Client<TestContract>> {
  await waitFor(() => client.state === "connected", 5000, "the client to connect")
  return client
}

/** The in-memory pair: server and client in one process, no sockets. */
export const memoryHarness: SuiteHarness = {
  async setup(options) {
    const state: TestServerState = { aborted: new Set() }
    const server = startTestServer(options, state)
    const transport = memoryTransport(server.accept)
    const clients: Client<TestContract>[] = []
    const make = () => {
      const client = createClient(TestContract, { url: "memory:", transports: [transport], reconnect: fastReconnect })
      clients.push(client)
      return connected(client)
    }
    return {
      client: await make(),
      createClient: make,
      publish: (topic, key, message) => server.topics[topic](key).publish(message as never),
      subscribers: (topic, key) => server.topics[topic](key).subscribers,
      state,
      drop: async () => transport.drop(),
      stall: async (on) => transport.stall(on),
      close: async () => {
        await Promise.all(clients.map((c) => c.close()))
        await server.close()
      },
    }
  },
}

/** WebSocket over real sockets on 127.0.0.1, through a TCP proxy that can cut or stall the network. */
export const websocketNodeHarness: SuiteHarness = {
  async setup(options) {
    const state: TestServerState = { aborted: new Set() }
    const server = startTestServer(options, state)
    const { port } = await server.listen(0, "127.0.0.1")
    const proxy = await TcpProxy.start(port)
    const url = `http://127.0.0.1:${proxy.port}/switchyard`
    const clients: Client<TestContract>[] = []
    const make = () => {
      const client = createClient(TestContract, { url, WebSocket, reconnect: fastReconnect })
      clients.push(client)
      return connected(client)
    }
    return {
      client: await make(),
      createClient: make,
      publish: (topic, key, message) => server.topics[topic](key).publish(message as never),
      subscribers: (topic, key) => server.topics[topic](key).subscribers,
      state,
      drop: async () => proxy.drop(),
      stall: async (on) => proxy.stall(on),
      close: async () => {
        await Promise.all(clients.map((c) => c.close()))
        await server.close()
        await proxy[Symbol.asyncDispose]()
      },
    }
  },
}
