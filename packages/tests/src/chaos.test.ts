import { TestContract, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { describe, expect, it } from "vitest"
import { ChaosProxy } from "./support/chaosProxy.ts"
import {
  countingHandlers,
  type FleetClient,
  firstDeparture,
  fleetClient,
  type Mode,
  modes,
  type Runs,
  seededRandom,
  switchesOf,
  table,
} from "./support/fleet.ts"

/**
 * The chaos run: 50 clients on every transport (and negotiating) behind a proxy that cuts a tenth of its
 * connections every 2 s, under steady topic traffic and RPCs. Every session must survive every cut:
 * every message arrives once and in order, every call resolves once with its answer, no session is lost.
 *
 * `SWITCHYARD_CHAOS_SECONDS` sets the duration (default 20, what CI runs; `pnpm soak` runs its own chaos for 90 s); `SWITCHYARD_CHAOS_SEED` the
 * seed of the cuts.
 */
const seconds = positive(process.env.SWITCHYARD_CHAOS_SECONDS, 20)
const seed = positive(process.env.SWITCHYARD_CHAOS_SEED, 20_240_229)
const clientsPerMode = 10
const messagesPerSecond = 200
const publishEveryMs = 50
const cutEveryMs = 2000
const cutFraction = 0.1
/** Pause between one client's calls: about 15 calls a second per client. */
const callPauseMs = 50
/** Bounds of the waits around the run; the run itself takes `seconds`. */
const setupMs = 20_000
const drainMs = 10_000
const key = "chaos"

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("chaos", () => {
  it(
    `${clientsPerMode * modes.length} clients, ${messagesPerSecond} messages/s and RPCs, ` +
      `${cutFraction * 100}% of connections cut every ${cutEveryMs / 1000} s for ${seconds} s: nothing lost, nothing twice`,
    async () => {
      const runs: Runs = new Map()
      const serverErrors: unknown[] = []
      const server = createServer(TestContract, countingHandlers(runs), {
        // Far longer than any outage the cuts cause: a session may only end if something is wrong.
        limits: { resumeWindowMs: 120_000 },
        onError: (error) => serverErrors.push(error),
      })
      const { port } = await server.listen(0, "127.0.0.1")
      const proxy = await ChaosProxy.start(port)
      const url = `${proxy.url}/switchyard`
      const fleet: FleetClient[] = []
      const timers: Array<ReturnType<typeof setInterval>> = []
      try {
        for (let i = 0; i < clientsPerMode * modes.length; i++) {
          fleet.push(fleetClient(i, modes[i % modes.length] as Mode, { url, key }))
        }
        // Publishing starts once every client is subscribed, so each must see exactly 1..N.
        await waitFor(
          () =>
            server.topics.feed(key).subscribers === fleet.length && fleet.every((c) => c.client.state === "connected"),
          setupMs,
          "every client to connect and subscribe",
        )
        for (const fc of fleet) fc.startCalls(callPauseMs)

        let published = 0
        const started = performance.now()
        // Paced by the clock, not by the timer: a late tick publishes what was due.
        const publish = () => {
          const due = Math.floor(((performance.now() - started) / 1000) * messagesPerSecond)
          while (published < due) server.topics.feed(key).publish(++published)
        }
        timers.push(setInterval(publish, publishEveryMs))
        const random = seededRandom(seed)
        let cuts = 0
        let cutRounds = 0
        timers.push(
          setInterval(() => {
            cuts += proxy.cut(cutFraction, random)
            cutRounds++
          }, cutEveryMs),
        )
        await sleep(seconds * 1000)
        for (const timer of timers.splice(0)) clearInterval(timer)
        publish()
        const publishedForMs = performance.now() - started

        // Stop calling, then let everything in flight arrive; both bounded, and reported rather than thrown
        // so that the summary is printed whatever happened.
        const stopped = await Promise.race([
          Promise.all(fleet.map((fc) => fc.stopCalls())).then(() => true),
          sleep(drainMs).then(() => false),
        ])
        const drained = await waitFor(
          () => fleet.every((fc) => fc.messages.length >= published),
          drainMs,
          "every client to have every message",
        ).then(
          () => true,
          () => false,
        )

        console.log(summary(fleet, { published, publishedForMs, cuts, cutRounds, proxy, server, stopped, drained }))

        // Every client: exactly 1..N in order.
        const departures = fleet.flatMap((fc) => {
          const departure = firstDeparture(fc.messages, published)
          return departure === undefined ? [] : [`client ${fc.index} (${fc.mode}): ${departure}`]
        })
        expect(departures).toEqual([])
        // Every call: settled, resolved with its own answer, run once on the server.
        expect(fleet.filter((fc) => fc.calls.pending !== undefined).map(describeClient)).toEqual([])
        expect(fleet.flatMap((fc) => fc.calls.wrong.map((w) => `client ${fc.index}: ${JSON.stringify(w)}`))).toEqual([])
        expect(
          fleet.flatMap((fc) =>
            fc.calls.rejected.map(
              (r) => `client ${fc.index} (${fc.mode}) call ${r.call}: ${r.error.code} ${r.error.message}`,
            ),
          ),
        ).toEqual([])
        const runAnomalies: string[] = []
        for (const fc of fleet) {
          expect(fc.calls.resolved, `client ${fc.index} (${fc.mode})`).toBe(fc.calls.started)
          for (let call = 0; call < fc.calls.started; call++) {
            const count = runs.get(`${fc.index}:${call}`) ?? 0
            if (count !== 1) runAnomalies.push(`client ${fc.index} call ${call} ran ${count} times`)
          }
        }
        expect(runAnomalies).toEqual([])
        // No session lost: one new session per client (the first), every later one a resume.
        expect(
          fleet
            .filter((fc) => fc.sessions.filter((s) => !s.recovered).length !== 1 || fc.sessions[0]?.recovered !== false)
            .map((fc) => `client ${fc.index} (${fc.mode}): ${JSON.stringify(fc.sessions.map((s) => s.recovered))}`),
        ).toEqual([])
        expect(server.sessionCount).toBe(fleet.length)
        // Cuts are not errors: a client whose sessions all survive has nothing to report (a NOTICE, a
        // protocol violation or a TOPIC_GAP here would each be a bug, even if the run recovered from it).
        expect(
          fleet.flatMap((fc) => fc.errors.map((e) => `client ${fc.index} (${fc.mode}): ${e.code} ${e.message}`)),
        ).toEqual([])
        expect(serverErrors).toEqual([])
        // The run was a chaos run: connections were cut and clients had to come back.
        expect(cuts).toBeGreaterThan(0)
        expect(fleet.reduce((n, fc) => n + fc.reconnects, 0)).toBeGreaterThan(0)
      } finally {
        for (const timer of timers) clearInterval(timer)
        await Promise.all(fleet.map((fc) => fc.client.close()))
        await proxy[Symbol.asyncDispose]()
        await server.close()
      }
    },
    seconds * 1000 + setupMs + 2 * drainMs + 20_000,
  )
})

function describeClient(fc: FleetClient): string {
  return `client ${fc.index} (${fc.mode}) call ${fc.calls.pending} pending, state ${fc.client.state}, on ${fc.client.transport}`
}

interface RunFacts {
  readonly published: number
  readonly publishedForMs: number
  readonly cuts: number
  readonly cutRounds: number
  readonly proxy: ChaosProxy
  readonly server: { readonly sessionCount: number }
  readonly stopped: boolean
  readonly drained: boolean
}

/** The table the run prints: per transport mode, then totals. */
function summary(fleet: readonly FleetClient[], facts: RunFacts): string {
  const header = [
    "mode",
    "clients",
    "deliveries",
    "exact",
    "RPCs",
    "resolved",
    "rejected",
    "reconnects",
    "switches",
    "lost",
    "now on",
  ]
  const row = (label: string, group: readonly FleetClient[]) => {
    const sum = (f: (fc: FleetClient) => number) => group.reduce((n, fc) => n + f(fc), 0)
    const now = new Map<string, number>()
    for (const fc of group) now.set(fc.client.transport ?? "-", (now.get(fc.client.transport ?? "-") ?? 0) + 1)
    return [
      label,
      group.length,
      sum((fc) => fc.messages.length),
      sum((fc) => (firstDeparture(fc.messages, facts.published) === undefined ? 1 : 0)),
      sum((fc) => fc.calls.started),
      sum((fc) => fc.calls.resolved),
      sum((fc) => fc.calls.rejected.length),
      sum((fc) => fc.reconnects),
      sum(switchesOf),
      sum((fc) => fc.sessions.filter((s) => !s.recovered).length - 1),
      [...now].map(([name, n]) => `${name}×${n}`).join(" "),
    ]
  }
  const rows = modes.map((mode) =>
    row(
      mode,
      fleet.filter((fc) => fc.mode === mode),
    ),
  )
  const errorCodes = new Map<string, number>()
  for (const fc of fleet) for (const e of fc.errors) errorCodes.set(e.code, (errorCodes.get(e.code) ?? 0) + 1)
  const reasons = new Map<string, number>()
  for (const fc of fleet)
    for (const t of fc.transports.slice(1)) reasons.set(t.reason, (reasons.get(t.reason) ?? 0) + 1)
  const stats = facts.proxy.stats
  const rate = (facts.published / facts.publishedForMs) * 1000
  return [
    `chaos run: ${seconds} s, seed ${seed}; ${facts.published} messages published (${rate.toFixed(0)}/s); ` +
      `${facts.cuts} connections cut in ${facts.cutRounds} rounds; proxy saw ${stats.requests} requests and ` +
      `${stats.upgrades} upgrades; server holds ${facts.server.sessionCount} sessions` +
      `${facts.stopped ? "" : "; CALLS DID NOT SETTLE"}${facts.drained ? "" : "; MESSAGES DID NOT ALL ARRIVE"}`,
    table([header, ...rows, row("total", fleet)]),
    `handshakes after the first, by reason: ${format(reasons)}; client error events by code: ${format(errorCodes)}`,
  ].join("\n")
}

function format(counts: ReadonlyMap<string, number>): string {
  return counts.size === 0 ? "none" : [...counts].map(([name, n]) => `${name} ${n}`).join(", ")
}

function positive(text: string | undefined, fallback: number): number {
  const value = Number(text)
  return text !== undefined && Number.isFinite(value) && value > 0 ? value : fallback
}
