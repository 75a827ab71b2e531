import { createClient } from "@switchyard/client-browser/all"
import type { Client } from "@switchyard/core"
import {
  type SuiteHarness,
  type SuiteSetup,
  TestContract,
  type TestServerState,
  testHandlers,
  waitFor,
} from "@switchyard/core/testing"
import {
  type Broker,
  createServer,
  type Handlers,
  type MemoryCluster,
  memoryCluster,
  type NodeMessage,
  type Server,
} from "@switchyard/server-node"
import { EventSource } from "eventsource"
import WebSocket from "ws"
import { RoundRobinProxy } from "./cluster/roundRobin.ts"
import { testClientOptions } from "./harnesses.ts"
import { TcpProxy } from "./tcpProxy.ts"

type Transport = "websocket" | "sse" | "long-polling" | "polling"

/** One node of a test cluster: its server, its id on the bus and the port it listens on. */
export interface TestNode {
  readonly id: string
  readonly server: Server<TestContract>
  readonly port: number
}

/**
 * `count` servers in one process sharing a `memoryCluster()` (topics, node messages, the session directory), behind a
 * round-robin balancer with no affinity, behind a TCP proxy that can cut or stall what the clients have
 * open. Each new connection and each HTTP request goes to the next node.
 */
export class SessionClusterFixture implements AsyncDisposable {
  private readonly clients: Client<TestContract>[] = []
  /** Called after each node message is sent: a test acts at a precise point of a hand-over. */
  onMessage: ((from: string, to: string, message: NodeMessage) => void) | undefined
  /** Whether a node message is lost instead of sent. */
  drop: ((from: string, to: string, message: NodeMessage) => boolean) | undefined

  private constructor(
    readonly cluster: MemoryCluster,
    readonly nodes: TestNode[],
    readonly balancer: RoundRobinProxy,
    readonly proxy: TcpProxy,
    readonly state: TestServerState,
    /** Every node message sent, as the JSON the bus carries: what a Redis client on the bus could read. */
    readonly messages: Array<{ readonly from: string; readonly to: string; readonly json: string }>,
  ) {}

  static async start(
    options: {
      count?: number
      serverLimits?:
        | (SuiteSetup["serverLimits"] & {
            readonly handOverGraceMs?: number
            readonly maxReplayFrames?: number
            readonly takeOverTimeoutMs?: number
            readonly maxSnapshotChars?: number
            readonly maxSessionsPerIp?: number
            readonly refusalDelayMs?: number
          })
        | undefined
      /** The handlers of every node (default: the test contract's `testHandlers`). */
      handlers?: ((state: TestServerState) => object) | undefined
      /** The broker of node `id` (default: the `memoryCluster()`'s); `kill` then needs the memory one. */
      broker?: ((id: string) => Broker) | undefined
    } = {},
  ): Promise<SessionClusterFixture> {
    const cluster = memoryCluster()
    const state: TestServerState = { aborted: new Set() }
    const nodes: TestNode[] = []
    const messages: SessionClusterFixture["messages"] = []
    let fixture: SessionClusterFixture | undefined
    const handlers = options.handlers?.(state) ?? testHandlers(state)
    for (let i = 1; i <= (options.count ?? 3); i++) {
      const id = `n${i}`
      const broker = options.broker?.(id) ?? cluster.broker(id)
      const bus = broker.nodes
      if (bus) {
        const send = bus.send.bind(bus)
        bus.send = (to, message) => {
          messages.push({ from: id, to, json: JSON.stringify(message) })
          // Lost on the way, as while Redis is down.
          if (fixture?.drop?.(id, to, message)) return
          send(to, message)
          fixture?.onMessage?.(id, to, message)
        }
      }
      const server = createServer(TestContract, handlers as unknown as Handlers<TestContract>, {
        limits: { handOverGraceMs: 300, ...options.serverLimits, resumeWindowMs: 10_000 },
        onError: () => {},
        broker,
      })
      const { port } = await server.listen(0, "127.0.0.1")
      nodes.push({ id, server, port })
    }
    const balancer = await RoundRobinProxy.start(nodes.map((n) => n.port))
    const proxy = await TcpProxy.start(balancer.port)
    fixture = new SessionClusterFixture(cluster, nodes, balancer, proxy, state, messages)
    return fixture
  }

  get url(): string {
    return `http://127.0.0.1:${this.proxy.port}/switchyard`
  }

  node(id: string): TestNode {
    return this.nodes.find((n) => n.id === id) as TestNode
  }

  /** Sessions held by each node (ghost-free count of the session tables). */
  get sessionCounts(): number[] {
    return this.nodes.map((n) => n.server.sessionCount)
  }

  /** A client through the proxy and the balancer, connected. */
  async client(transport: Transport, socket: typeof WebSocket = WebSocket): Promise<Client<TestContract>> {
    const client = createClient(TestContract, {
      url: this.url,
      transports: [transport],
      WebSocket: socket,
      EventSource,
      ...testClientOptions,
    })
    this.clients.push(client)
    await waitFor(() => client.state === "connected", 5000, "the client to connect")
    return client
  }

  /** Node `id` dies: the bus says so, and the balancer cuts what it carried and stops sending it anything. */
  kill(id: string): void {
    this.cluster.nodes.kill(id)
    this.balancer.out(this.node(id).port)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()))
    await Promise.all(this.nodes.map((n) => n.server.close()))
    await this.proxy[Symbol.asyncDispose]()
    await this.balancer[Symbol.asyncDispose]()
  }
}

/** The transport contract suite's harness over a 3-node cluster: every request may land on any node. */
export function clusterHarness(transport: Transport): SuiteHarness {
  return {
    transport,
    async setup(options) {
      const fixture = await SessionClusterFixture.start({ serverLimits: options.serverLimits })
      const first = fixture.nodes[0] as TestNode
      const make = () => fixture.client(transport)
      return {
        client: await make(),
        createClient: make,
        publish: (topic, key, message) => first.server.topics[topic](key).publish(message as never),
        // Subscribers are counted where their sessions are: on every node.
        subscribers: (topic, key) =>
          fixture.nodes.reduce((sum, node) => sum + node.server.topics[topic](key).subscribers, 0),
        state: fixture.state,
        drop: async () => fixture.proxy.drop(),
        stall: async (on) => fixture.proxy.stall(on),
        close: () => fixture[Symbol.asyncDispose](),
      }
    },
  }
}
