import { monitorEventLoopDelay } from "node:perf_hooks"
import { waitFor } from "@switchyard/core/testing"
import { type FleetClient, fleetClient, modes, within } from "../fleet.ts"
import { RedisServer } from "../redisServer.ts"
import { Nginx } from "./nginx.ts"
import { type ClusterNode, ClusterNodes } from "./nodes.ts"
import { ProxyProcess } from "./proxyProcess.ts"
import { RoundRobinProxy } from "./roundRobin.ts"
import { delivery, dump, mark, type Publisher, report, reportedGaps, type Step, tally } from "./soakReport.ts"

/**
 * The rolling-restart and SIGKILL scenarios of issue 11, as a long run rather than a test (run by
 * scripts/cluster-soak.mjs, which bundles this file): N nodes as processes on one redis-server, behind a
 * load balancer with no affinity; a fleet of clients on mixed transports, all subscribed to one topic
 * published at a steady rate, all making RPCs one after another. Then each node is restarted gracefully
 * in turn, and one is killed and brought back. For each step it prints what the clients saw: messages
 * lost, duplicated and out of order, RPCs rejected (by code) and run twice, sessions resumed and lost,
 * and how long the clients took to be connected again. Written against the public API.
 */

export interface SoakOptions {
  readonly clients: number
  readonly nodes: number
  readonly rate: number
  readonly callPauseMs: number
  readonly scenarios: ReadonlyArray<"rolling" | "kill" | "steady">
  /**
   * What stands in front of the nodes: the round-robin proxy in a process of its own, nginx, or the proxy
   * inside the load generator's process (as the soak ran before: the generator's clients and the balancer
   * then share one event loop, which is what a comparison with it measures).
   */
  readonly balancer: "proxy" | "nginx" | "proxy-in-process"
  /** How long to keep traffic going before and after each step. */
  readonly settleMs: number
  /** The bound on every wait for the clients to be connected again. */
  readonly timeoutMs: number
  /**
   * Each node's `topicHistorySize`: what a session that moves can be replayed of what it missed during the
   * move (docs/scaling.md: the busiest key's rate times the longest move expected).
   */
  readonly history: number
  /** A folder for a CPU profile of each node process (`--cpu-prof`), written as each life of a node ends. */
  readonly cpuProfDir?: string
  /** A JSON file for what each client that missed anything saw (`dump` in soakReport.ts), to trace a loss. */
  readonly dumpFile?: string
}

const key = "soak"

export async function soak(options: SoakOptions): Promise<boolean> {
  const nodeCount = options.nodes
  console.log(
    `${nodeCount} nodes on one redis-server (@switchyard/redis), behind ${options.balancer}, topicHistorySize ${options.history}`,
  )
  const stack: AsyncDisposable[] = []
  try {
    const redis = await RedisServer.start()
    stack.push(redis)
    const cluster = await ClusterNodes.start(nodeCount, {
      redisUrl: redis.url,
      startTimeoutMs: 30_000,
      limits: { topicHistorySize: options.history },
      execArgv: profile(options.cpuProfDir),
    })
    stack.push(cluster)
    const balancer =
      options.balancer === "nginx"
        ? await Nginx.start(cluster.ports)
        : options.balancer === "proxy-in-process"
          ? await RoundRobinProxy.start(cluster.ports)
          : await ProxyProcess.start(cluster.ports, profile(options.cpuProfDir))
    stack.push(balancer)
    const url = `${balancer.url}/switchyard`

    const started = Date.now()
    const fleet: FleetClient[] = []
    for (let i = 0; i < options.clients; i++) {
      fleet.push(fleetClient(i, modes[i % modes.length] ?? "websocket", { url, key, connectTimeoutMs: 5000 }))
      // A few at a time, so that a thousand handshakes do not all race one another's timeouts.
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    stack.push({ [Symbol.asyncDispose]: async () => void (await Promise.all(fleet.map((fc) => fc.client.close()))) })
    const subscribed = () => cluster.nodes.reduce((sum, n) => sum + n.subscribers("feed", key), 0)
    await waitFor(
      () => fleet.every((fc) => fc.client.state === "connected") && subscribed() === options.clients,
      options.timeoutMs,
      `${options.clients} clients connected and subscribed`,
    )
    console.log(`${options.clients} clients connected and subscribed in ${Date.now() - started} ms`)

    const publisher = publishing(cluster.nodes, options.rate)
    for (const fc of fleet) fc.startCalls(options.callPauseMs)
    const steps: Step[] = []
    const step = async (name: string, graceful: boolean, act: () => Promise<void>) => {
      // What is published from here to the next step is this step's.
      publisher.phase = steps.length
      await pause(options.settleMs)
      const before = mark(fleet)
      // The load generator's own event-loop delay: when it lags, its clients miss heartbeats on their own.
      const lag = monitorEventLoopDelay({ resolution: 10 })
      lag.enable()
      // Each node's CPU and event-loop delay, and the load generator's CPU, over the step.
      await Promise.all(cluster.nodes.map((node) => node.running && node.load().catch(() => undefined)))
      const genCpu = process.cpuUsage()
      const t0 = Date.now()
      await act()
      const restarted = Date.now()
      const reconnected = await waitFor(
        () => fleet.every((fc) => fc.client.state === "connected"),
        options.timeoutMs,
        "every client connected again",
      ).then(
        () => Date.now() - restarted,
        () => {
          const states = new Map<string, number>()
          for (const fc of fleet) {
            const state = `${fc.mode} ${fc.client.state}`
            states.set(state, (states.get(state) ?? 0) + 1)
          }
          console.log(
            `${name}: not every client connected again: ${[...states].map(([s, n]) => `${n} ${s}`).join(", ")}`,
          )
          const stuck = fleet.find((fc) => fc.client.state !== "connected")
          const last = stuck?.errors.slice(-3).map((e) => `${e.code}: ${e.message}`)
          if (stuck) console.log(`client ${stuck.index}'s last errors: ${last?.join(" | ")}`)
          return Number.NaN
        },
      )
      await pause(options.settleMs)
      lag.disable()
      const lagMs = { p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 }
      const used = process.cpuUsage(genCpu)
      const nodes = await Promise.all(cluster.nodes.map((node) => node.load().catch(() => undefined)))
      steps.push({
        name,
        graceful,
        tally: tally(fleet, before),
        tookMs: restarted - t0,
        reconnectedMs: reconnected,
        lagMs,
        genCpu: (used.user + used.system) / 1000 / (Date.now() - t0),
        nodes,
      })
      console.log(`${name}: done (${Date.now() - t0} ms)`)
    }
    for (const scenario of options.scenarios) {
      if (scenario === "rolling") {
        for (const node of cluster.nodes) {
          await step(`graceful restart of node ${node.index}`, true, async () => {
            const code = await node.stop(options.timeoutMs)
            if (code !== 0) console.log(`node ${node.index} exited with ${code}: ${node.log}`)
            await node.restart()
          })
        }
      } else if (scenario === "steady") {
        // No restart: traffic only, for SOAK_SETTLE_MS on either side of a pause of the same length.
        await step("steady traffic", true, () => pause(options.settleMs))
      } else {
        const node = cluster.nodes[cluster.nodes.length > 1 ? 1 : 0] as ClusterNode
        await step(`SIGKILL of node ${node.index}, then restart`, false, async () => {
          await node.kill()
          await pause(options.settleMs)
          await node.restart()
        })
      }
    }

    // The end: no more publishing or calls; let every client catch up, then count.
    const published = publisher.stop()
    // A call that never settles is a finding, not a reason to hang: it is counted below.
    await within(Promise.all(fleet.map((fc) => fc.stopCalls())), options.timeoutMs, "the calls in flight").catch(
      () => {},
    )
    const hung = fleet.filter((fc) => fc.calls.pending !== undefined).length
    // Every publish handed to a node has settled there, taken by the broker or refused: a node whose
    // event loop is starved may be seconds behind, still publishing what the soak handed it long ago, and
    // its clients not sent it yet. Counted before, those showed as lost (silently: nothing was missed).
    const settledBy = Date.now() + options.timeoutMs
    await Promise.all(
      cluster.nodes.map((node) =>
        node.running ? node.settled(Math.max(1, settledBy - Date.now())).catch(() => {}) : undefined,
      ),
    )
    // A publication counts once the broker took it (its node said so) or any client got it: what a node
    // killed with SIGKILL had been handed but never passed on was never published.
    const due = new Set<number>()
    for (const node of cluster.nodes) for (const n of node.published) due.add(n as number)
    // Every client connected again and given every publication due (or told of a gap covering what it
    // lacks), within the bound: what a client still reconnecting has not been sent yet is not lost (it is
    // counted apart), so that only a connected client can lose silently.
    const caughtUp = new Set<FleetClient>()
    const hasAll = (fc: FleetClient) => {
      if (caughtUp.has(fc)) return true
      const reported = reportedGaps(fc)
      if (fc.client.state !== "connected" || fc.messages.length + reported < due.size) return false
      const seen = new Set(fc.messages)
      let missing = 0
      for (const n of due) if (!seen.has(n)) missing++
      if (missing > reported) return false
      caughtUp.add(fc)
      return true
    }
    await waitFor(() => fleet.every(hasAll), options.timeoutMs, "the last messages").catch(() => {})
    for (const fc of fleet) for (const n of fc.messages) due.add(n)
    // A session held by two nodes at once (a take-over both sides thought theirs) shows as more sessions than clients.
    const held = await Promise.all(cluster.nodes.map((node) => (node.running ? node.sessions().catch(() => -1) : 0)))
    console.log(`sessions held by the nodes at the end: ${held.join(" + ")} (${options.clients} clients)`)
    const runs = cluster.runs()
    let twice = 0
    for (const [call, n] of runs) {
      if (n <= 1) continue
      // Which nodes ran it, and the client's transport and sessions: where to start tracing it.
      if (twice++ < 5) {
        const where = cluster.nodes.flatMap((node) =>
          node.runs.has(call) ? [`node ${node.index} ×${node.runs.get(call)}`] : [],
        )
        const fc = fleet[Number(call.split(":")[0])]
        console.log(
          `call ${call} (client:call) ran ${n} times: ${where.join(", ")}; client on ${fc?.mode}, sessions ${fc?.sessions.map((s) => s.id).join(" ")}`,
        )
      }
    }
    const totals = delivery(fleet, due, publisher)
    if (options.dumpFile !== undefined) dump(options.dumpFile, fleet, due, publisher)
    // A profile is written when its process exits by itself: stop the nodes rather than kill them.
    if (options.cpuProfDir !== undefined) await Promise.all(cluster.nodes.map((node) => node.stop(options.timeoutMs)))
    return report(steps, fleet, totals, { published, due: due.size, twice, hung })
  } finally {
    for (const resource of stack.reverse()) await Promise.resolve(resource[Symbol.asyncDispose]()).catch(() => {})
  }
}

/**
 * Publishes 1, 2, 3, … on `feed(key)` at `rate` per second, on the serving nodes in turn (not on one
 * being stopped, as a deploy stops sending work to a node it drains). `origin[n]` is
 * the node that published n: publications of different nodes race one another to the broker, so order
 * is only promised among those of one node (the broker gives each key one order for every subscriber).
 */
function publishing(nodes: readonly ClusterNode[], rate: number): Publisher & { stop(): number } {
  const origin: number[] = []
  const phaseOf: number[] = []
  let n = 0
  let turn = 0
  const started = Date.now()
  const timer = setInterval(() => {
    // Catch up on the timer's lateness, so that the rate holds under load.
    const due = Math.floor(((Date.now() - started) * rate) / 1000)
    while (n < due) {
      const running = nodes.filter((node) => node.serving)
      const node = running[turn++ % Math.max(running.length, 1)]
      if (!node) return
      origin[++n] = node.index
      phaseOf[n] = publisher.phase
      node.publish("feed", key, n)
    }
  }, 5)
  const publisher = {
    origin,
    phaseOf,
    phase: -1,
    stop() {
      clearInterval(timer)
      return n
    },
  }
  return publisher
}

/** Node's options to write a CPU profile into `dir` when the process ends (none without a folder). */
function profile(dir: string | undefined): string[] {
  return dir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`]
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
