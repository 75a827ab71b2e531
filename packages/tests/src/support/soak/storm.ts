import { execFileSync } from "node:child_process"
import { waitFor } from "@switchyard/core/testing"
import WebSocket from "ws"
import { type FleetClient, type FleetOptions, fleetClient, type Mode, table, within } from "../fleet.ts"
import type { ServerProcess } from "./serverProcess.ts"

/** Modes of a fleet of `n`: seven in ten on WebSocket, one in ten on each HTTP transport. */
export function mixedModes(n: number): Mode[] {
  const tenth: Mode[] = [
    "websocket",
    "websocket",
    "websocket",
    "websocket",
    "websocket",
    "websocket",
    "websocket",
    "sse",
    "long-polling",
    "polling",
  ]
  return Array.from({ length: n }, (_, i) => tenth[i % 10] ?? "websocket")
}

/** Each WebSocket client's attempts, and the upgrades refused, by HTTP status (`tracedWebSocket`). */
export class Attempts {
  readonly byClient = new Map<number, number>()
  readonly refused = new Map<number, number>()

  reset(): void {
    this.byClient.clear()
    this.refused.clear()
  }
}

/**
 * `ws` that counts client `index`'s attempts in `attempts`, and the status of each upgrade the server
 * refused: a client that is refused tries again within one `reconnecting` state, which the fleet's
 * reconnect count does not see.
 */
function tracedWebSocket(index: number, attempts: Attempts): NonNullable<FleetOptions["WebSocket"]> {
  return class extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args)
      attempts.byClient.set(index, (attempts.byClient.get(index) ?? 0) + 1)
      this.once("error", (error) => {
        const status = Number(/^Unexpected server response: (\d+)$/.exec(error.message)?.[1])
        if (status) attempts.refused.set(status, (attempts.refused.get(status) ?? 0) + 1)
      })
    }
  }
}

/** Creates the fleet in batches (a burst of thousands of SYNs overflows the accept queue) and waits for it. */
export async function startFleet(
  url: string,
  modes: readonly Mode[],
  key: string,
  attempts = new Attempts(),
): Promise<FleetClient[]> {
  const fleet: FleetClient[] = []
  for (let i = 0; i < modes.length; i += 100) {
    for (const [j, mode] of modes.slice(i, i + 100).entries()) {
      fleet.push(fleetClient(i + j, mode, { url, key, WebSocket: tracedWebSocket(i + j, attempts) }))
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await waitFor(() => fleet.every((c) => c.client.state === "connected"), 60_000, "the fleet to connect")
  // One call each: the SUBSCRIBE sent before it has been handled when it is answered.
  // (`a` = -1: apart from the calls of the clients' own loops, which count from 0, for the count of runs.)
  await Promise.all(fleet.map((c) => c.client.rpc.add({ a: -1, b: c.index })))
  return fleet
}

export async function closeFleet(fleet: readonly FleetClient[]): Promise<void> {
  for (let i = 0; i < fleet.length; i += 200) await Promise.all(fleet.slice(i, i + 200).map((c) => c.client.close()))
}

/** Kills every established TCP connection to or from `port` with `ss -K` (root); false when that failed. */
function ssKill(port: number): boolean {
  try {
    execFileSync("ss", ["-K", "-t", "state", "established", `( sport = :${port} or dport = :${port} )`], {
      stdio: "ignore",
    })
    return true
  } catch {
    return false
  }
}

export interface StormFigures {
  readonly clients: number
  readonly how: string
  readonly backMs: number
  readonly published: number
  readonly lost: number
  readonly duplicated: number
  readonly resumed: number
  readonly newSessions: number
  readonly ok: boolean
}

/**
 * The reconnect storm: `n` clients on mixed transports subscribed to a topic published at `rate`
 * messages/s, every connection cut at once (`ss -K` on both ends, or the server destroying its sockets),
 * then the time until every client has its session back and receives again, and what was lost or repeated.
 */
export async function storm(server: ServerProcess, n: number, rate: number): Promise<StormFigures> {
  const key = "storm"
  const attempts = new Attempts()
  const fleet = await startFleet(server.url, mixedModes(n), key, attempts)
  await server.ask({ cmd: "publish", key, rate })
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const before = fleet.map((c) => c.sessions.length)
  const reconnectsBefore = fleet.map((c) => c.reconnects)
  attempts.reset()
  const started = performance.now()
  let how = "ss -K (both ends, every established connection)"
  if (!ssKill(server.port)) {
    const { cut } = await server.ask<{ cut: number }>({ cmd: "cut" })
    how = `the server destroying its ${cut} sockets (ss -K unavailable)`
  }
  const { published: atCut } = await server.ask<{ published: number }>({ cmd: "stop" })
  await server.ask({ cmd: "publish", key, rate })
  // Back: connected again and receiving what was published after the cut; when, client by client.
  const backAt: Array<number | undefined> = fleet.map(() => undefined)
  await waitFor(
    () => {
      for (const [i, c] of fleet.entries()) {
        if (backAt[i] === undefined && c.client.state === "connected" && (c.messages.at(-1) ?? 0) > atCut) {
          backAt[i] = performance.now() - started
        }
      }
      return backAt.every((at) => at !== undefined)
    },
    60_000,
    "every client back after the cut",
  )
  const backMs = Math.round(performance.now() - started)
  const byMode = [...new Set(fleet.map((c) => c.mode))].map((mode) => {
    const times = fleet
      .filter((c) => c.mode === mode)
      .map((c) => backAt[c.index] ?? 0)
      .sort((a, b) => a - b)
    const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0)
    // Attempts: a client whose handshake timed out under the load tries again, and again.
    const reconnects = fleet.filter((c) => c.mode === mode).map((c) => c.reconnects - (reconnectsBefore[c.index] ?? 0))
    return [mode, times.length, at(0.5), at(0.9), at(1), Math.max(...reconnects)]
  })
  const tries = [...attempts.byClient.values()]
  const refused = [...attempts.refused].map(([status, count]) => `${count} × ${status}`).join(", ") || "none"
  const { published } = await server.ask<{ published: number }>({ cmd: "stop" })
  await within(
    waitFor(() => fleet.every((c) => c.messages.at(-1) === published), 30_000, "every message"),
    31_000,
    "every message",
  ).catch(() => {})
  let lost = 0
  let duplicated = 0
  let resumed = 0
  let newSessions = 0
  for (const [i, c] of fleet.entries()) {
    const distinct = new Set(c.messages)
    duplicated += c.messages.length - distinct.size
    lost += published - distinct.size
    for (const s of c.sessions.slice(before[i])) s.recovered ? resumed++ : newSessions++
  }
  await closeFleet(fleet)
  const figures = { clients: n, how, backMs, published, lost, duplicated, resumed, newSessions }
  console.log(
    `\n── reconnect storm: ${n} clients (${mixedModes(n).filter((m) => m === "websocket").length} WebSocket, the rest SSE, long polling, polling), ${rate} messages/s, cut by ${how}\n${table(
      [
        ["back in (ms)", "messages published", "lost", "duplicated", "sessions resumed", "new sessions"],
        [backMs, published, lost, duplicated, resumed, newSessions],
      ],
    )}\n${table([["transport", "clients", "back p50 (ms)", "p90", "last", "most reconnects of one client"], ...byMode])}\n(SSE links whose stream the EventSource reopened with Last-Event-ID resume without a new handshake.)\nWebSocket attempts after the cut: ${tries.reduce((a, b) => a + b, 0)}, at most ${Math.max(0, ...tries)} by one client; upgrades refused: ${refused}.`,
  )
  return { ...figures, ok: lost === 0 && duplicated === 0 && newSessions === 0 }
}
