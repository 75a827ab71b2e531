import { waitFor } from "@switchyard/core/testing"
import { ChaosProxy } from "../chaosProxy.ts"
import { type FleetClient, fleetClient, type Mode, modes, seededRandom, switchesOf, table, within } from "../fleet.ts"
import type { ServerProcess } from "./serverProcess.ts"
import { closeFleet } from "./storm.ts"

export interface ChaosFigures {
  readonly events: number
  readonly ok: boolean
}

/**
 * The chaos run: `n` clients on every mode (each transport and negotiating) through a ChaosProxy, calling
 * `add` in a loop and subscribed to a topic, while the proxy misbehaves at random every 0.5–2 s for `ms`
 * (cuts a share of the connections, delays, blocks upgrades, buffers event streams, cuts held requests,
 * stalls); then the proxy behaves again and every client must get everything: no call answered wrong, no
 * message repeated, none lost unless its session was lost, every call that was answered run once.
 */
export async function chaos(server: ServerProcess, n: number, ms: number, seed: number): Promise<ChaosFigures> {
  const random = seededRandom(seed)
  await using proxy = await ChaosProxy.start(server.port)
  const key = "chaos"
  const url = `${proxy.url}/switchyard`
  const fleet: FleetClient[] = Array.from({ length: n }, (_, i) =>
    fleetClient(i + 100_000, modes[i % modes.length] as Mode, { url, key }),
  )
  await waitFor(() => fleet.every((c) => c.client.state === "connected"), 30_000, "the chaos fleet to connect")
  await Promise.all(fleet.map((c) => c.client.rpc.add({ a: -1, b: c.index })))
  // The server's count goes on from the phases before: this run's messages are those after `from`.
  const { published: from } = await server.ask<{ published: number }>({ cmd: "stop" })
  await server.ask({ cmd: "publish", key, rate: 100 })
  for (const c of fleet) c.startCalls(20)
  const events: Record<string, number> = {}
  const end = Date.now() + ms
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 500 + random() * 1500))
    const pick = Math.floor(random() * 6)
    const name = ["cut", "delay", "block upgrades", "buffer streams", "cut held requests", "stall"][pick] as string
    events[name] = (events[name] ?? 0) + 1
    if (pick === 0) proxy.cut(0.1 + random() * 0.5, random)
    else if (pick === 1) proxy.set({ delayMs: Math.round(random() * 80) })
    else if (pick === 2) proxy.set({ blockUpgrades: random() < 0.5 ? "403" : random() < 0.5 ? "reset" : false })
    else if (pick === 3) proxy.set({ bufferStreams: random() < 0.5 })
    else if (pick === 4) proxy.set({ cutHeldAfterMs: random() < 0.5 ? 300 + Math.round(random() * 3000) : undefined })
    else {
      proxy.stall(true)
      await new Promise((resolve) => setTimeout(resolve, 200 + random() * 800))
      proxy.stall(false)
    }
  }
  proxy.set({ delayMs: 0, blockUpgrades: false, bufferStreams: false, cutHeldAfterMs: undefined })
  proxy.stall(false)
  await within(Promise.all(fleet.map((c) => c.stopCalls())), 30_000, "the calls in flight").catch(() => {})
  const { published } = await server.ask<{ published: number }>({ cmd: "stop" })
  await waitFor(() => fleet.every((c) => c.messages.at(-1) === published), 30_000, "every message").catch(() => {})
  const rows = modes.map((mode) => {
    const group = fleet.filter((c) => c.mode === mode)
    const sum = (f: (c: FleetClient) => number) => group.reduce((total, c) => total + f(c), 0)
    return {
      mode,
      clients: group.length,
      resolved: sum((c) => c.calls.resolved),
      wrong: sum((c) => c.calls.wrong.length),
      rejected: sum((c) => c.calls.rejected.length),
      duplicated: sum((c) => c.messages.length - new Set(c.messages).size),
      lost: sum((c) => published - from - new Set(c.messages).size),
      reconnects: sum((c) => c.reconnects),
      lostSessions: sum((c) => c.sessions.filter((s) => !s.recovered).length - 1),
      switches: sum(switchesOf),
    }
  })
  await closeFleet(fleet)
  console.log(
    `\n── chaos: ${n} clients through a misbehaving proxy for ${Math.round(ms / 1000)} s (seed ${seed}); events: ${Object.entries(
      events,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}; ${published - from} messages published\n${table([
      [
        "mode",
        "clients",
        "calls ok",
        "wrong",
        "rejected",
        "msgs lost",
        "duplicated",
        "reconnects",
        "sessions lost",
        "switches",
      ],
      ...rows.map((r) => [
        r.mode,
        r.clients,
        r.resolved,
        r.wrong,
        r.rejected,
        r.lost,
        r.duplicated,
        r.reconnects,
        r.lostSessions,
        r.switches,
      ]),
    ])}`,
  )
  const ok = rows.every((r) => r.wrong === 0 && r.duplicated === 0 && (r.lost === 0 || r.lostSessions > 0))
  return { events: Object.values(events).reduce((a, b) => a + b, 0), ok }
}
