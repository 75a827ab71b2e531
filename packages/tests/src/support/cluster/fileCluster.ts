import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createClient } from "@switchyard/client-browser/all"
import type { Client } from "@switchyard/core"
import {
  type SuiteHarness,
  type SuiteSetup,
  TestContract,
  type TestServerState,
  testHandlers,
} from "@switchyard/core/testing"
import { redisBroker } from "@switchyard/redis"
import { createServer, type Handlers, type Server } from "@switchyard/server-node"
import { EventSource } from "eventsource"
import { afterAll } from "vitest"
import WebSocket from "ws"
import { borrowPage, givePageBack, pageBundle, pageHtml } from "../chromium.ts"
import { connected, freshStorage, testClientOptions } from "../harnesses.ts"
import { RedisServer } from "../redisServer.ts"
import { RemotePage } from "../remoteClient.ts"
import { TcpProxy } from "../tcpProxy.ts"
import { Nginx } from "./nginx.ts"
import { ClusterNodes } from "./nodes.ts"
import { RoundRobinProxy } from "./roundRobin.ts"

type Transport = "websocket" | "sse" | "long-polling" | "polling"

/** What {@link fileCluster} runs. */
export interface FileClusterOptions {
  /** How many node processes. Default 3. */
  readonly nodes?: number
  /** What deals the requests to the nodes: the round-robin proxy (default) or nginx. */
  readonly balancer?: "round-robin" | "nginx"
  /** The nodes also serve the Chromium test page, so that the page and the endpoint share an origin. */
  readonly page?: boolean
}

/** A cluster started for one set of server limits: a redis-server, the nodes, and nginx if asked. */
interface Bed {
  readonly nodes: ClusterNodes
  /** A server of the cluster in this process with no clients, where the suite's server-side publishes happen. */
  readonly publisher: Server<TestContract>
  /** Where the clients' front (a round-robin proxy or a TCP proxy) sends what it takes. */
  readonly ports: readonly number[]
  dispose(): Promise<void>
}

/**
 * One cluster on Redis for every suite of a test file: N node processes with `redisBroker({ url })` on a
 * real redis-server, behind a balancer with no affinity, started on first use and killed after the
 * file's last test. Nodes cost a process start each, so tests share them, and each test starts clean: a
 * front of its own (a round-robin proxy, or a TCP proxy before the shared nginx, so that `drop()` and
 * `stall()` reach only its connections, and a page gets an origin of its own), the nodes' aborted tags
 * forgotten; its close waits until no node holds a session of it any more. A test that tightens the
 * server limits (the heartbeat test) gets a second cluster, shared the same way.
 *
 * @example
 * const cluster = fileCluster({ nodes: 3 })
 * runTransportContractSuite("sse (3 nodes on Redis)", cluster.harness("sse"))
 */
export function fileCluster(options: FileClusterOptions = {}): {
  harness(transport: Transport, client?: "node" | "chromium"): SuiteHarness
} {
  const beds = new Map<string, Promise<Bed>>()
  let site: Promise<string> | undefined
  afterAll(async () => {
    const started = await Promise.allSettled(beds.values())
    beds.clear()
    for (const bed of started) if (bed.status === "fulfilled") await bed.value.dispose()
    if (site) await rm(await site, { recursive: true, force: true })
  })

  const bed = (limits: SuiteSetup["serverLimits"] = {}): Promise<Bed> => {
    const id = JSON.stringify(limits)
    let started = beds.get(id)
    if (!started) {
      if (options.page) site ??= writeSite()
      started = startBed(options, limits, site)
      beds.set(id, started)
    }
    return started
  }

  return {
    harness: (transport, client = "node") => ({
      transport,
      async setup(setup) {
        const { nodes, ports, publisher } = await bed(setup.serverLimits)
        await Promise.all(nodes.nodes.map((n) => n.reset()))
        const front = await (options.balancer === "nginx"
          ? TcpProxy.start(ports[0] as number)
          : RoundRobinProxy.start(ports))
        const cleanup: Array<() => Promise<void>> = [() => front[Symbol.asyncDispose]()]
        const close = async () => {
          for (const step of cleanup.splice(0).reverse()) await step()
        }
        try {
          const origin = `http://127.0.0.1:${front.port}`
          const barrier = new PublishBarrier(front)
          const make =
            client === "node" ? nodeClients(transport, origin) : await pageClients(transport, origin, cleanup)
          const clients: Client<TestContract>[] = []
          const state = {
            aborted: { has: (tag: string) => nodes.nodes.some((n) => n.aborted.has(tag)) },
          } as unknown as TestServerState
          const add = () => {
            const made = make()
            clients.push(made)
            return connected(made)
          }
          return {
            client: await add(),
            createClient: add,
            publish: (topic, key, message) => barrier.publish(publisher.topics[topic](key).publish(message as never)),
            subscribers: (topic, key) => nodes.nodes.reduce((sum, n) => sum + n.subscribers(topic, key), 0),
            state,
            drop: async () => front.drop(),
            stall: async (on) => barrier.stall(on),
            close: async () => {
              try {
                await Promise.all(clients.map((c) => c.close()))
                // The next test starts with no session of this one left on any node. A client's BYE may be
                // lost (the client does not wait for it), and then its session ends with the resume window:
                // only a session that outlives that is a leak.
                await sessionsEnded(nodes, clusterLimits.resumeWindowMs + 2000)
                barrier.check()
              } finally {
                await close()
              }
            },
          }
        } catch (error) {
          await close()
          throw error
        }
      },
    }),
  }
}

/**
 * The server limits of every cluster, beside what a test tightens: a resume window as the other
 * harnesses have, and a topic history that holds what the suite publishes to a key in one test (300
 * messages in 150 ms). A session that moves to another node is renewed from the history: what is
 * published while it moves must still be there, and a move under the load of the whole suite (CPU
 * shared with Chromium and the other files) was measured at up to 330 ms, 600 publications at the
 * suite's rate, more than the default 100 (docs/scaling.md#take-over).
 */
const clusterLimits = { resumeWindowMs: 10_000, topicHistorySize: 1000 }

async function startBed(
  options: FileClusterOptions,
  limits: NonNullable<SuiteSetup["serverLimits"]>,
  site: Promise<string> | undefined,
): Promise<Bed> {
  const steps: Array<() => Promise<void>> = []
  const dispose = async () => {
    for (const step of steps.splice(0).reverse()) await step()
  }
  try {
    const redis = await RedisServer.start()
    steps.push(() => redis[Symbol.asyncDispose]())
    const siteDir = site ? await site : undefined
    const nodes = await ClusterNodes.start(options.nodes ?? 3, {
      redisUrl: redis.url,
      limits: { ...limits, ...clusterLimits },
      ...(siteDir === undefined ? {} : { siteDir }),
    })
    steps.push(() => nodes[Symbol.asyncDispose]())
    const publisher = createServer(
      TestContract,
      testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>,
      {
        broker: redisBroker({ url: redis.url }),
        limits: clusterLimits,
        onError: () => {},
      },
    )
    steps.push(() => publisher.close())
    if (options.balancer !== "nginx") return { nodes, publisher, ports: nodes.ports, dispose }
    const nginx = await Nginx.start(nodes.ports)
    steps.push(() => nginx[Symbol.asyncDispose]())
    return { nodes, publisher, ports: [nginx.port], dispose }
  } catch (error) {
    await dispose()
    throw error
  }
}

/** Waits until no node holds a session; fails with the counts after `timeoutMs`. */
async function sessionsEnded(nodes: ClusterNodes, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const counts = await Promise.all(nodes.nodes.map((n) => n.sessions()))
    if (counts.every((n) => n === 0)) return
    if (Date.now() > deadline)
      throw new Error(`sessions still held ${timeoutMs} ms after their clients closed: ${counts}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Clients in this process, through the front. */
function nodeClients(transport: Transport, origin: string): () => Client<TestContract> {
  return () =>
    createClient(TestContract, {
      url: `${origin}/switchyard`,
      transports: [transport],
      WebSocket,
      EventSource,
      negotiation: { storage: freshStorage() },
      ...testClientOptions,
    })
}

/** Clients in a Chromium page loaded from the nodes through the front; the page closes at cleanup. */
async function pageClients(
  transport: Transport,
  origin: string,
  cleanup: Array<() => Promise<void>>,
): Promise<() => Client<TestContract>> {
  const page = await borrowPage()
  cleanup.push(() => givePageBack(page))
  const remote = await RemotePage.open(page, `${origin}/`, { pooled: true })
  cleanup.push(async () => {
    await remote.close()
    if (remote.defects.length > 0) throw new AggregateError(remote.defects, "the Chromium harness failed")
  })
  return () =>
    remote.createClient(TestContract, `${origin}/switchyard`, { ...testClientOptions, transports: [transport] })
}

/** The test page and its bundle in a temporary folder, for the nodes to serve. */
async function writeSite(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-page-"))
  await writeFile(join(dir, "index.html"), pageHtml)
  await writeFile(join(dir, "client.js"), await pageBundle())
  return dir
}

/**
 * The suite's server-side publish returns nothing and expects to come before whatever the test does
 * next (a client's publish, an RPC), as on one node, where the broker takes it before `publish` returns.
 * In a cluster the broker takes it a Redis round trip later, so the front holds every byte between the
 * clients and the nodes until the publishes made so far are taken: what the clients send after a
 * publish reaches the nodes after it. A test's own `stall()` holds the front as well.
 */
class PublishBarrier {
  private pending = 0
  private stalled = false
  private readonly failures: unknown[] = []

  constructor(private readonly front: { stall(on: boolean): void }) {}

  publish(taken: Promise<void>): void {
    if (this.pending++ === 0) this.front.stall(true)
    taken
      .catch((error: unknown) => void this.failures.push(error))
      .finally(() => {
        if (--this.pending === 0 && !this.stalled) this.front.stall(false)
      })
  }

  stall(on: boolean): void {
    this.stalled = on
    this.front.stall(on || this.pending > 0)
  }

  /** Throws if a server-side publish failed. */
  check(): void {
    if (this.failures.length > 0) throw new AggregateError(this.failures, "a server-side publish failed")
  }
}
