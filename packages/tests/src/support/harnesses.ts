import { createClient, type FetchLike } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import { type AnyContract, type Client, memoryTransport } from "@switchyard/core"
import {
  type SuiteFixture,
  type SuiteHarness,
  type SuiteSetup,
  TestContract,
  type TestServerState,
  testHandlers,
  waitFor,
} from "@switchyard/core/testing"
import {
  createServer,
  defaultTransports,
  type Handlers,
  memoryServer,
  type Server,
  type ServerOptions,
} from "@switchyard/server-node"
import { webrtcTransport } from "@switchyard/webrtc-data"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import { EventSource } from "eventsource"
import { expect } from "vitest"
import WebSocket from "ws"
import { ChannelNetwork } from "./channelNetwork.ts"
import { TcpProxy } from "./tcpProxy.ts"
import { testSocketTransport } from "./testSocketClient.ts"
import { testSocketServer } from "./testSocketServer.ts"

export const fastReconnect = { initialDelayMs: 10, maxDelayMs: 100 }

export { freshStorage } from "./storage.ts"

/**
 * Client options of every harness: quick reconnects, and a short connect timeout so that an attempt whose
 * handshake a stalled network swallowed is abandoned and retried, as on a real black-holing network.
 */
export const testClientOptions = { reconnect: fastReconnect, connectTimeoutMs: 1000 }

export function startTestServer(
  options: SuiteSetup,
  state: TestServerState,
  extra: Pick<ServerOptions, "webrtc" | "transports" | "trustedProxies" | "allowedOrigins"> = {},
): Server<TestContract> {
  return createServer(TestContract, testHandlers(state) as unknown as Handlers<TestContract>, {
    limits: { ...options.serverLimits, resumeWindowMs: 10_000 },
    onError: () => {},
    ...extra,
  })
}

export async function connected<C extends AnyContract>(client: Client<C>): Promise<Client<C>> {
  await waitFor(() => client.state === "connected", 5000, "the client to connect")
  return client
}

/**
 * A well-behaved long-polling client beside an attacker, which must not notice anything: the function it
 * returns asserts that a call still works and that its state never changed.
 */
export async function longPollingBystander(url: string, cleanup: Array<() => Promise<void>>) {
  const client = createClient(TestContract, { url, transports: ["long-polling"], ...testClientOptions })
  cleanup.push(() => client.close())
  await connected(client)
  let states = 0
  client.on("state", () => states++)
  return async () => {
    expect(await client.rpc.add({ a: 20, b: 22 })).toBe(42)
    expect(states).toBe(0)
  }
}

/** Ready when the session is on the data channel: for harnesses whose clients move there from WebSocket. */
async function onTheChannel<C extends AnyContract>(client: Client<C>): Promise<Client<C>> {
  await waitFor(() => client.transport === "webrtc", 10_000, "the move to the data channel")
  return client
}

/**
 * The fixture every harness returns: server-side hooks, clients made on demand and connected, and a close
 * that closes the clients, then the server, then whatever the harness added (`teardown`).
 */
async function fixture(
  server: Server<TestContract>,
  state: TestServerState,
  network: { drop(): number; stall(on: boolean): void },
  newClient: () => Client<TestContract>,
  teardown: () => Promise<void> = async () => {},
  ready: (client: Client<TestContract>) => Promise<Client<TestContract>> = connected,
): Promise<SuiteFixture> {
  const clients: Client<TestContract>[] = []
  const make = () => {
    const client = newClient()
    clients.push(client)
    return ready(client)
  }
  const close = async () => {
    await Promise.all(clients.map((c) => c.close()))
    await server.close()
    await teardown()
  }
  // A first client that never connects fails the setup: close what it started (a proxy process, such as
  // nginx, would outlive the test otherwise).
  const client = await make().catch(async (error: unknown) => {
    await close()
    throw error
  })
  return {
    client,
    createClient: make,
    publish: (topic, key, message) => server.topics[topic](key).publish(message as never),
    subscribers: (topic, key) => server.topics[topic](key).subscribers,
    state,
    drop: async () => network.drop(),
    stall: async (on) => network.stall(on),
    close,
  }
}

/**
 * The in-memory pair: server and client in one process, no sockets. The server half registers as any
 * transport does, in `transports`.
 */
export const memoryHarness: SuiteHarness = {
  transport: "memory",
  async setup(options) {
    const state: TestServerState = { aborted: new Set() }
    const inProcess = memoryServer()
    const server = startTestServer(options, state, { transports: [...defaultTransports(), inProcess] })
    const transport = memoryTransport(inProcess.accept)
    return fixture(server, state, transport, () =>
      createClient(TestContract, { url: "memory:", transports: [transport], ...testClientOptions }),
    )
  },
}

/**
 * A reverse proxy the Node harness puts between its TCP proxy and the server (nginx with a given config),
 * and the server options that go with it (`trustedProxies`, `allowedOrigins`).
 */
export interface HarnessFront {
  readonly serverOptions: Pick<ServerOptions, "trustedProxies" | "allowedOrigins">
  /** Starts the proxy in front of the server's port; the harness disposes of it after the server. */
  start(serverPort: number): Promise<{ readonly port: number } & AsyncDisposable>
}

/**
 * A transport over real sockets on 127.0.0.1 (`ws`, or Node's fetch and the `eventsource` package),
 * through a TCP proxy that can cut or stall the network, so that drop() and stall() act on whatever is
 * in flight; with a `front`, through that reverse proxy too (client, TCP proxy, front, server).
 */
export function nodeHarness(
  transport: "websocket" | "sse" | "long-polling" | "polling",
  http: { readonly fetch?: FetchLike } = {},
  front?: HarnessFront,
): SuiteHarness {
  return {
    transport,
    async setup(options) {
      const state: TestServerState = { aborted: new Set() }
      const server = startTestServer(options, state, front?.serverOptions)
      const { port } = await server.listen(0, "127.0.0.1")
      const reverse = await front?.start(port).catch(async (error: unknown) => {
        await server.close()
        throw error
      })
      const proxy = await TcpProxy.start(reverse?.port ?? port)
      const url = `http://127.0.0.1:${proxy.port}/switchyard`
      return fixture(
        server,
        state,
        proxy,
        () =>
          createClient(TestContract, {
            url,
            transports: [transport],
            WebSocket,
            EventSource,
            ...http,
            ...testClientOptions,
          }),
        async () => {
          await proxy[Symbol.asyncDispose]()
          await reverse?.[Symbol.asyncDispose]()
        },
      )
    },
  }
}

export const websocketNodeHarness = nodeHarness("websocket")
export const longPollingNodeHarness = nodeHarness("long-polling")
export const sseNodeHarness = nodeHarness("sse")
export const pollingNodeHarness = nodeHarness("polling")
/** The HTTP transports with `nodeFetch` (node:http) in place of Node's built-in fetch. */
export const sseNodeFetchHarness = nodeHarness("sse", { fetch: nodeFetch() })
export const longPollingNodeFetchHarness = nodeHarness("long-polling", { fetch: nodeFetch() })

/**
 * `"test-socket"`, a transport of an id Switchyard does not know, registered on both sides as a third
 * party's would be (testSocketServer.ts, testSocketClient.ts), over the same TCP proxy.
 */
export const testSocketNodeHarness: SuiteHarness = {
  transport: "test-socket",
  async setup(options) {
    const state: TestServerState = { aborted: new Set() }
    const server = startTestServer(options, state, { transports: [testSocketServer()] })
    const { port } = await server.listen(0, "127.0.0.1")
    const proxy = await TcpProxy.start(port)
    const url = `http://127.0.0.1:${proxy.port}/switchyard`
    const transports = [testSocketTransport({ WebSocket })]
    return fixture(
      server,
      state,
      proxy,
      () => createClient(TestContract, { url, transports, ...testClientOptions }),
      () => proxy[Symbol.asyncDispose](),
    )
  },
}

/**
 * WebRTC between a Node client and the Node server: the client opens its session on WebSocket (through
 * the TCP proxy) and moves it to a data channel; every fixture client is on the channel before the
 * suite uses it. `drop()` and `stall()` act on both networks: the channel's (ChannelNetwork) and the
 * proxy's, so that after a drop the session resumes on WebSocket and moves back up.
 */
export const webrtcNodeHarness: SuiteHarness = {
  transport: "webrtc",
  async setup(options) {
    const state: TestServerState = { aborted: new Set() }
    const server = createServer(TestContract, testHandlers(state) as unknown as Handlers<TestContract>, {
      limits: { ...options.serverLimits, resumeWindowMs: 10_000 },
      onError: () => {},
      transports: [...defaultTransports(), webrtcServer()],
    })
    const { port } = await server.listen(0, "127.0.0.1")
    const proxy = await TcpProxy.start(port)
    const channels = new ChannelNetwork()
    const url = `http://127.0.0.1:${proxy.port}/switchyard`
    const network = {
      drop: () => channels.drop() + proxy.drop(),
      stall: (on: boolean) => {
        channels.stall(on)
        proxy.stall(on)
      },
    }
    return fixture(
      server,
      state,
      network,
      () => {
        const memory = new Map<string, string>()
        return createClient(TestContract, {
          url,
          WebSocket,
          transports: [webrtcTransport({ RTCPeerConnection: channels.RTCPeerConnection as never }), "websocket"],
          negotiation: {
            storage: { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => void memory.set(k, v) },
          },
          ...testClientOptions,
        })
      },
      async () => {
        channels.drop()
        await proxy[Symbol.asyncDispose]()
      },
      onTheChannel,
    )
  },
}

// --- The Chromium harness (kept at the end of this file; its imports are hoisted like any other). ---
import { borrowPage, givePageBack, startPageServer } from "./chromium.ts"
import { RemotePage } from "./remoteClient.ts"

/**
 * WebSocket with the client inside Chromium: the real client bundle runs in a page, driven from Node
 * (remoteClient.ts), through the same TCP proxy as the Node harness. The page is served by an HTTP server
 * the Switchyard server is attached to, behind the proxy, so the page and its WebSocket share one
 * origin: the server's default Origin check (same origin only, no `allowedOrigins`) stays in force and
 * is exercised by a real browser's Origin header on every connection.
 */
function chromiumHarness(transport: "websocket" | "sse" | "long-polling" | "polling" | "webrtc"): SuiteHarness {
  return {
    transport,
    async setup(options) {
      const state: TestServerState = { aborted: new Set() }
      // WebRTC: the server's peers run on a ChannelNetwork, so that drop() and stall() reach the data
      // channels too; the page's session opens on WebSocket and moves to the channel.
      const channels = transport === "webrtc" ? new ChannelNetwork() : undefined
      const server = startTestServer(
        options,
        state,
        channels ? { webrtc: webrtcServer({ RTCPeerConnection: channels.RTCPeerConnection as never }) } : {},
      )
      const cleanup: (() => PromiseLike<void>)[] = [() => server.close()]
      const close = async () => {
        for (const step of cleanup.splice(0).reverse()) await step()
      }
      try {
        const site = await startPageServer()
        cleanup.push(() => site[Symbol.asyncDispose]())
        server.attach(site.http)
        const proxy = await TcpProxy.start(site.port)
        cleanup.push(() => proxy[Symbol.asyncDispose]())
        const origin = `http://127.0.0.1:${proxy.port}`
        const page = await borrowPage()
        cleanup.push(() => givePageBack(page))
        const remote = await RemotePage.open(page, `${origin}/`, { pooled: true })
        cleanup.push(() => remote.close())
        const network = channels
          ? {
              drop: () => channels.drop() + proxy.drop(),
              stall: (on: boolean) => {
                channels.stall(on)
                proxy.stall(on)
              },
            }
          : proxy
        // `fixture` closes the clients and the server, then this cleanup closes the page, proxy and site
        // (server.close() again is a no-op); on a failed setup the catch below runs the same cleanup.
        return await fixture(
          server,
          state,
          network,
          () =>
            remote.createClient(TestContract, `${origin}/switchyard`, {
              ...testClientOptions,
              transports: channels ? ["webrtc", "websocket"] : [transport],
            }),
          async () => {
            await close()
            if (remote.defects.length > 0) throw new AggregateError(remote.defects, "the Chromium harness failed")
          },
          channels ? onTheChannel : connected,
        )
      } catch (error) {
        await close()
        throw error
      }
    },
  }
}

export const websocketChromiumHarness = chromiumHarness("websocket")
export const longPollingChromiumHarness = chromiumHarness("long-polling")
export const sseChromiumHarness = chromiumHarness("sse")
export const pollingChromiumHarness = chromiumHarness("polling")
export const webrtcChromiumHarness = chromiumHarness("webrtc")
