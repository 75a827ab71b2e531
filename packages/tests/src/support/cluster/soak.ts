import { waitFor } from "@switchyard/core/testing"
import { type FleetClient, fleetClient, modes, table, within } from "../fleet.ts"
import { RedisServer } from "../redisServer.ts"
import { Nginx } from "./nginx.ts"
import { type ClusterNode, ClusterNodes, redisBrokerAvailable } from "./nodes.ts"
import { RoundRobinProxy } from "./roundRobin.ts"

/**
 * The rolling-restart and SIGKILL scenarios of issue 11, as a long run rather than a test (run by
 * scripts/cluster-soak.mjs, which bundles this file): N nodes as processes on one redis-server, behind a
 * load balancer with no affinity; a fleet of clients on mixed transports, all subscribed to one topic
 * published at a steady rate, all making RPCs one after another. Then each node is restarted gracefully
 * in turn, and one is killed and brought back. For each step it prints what the clients saw: messages
 * lost, duplicated and out of order, RPCs rejected (by code) and run twice, sessions resumed and lost,
 * and how long the clients took to be connected again. Written against the public API: without
 * `@switchyard/redis` in the tree it runs the same steps against ONE node without a broker, where a
 * restart loses every session (today's behaviour), and says so.
 */

export interface SoakOptions {
  readonly clients: number
  readonly nodes: number
  readonly rate: number
  readonly callPauseMs: number
  readonly scenarios: ReadonlyArray<"rolling" | "kill">
  readonly balancer: "proxy" | "nginx"
  /** How long to keep traffic going before and after each step. */
  readonly settleMs: number
  /** The bound on every wait for the clients to be connected again. */
  readonly timeoutMs: number
}

const key = "soak"

interface Mark {
  readonly sessions: number[]
  readonly rejected: number[]
  readonly reconnects: number[]
}

export async function soak(options: SoakOptions): Promise<boolean> {
  const clustered = await redisBrokerAvailable()
  const nodeCount = clustered ? options.nodes : 1
  console.log(
    clustered
      ? `${nodeCount} nodes on one redis-server (@switchyard/redis), behind ${options.balancer}`
      : `@switchyard/redis is not in this tree: ONE node, no broker, behind ${options.balancer}. A restart loses every session, as on a single node today; the numbers are a baseline, not the cluster's.`,
  )
  const stack: AsyncDisposable[] = []
  try {
    const redis = clustered ? await RedisServer.start() : undefined
    if (redis) stack.push(redis)
    const cluster = await ClusterNodes.start(nodeCount, {
      ...(redis ? { redisUrl: redis.url } : {}),
      startTimeoutMs: 30_000,
    })
    stack.push(cluster)
    const balancer =
      options.balancer === "nginx" ? await Nginx.start(cluster.ports) : await RoundRobinProxy.start(cluster.ports)
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
    const rows: Array<Array<string | number>> = []
    const step = async (name: string, act: () => Promise<void>) => {
      await pause(options.settleMs)
      const before = mark(fleet)
      const t0 = Date.now()
      await act()
      const reconnected = await waitFor(
        () => fleet.every((fc) => fc.client.state === "connected"),
        options.timeoutMs,
        "every client connected again",
      ).then(
        () => Date.now() - t0,
        () => Number.NaN,
      )
      await pause(options.settleMs)
      rows.push(row(name, fleet, before, reconnected))
      console.log(`${name}: done (${Date.now() - t0} ms)`)
    }
    for (const scenario of options.scenarios) {
      if (scenario === "rolling") {
        for (const node of cluster.nodes) {
          await step(`graceful restart of node ${node.index}`, async () => {
            const code = await node.stop(options.timeoutMs)
            if (code !== 0) console.log(`node ${node.index} exited with ${code}: ${node.log}`)
            await node.restart()
          })
        }
      } else {
        const node = cluster.nodes[cluster.nodes.length > 1 ? 1 : 0] as ClusterNode
        await step(`SIGKILL of node ${node.index}, then restart`, async () => {
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
    await waitFor(() => fleet.every((fc) => fc.messages.length >= published), 5000, "the last messages").catch(() => {})
    const runs = cluster.runs()
    let twice = 0
    for (const n of runs.values()) if (n > 1) twice++
    const totals = delivery(fleet, published)
    console.log(
      `\n${table([["step", "lost sessions", "resumed", "RPCs rejected", "reconnects", "all connected after ms"], ...rows])}`,
    )
    const calls = fleet.reduce((sum, fc) => sum + fc.calls.started, 0)
    const resolved = fleet.reduce((sum, fc) => sum + fc.calls.resolved, 0)
    const wrong = fleet.reduce((sum, fc) => sum + fc.calls.wrong.length, 0)
    const codes = new Map<string, number>()
    for (const fc of fleet)
      for (const r of fc.calls.rejected) codes.set(r.error.code, (codes.get(r.error.code) ?? 0) + 1)
    console.log(
      `\n${table([
        ["what", "count"],
        ["messages published", published],
        ["messages lost (per client, summed)", totals.lost],
        ["messages duplicated", totals.duplicated],
        ["messages out of order", totals.outOfOrder],
        ["clients that missed any message", totals.clientsMissing],
        ["TOPIC_GAP reported", totals.gaps],
        ["RPCs made", calls],
        ["RPCs resolved right", resolved],
        ["RPCs resolved wrong", wrong],
        ["RPCs run more than once (server side)", twice],
        ["RPCs never settled", hung],
        ...[...codes].map(([code, n]): [string, number] => [`RPCs rejected ${code}`, n]),
      ])}`,
    )
    return clustered ? totals.lost + totals.duplicated + twice + wrong + hung === 0 : true
  } finally {
    for (const resource of stack.reverse()) await Promise.resolve(resource[Symbol.asyncDispose]()).catch(() => {})
  }
}

/** Publishes 1, 2, 3, … on `feed(key)` at `rate` per second, on the running nodes in turn. */
function publishing(nodes: readonly ClusterNode[], rate: number): { stop(): number } {
  let n = 0
  let turn = 0
  const started = Date.now()
  const timer = setInterval(() => {
    // Catch up on the timer's lateness, so that the rate holds under load.
    const due = Math.floor(((Date.now() - started) * rate) / 1000)
    while (n < due) {
      const running = nodes.filter((node) => node.running)
      const node = running[turn++ % Math.max(running.length, 1)]
      if (!node) return
      node.publish("feed", key, ++n)
    }
  }, 5)
  return {
    stop() {
      clearInterval(timer)
      return n
    },
  }
}

function mark(fleet: readonly FleetClient[]): Mark {
  return {
    sessions: fleet.map((fc) => fc.sessions.length),
    rejected: fleet.map((fc) => fc.calls.rejected.length),
    reconnects: fleet.map((fc) => fc.reconnects),
  }
}

function row(name: string, fleet: readonly FleetClient[], before: Mark, reconnectedMs: number): Array<string | number> {
  let lost = 0
  let resumed = 0
  let rejected = 0
  let reconnects = 0
  fleet.forEach((fc, i) => {
    for (const s of fc.sessions.slice(before.sessions[i])) {
      if (s.recovered) resumed++
      else lost++
    }
    rejected += fc.calls.rejected.length - (before.rejected[i] ?? 0)
    reconnects += fc.reconnects - (before.reconnects[i] ?? 0)
  })
  return [name, lost, resumed, rejected, reconnects, Number.isNaN(reconnectedMs) ? "timed out" : reconnectedMs]
}

/** Each client's messages against 1..published: lost, repeated, out of order. */
function delivery(fleet: readonly FleetClient[], published: number) {
  const totals = { lost: 0, duplicated: 0, outOfOrder: 0, clientsMissing: 0, gaps: 0 }
  for (const fc of fleet) {
    const seen = new Set<number>()
    let last = 0
    for (const n of fc.messages) {
      if (seen.has(n)) totals.duplicated++
      else if (n < last) totals.outOfOrder++
      seen.add(n)
      last = Math.max(last, n)
    }
    const lost = published - seen.size
    totals.lost += lost
    if (lost > 0) totals.clientsMissing++
    totals.gaps += fc.errors.filter((e) => e.code === "TOPIC_GAP").length
  }
  return totals
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
