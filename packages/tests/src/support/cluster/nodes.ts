import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { bundleForNode } from "./bundle.ts"
import type { NodeLoad } from "./nodeMain.ts"

/**
 * Switchyard nodes as separate Node processes (nodeMain.ts), for many-node tests and the soak script:
 * start N on 127.0.0.1, stop one gracefully (SIGTERM → `server.close()`), kill one (SIGKILL), restart it
 * on the same port, and reach into each over IPC (publish, subscriber counts, the runs of `add`, aborted
 * handlers).
 */

/** What to start the nodes with. */
export interface NodeOptions {
  /**
   * A Redis URL: each node gets `broker: redisBroker({ url })` from `@switchyard/redis`. Without it each
   * node has no broker option and stands alone (one node, or nodes that share nothing).
   */
  readonly redisUrl?: string
  readonly limits?: {
    readonly heartbeatIntervalMs?: number
    readonly heartbeatTimeoutMs?: number
    readonly topicHistorySize?: number
    readonly resumeWindowMs?: number
  }
  /** A folder with `index.html` and `client.js` each node also serves (at `/`), for a page on the nodes' origin. */
  readonly siteDir?: string
  /** How long a node may take to start listening. Default 20 s. */
  readonly startTimeoutMs?: number
  /** Node's own options for each node process, e.g. `--cpu-prof` (written when the node stops, not when killed). */
  readonly execArgv?: readonly string[]
}

type Topic = "room" | "feed" | "cursor"

/** The folder of nodeMain.ts; the soak script, bundled elsewhere, names it in SWITCHYARD_CLUSTER_DIR. */
const here = process.env.SWITCHYARD_CLUSTER_DIR ?? dirname(fileURLToPath(import.meta.url))

/**
 * The entry of a node's bundle, by broker: the seam where a broker engine plugs in. A new engine is one
 * more line (its package must be a dependency of packages/tests).
 */
const entries = {
  none: `import { main } from "./nodeMain.ts"\nawait main(undefined)\n`,
  redis: `import { main } from "./nodeMain.ts"\nimport { redisBroker } from "@switchyard/redis"\nawait main((url) => redisBroker({ url }))\n`,
} as const

const bundles = new Map<keyof typeof entries, Promise<string>>()

function bundle(kind: keyof typeof entries): Promise<string> {
  let file = bundles.get(kind)
  if (!file) {
    file = bundleForNode(`node-${kind}`, entries[kind], here).catch((error: Error) => {
      bundles.delete(kind)
      throw error
    })
    bundles.set(kind, file)
  }
  return file
}

/** One node process. `port` stays the same across restarts. */
export class ClusterNode {
  private child: ChildProcess | undefined
  /** The process told to stop (SIGTERM) and not exited yet. */
  private stopping: ChildProcess | undefined
  private readonly counts = new Map<string, number>()
  private readonly onExit = () => this.child?.kill("SIGKILL")
  private output = ""
  private readonly batch: Array<{ topic: Topic; key: string; message: unknown }> = []
  private readonly asked = new Map<number, (value: unknown) => void>()
  private asks = 0
  /** Tags of `hang` calls and `ticks` streams whose `ctx.signal` aborted, in any life of this node. */
  readonly aborted = new Set<string>()
  /** The runs of `add` on this node in all its lives, by `"<client>:<call>"` (fleet.ts's countingHandlers). */
  readonly runs = new Map<string, number>()
  /** The messages published here (`publish`) that the broker took, in all this node's lives. */
  readonly published: unknown[] = []
  /** How many times the process ended (stop, kill, crash). */
  exits = 0

  private constructor(
    readonly index: number,
    private readonly script: string,
    private readonly args: readonly string[],
    private readonly options: NodeOptions,
    public port: number,
  ) {}

  static async start(index: number, options: NodeOptions = {}, port = 0): Promise<ClusterNode> {
    const script = await bundle(options.redisUrl === undefined ? "none" : "redis")
    const { limits = {} } = options
    const args = [
      ...(options.redisUrl === undefined ? [] : ["--broker", options.redisUrl]),
      ...(limits.heartbeatIntervalMs === undefined ? [] : ["--heartbeat-interval-ms", `${limits.heartbeatIntervalMs}`]),
      ...(limits.heartbeatTimeoutMs === undefined ? [] : ["--heartbeat-timeout-ms", `${limits.heartbeatTimeoutMs}`]),
      ...(limits.topicHistorySize === undefined ? [] : ["--topic-history-size", `${limits.topicHistorySize}`]),
      ...(limits.resumeWindowMs === undefined ? [] : ["--resume-window-ms", `${limits.resumeWindowMs}`]),
      ...(options.siteDir === undefined ? [] : ["--site", options.siteDir]),
    ]
    const node = new ClusterNode(index, script, args, options, port)
    await node.restart()
    return node
  }

  /** `http://127.0.0.1:<port>/switchyard`, this node's own endpoint (clients usually go through a balancer). */
  get url(): string {
    return `http://127.0.0.1:${this.port}/switchyard`
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  get running(): boolean {
    return this.child !== undefined
  }

  /**
   * Running and not being stopped: what a rolling deploy still sends work to. A node told to stop exits
   * once closed, and what the parent sent it over IPC and it had not read by then is gone.
   */
  get serving(): boolean {
    return this.child !== undefined && this.stopping !== this.child
  }

  /** Starts the process (again, after a stop or a kill) on this node's port; resolves once it listens. */
  async restart(): Promise<void> {
    if (this.child) return
    const child = spawn(
      process.execPath,
      [...(this.options.execArgv ?? []), this.script, "--port", `${this.port}`, ...this.args],
      {
        stdio: ["ignore", "pipe", "pipe", "ipc"],
        serialization: "advanced",
      },
    )
    this.child = child
    child.on("error", () => {})
    process.once("exit", this.onExit)
    this.output = ""
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-4000)
    }
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    type Message = {
      type: string
      tag: string
      topic: Topic
      key: string
      count: number
      keys: string[]
      id: number
      value: unknown
      messages: unknown[]
    }
    child.on("message", (message: Message) => {
      if (message.type === "answer") this.asked.get(message.id)?.(message.value)
      else if (message.type === "aborted") this.aborted.add(message.tag)
      else if (message.type === "ran") for (const key of message.keys) this.runs.set(key, (this.runs.get(key) ?? 0) + 1)
      else if (message.type === "published") this.published.push(...message.messages)
      else if (message.type === "subscribers") this.counts.set(`${message.topic}\0${message.key}`, message.count)
    })
    child.once("exit", () => {
      process.off("exit", this.onExit)
      this.exits++
      if (this.child === child) this.child = undefined
    })
    const listening = new Promise<number>((resolve, reject) => {
      let line = ""
      const read = (chunk: Buffer) => {
        line += chunk.toString()
        const match = /switchyard node listening on (\d+)/.exec(line)
        if (!match) return
        child.stdout?.off("data", read)
        resolve(Number(match[1]))
      }
      child.stdout?.on("data", read)
      child.once("exit", (code, signal) =>
        reject(new Error(`node ${this.index} exited (${signal ?? code}): ${this.output}`)),
      )
    })
    const ms = this.options.startTimeoutMs ?? 20_000
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`node ${this.index} not listening after ${ms} ms: ${this.output}`)), ms)
    })
    try {
      this.port = await Promise.race([listening, late])
    } catch (error) {
      child.kill("SIGKILL")
      throw error
    } finally {
      clearTimeout(timer)
    }
    // A restarted node starts with no subscribers; the keys watched before are watched again.
    for (const id of this.counts.keys()) {
      const [topic, key] = id.split("\0") as [Topic, string]
      this.counts.set(id, 0)
      this.send({ type: "watch", topic, key })
    }
  }

  /** Publishes on this node, as `server.topics[topic](key).publish(message)` there (ordered with other sends). */
  publish(topic: Topic, key: string, message: unknown): void {
    // The publishes of one tick here are published in one tick there (latest-value topics depend on it).
    if (this.batch.push({ topic, key, message }) === 1) {
      queueMicrotask(() => this.send({ type: "publish", batch: this.batch.splice(0) }))
    }
  }

  /** This node's sessions subscribed to a key, as last reported (the first call starts watching it, and says 0). */
  subscribers(topic: Topic, key: string): number {
    const id = `${topic}\0${key}`
    const count = this.counts.get(id)
    if (count !== undefined) return count
    this.counts.set(id, 0)
    this.send({ type: "watch", topic, key })
    return 0
  }

  /**
   * Graceful stop: SIGTERM, which runs `server.close()` in the node; resolves with the exit code once the
   * process has exited, or SIGKILLs it after `timeoutMs` and resolves with `null`.
   */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    const child = this.child
    if (!child) return null
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>
    this.stopping = child
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    const [code] = await exited
    clearTimeout(timer)
    return code
  }

  /** SIGKILL: the node dies at once, with no goodbye to anyone. Resolves once it has exited. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child) return
    const exited = once(child, "exit")
    child.kill("SIGKILL")
    await exited
  }

  /**
   * Forgets the aborted tags, here and in the node, and resolves once the node has: a cluster shared by
   * the tests of a file starts each test with none.
   */
  async reset(): Promise<void> {
    this.aborted.clear()
    await this.ask("reset")
  }

  /** How many sessions the node holds now. */
  sessions(): Promise<number> {
    return this.ask("sessions") as Promise<number>
  }

  /** Its CPU and event-loop delay since the last call (the first: since it started). */
  load(): Promise<NodeLoad> {
    return this.ask("load") as Promise<NodeLoad>
  }

  /**
   * Resolves once every publish handed to this node before the call has settled (the broker took it or
   * refused it) and those taken are in `published`: a node that lags (its event loop starved) may still
   * be working through publishes the soak made seconds ago.
   */
  async settled(timeoutMs: number): Promise<void> {
    await this.ask("settled", timeoutMs)
  }

  private ask(what: "reset" | "sessions" | "load" | "settled", timeoutMs = 5000): Promise<unknown> {
    const id = ++this.asks
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.asked.delete(id)
        reject(new Error(`node ${this.index} did not answer "${what}" within ${timeoutMs} ms: ${this.output}`))
      }, timeoutMs)
      this.asked.set(id, (value) => {
        clearTimeout(timer)
        this.asked.delete(id)
        resolve(value)
      })
      this.send({ type: "ask", id, what })
    })
  }

  /** What the node printed lately (stdout and stderr), for failure messages. */
  get log(): string {
    return this.output
  }

  private send(message: object): void {
    // A node killed a moment ago may still look connected: what it can no longer take is dropped.
    if (this.child?.connected) this.child.send(message, () => {})
  }
}

/**
 * N nodes started together, killed on dispose.
 *
 * @example
 * await using cluster = await ClusterNodes.start(3, { redisUrl: redis.url })
 * await using proxy = await RoundRobinProxy.start(cluster.ports)
 * await cluster.nodes[1]?.stop() // graceful: its sessions should move to the others
 */
export class ClusterNodes implements AsyncDisposable {
  private constructor(readonly nodes: readonly ClusterNode[]) {}

  static async start(count: number, options: NodeOptions = {}): Promise<ClusterNodes> {
    const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => ClusterNode.start(i, options)))
    const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []))
    const failed = started.find((s) => s.status === "rejected")
    if (failed) {
      await Promise.all(nodes.map((n) => n.kill()))
      throw failed.reason
    }
    return new ClusterNodes(nodes)
  }

  get ports(): number[] {
    return this.nodes.map((n) => n.port)
  }

  /** Every node's runs of `add` added up: a key counted more than once ran more than once. */
  runs(): Map<string, number> {
    const all = new Map<string, number>()
    for (const node of this.nodes) for (const [key, n] of node.runs) all.set(key, (all.get(key) ?? 0) + n)
    return all
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()))
  }
}
