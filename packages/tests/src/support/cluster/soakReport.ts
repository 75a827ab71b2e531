import { writeFileSync } from "node:fs"
import { type FleetClient, table } from "../fleet.ts"
import type { NodeLoad } from "./nodeMain.ts"

/** What the soak's publisher recorded of each publication n: the node that published it, and the step. */
export interface Publisher {
  readonly origin: readonly number[]
  readonly phaseOf: readonly number[]
  /** The step under way (its index), -1 before the first. */
  phase: number
}

/** What the clients saw during one step (stop or kill, restart, traffic before and after). */
export interface Step {
  readonly name: string
  /** A graceful restart, where nothing may be lost; a SIGKILL may lose what it reports. */
  readonly graceful: boolean
  readonly tally: Tally
  /** How long the node took to stop (or die) and restart. */
  readonly tookMs: number
  /** From the restart until every client was connected; NaN when they were not within the bound. */
  readonly reconnectedMs: number
  /** The load generator's event-loop delay during the step (p99 and max). */
  readonly lagMs: { readonly p99: number; readonly max: number }
  /** The load generator's CPU over the step, in cores (1: one core busy; it has one thread of JavaScript). */
  readonly genCpu: number
  /** Each node's CPU and event-loop delay over the step (a restarted node: since it started). */
  readonly nodes: ReadonlyArray<NodeLoad | undefined>
}

interface Tally {
  readonly lostSessions: number
  readonly resumed: number
  readonly rejected: number
  readonly reconnects: number
  /** How long the step's reconnects took, from "reconnecting" to "connected" (ms). */
  readonly outageMs: { readonly p50: number; readonly p99: number; readonly max: number }
}

interface Mark {
  readonly sessions: number[]
  readonly rejected: number[]
  readonly reconnects: number[]
  readonly outages: number[]
}

export function mark(fleet: readonly FleetClient[]): Mark {
  return {
    sessions: fleet.map((fc) => fc.sessions.length),
    rejected: fleet.map((fc) => fc.calls.rejected.length),
    reconnects: fleet.map((fc) => fc.reconnects),
    outages: fleet.map((fc) => fc.outages.length),
  }
}

/** The sessions lost and resumed, RPCs rejected and reconnects since `before`. */
export function tally(fleet: readonly FleetClient[], before: Mark): Tally {
  let lostSessions = 0
  let resumed = 0
  let rejected = 0
  let reconnects = 0
  const outages: number[] = []
  fleet.forEach((fc, i) => {
    outages.push(...fc.outages.slice(before.outages[i]))
    for (const s of fc.sessions.slice(before.sessions[i])) {
      if (s.recovered) resumed++
      else lostSessions++
    }
    rejected += fc.calls.rejected.length - (before.rejected[i] ?? 0)
    reconnects += fc.reconnects - (before.reconnects[i] ?? 0)
  })
  outages.sort((a, b) => a - b)
  const at = (q: number) => outages[Math.min(outages.length - 1, Math.floor(q * outages.length))] ?? 0
  return { lostSessions, resumed, rejected, reconnects, outageMs: { p50: at(0.5), p99: at(0.99), max: at(1) } }
}

export interface Delivery {
  lost: number
  /** Lost by a client that reported no gap covering them (`TOPIC_GAP` / `onRecover` with `missed`). */
  silent: number
  duplicated: number
  outOfOrder: number
  clientsMissing: number
  gaps: number
  /** Messages lost, by the step in which they were published (index -1: before the first step). */
  readonly lostIn: Map<number, number>
  /** Clients still reconnecting when counted (the run's bound passed), and what they had not been sent yet. */
  away: number
  notYetSent: number
}

/**
 * Each client's messages against what was due (every publication the broker took): lost, repeated, out
 * of order among one node's publications (those of different nodes race one another to the broker), and
 * lost silently: more than the client's gap reports say it missed (a renewal's `onRecover` with `missed`,
 * or a TOPIC_GAP for offsets that jumped), by a client connected at the end; one still reconnecting then
 * has not been sent the rest yet, and is counted apart.
 */
export function delivery(fleet: readonly FleetClient[], due: ReadonlySet<number>, publisher: Publisher): Delivery {
  const totals: Delivery = {
    lost: 0,
    silent: 0,
    duplicated: 0,
    outOfOrder: 0,
    clientsMissing: 0,
    gaps: 0,
    lostIn: new Map(),
    away: 0,
    notYetSent: 0,
  }
  let silentShown = 0
  for (const fc of fleet) {
    const seen = new Set<number>()
    const last = new Map<number, number>()
    for (const n of fc.messages) {
      const from = publisher.origin[n] ?? -1
      if (seen.has(n)) totals.duplicated++
      else if (n < (last.get(from) ?? 0)) totals.outOfOrder++
      seen.add(n)
      last.set(from, Math.max(last.get(from) ?? 0, n))
    }
    let lost = 0
    for (const n of due) {
      if (seen.has(n)) continue
      lost++
      const phase = publisher.phaseOf[n] ?? -1
      totals.lostIn.set(phase, (totals.lostIn.get(phase) ?? 0) + 1)
    }
    totals.lost += lost
    const unreported = Math.max(0, lost - reportedGaps(fc))
    if (fc.client.state !== "connected") {
      totals.away++
      totals.notYetSent += unreported
    } else {
      totals.silent += unreported
      if (unreported > 0 && silentShown++ < 3) {
        const reports = fc.errors.filter((e) => e.code === "TOPIC_GAP").map((e) => e.message)
        console.log(
          `client ${fc.index} (${fc.mode}) lost ${unreported} silently; its gap reports: ${reports.join(" | ")}`,
        )
      }
    }
    if (lost > 0 && totals.clientsMissing++ < 3) {
      console.log(`client ${fc.index} (${fc.mode}) missed ${missing(seen, due)}`)
    }
    totals.gaps += fc.errors.filter((e) => e.code === "TOPIC_GAP").length
  }
  return totals
}

/** How many publications the client's gap reports say it missed (Infinity: a new epoch, any number). */
export function reportedGaps(fc: FleetClient): number {
  // A gap report without `missed` (a new epoch) covers any number.
  let reported = 0
  for (const r of fc.recoveries) if (!r.recovered) reported += r.missed ?? Number.POSITIVE_INFINITY
  // A gap seen live (a session renewed on another node past what the history held: its offsets jump)
  // is reported as TOPIC_GAP only, not to onRecover; its message names the offsets it lacks.
  for (const e of fc.errors) {
    const live = e.code === "TOPIC_GAP" ? LIVE_GAP.exec(e.message) : null
    if (live) reported += Number(live[2]) - Number(live[1]) + 1
  }
  return reported
}

/** The client's TOPIC_GAP for offsets that jumped (client-browser's subscriptions.ts). */
const LIVE_GAP = /publications (\d+) to (\d+) never arrived/

/** Prints the tables; true when the run met the bar of issue 11. */
export function report(
  steps: readonly Step[],
  fleet: readonly FleetClient[],
  totals: Delivery,
  run: { published: number; due: number; twice: number; hung: number },
): boolean {
  const ms = (n: number) => (Number.isNaN(n) ? "timed out" : n)
  console.log(
    `\n${table([
      [
        "step",
        "stop+restart ms",
        "all connected ms after",
        "sessions resumed",
        "lost",
        "RPCs rejected",
        "reconnects",
        "messages lost",
        "reconnect p50/p99/max ms",
        "load-gen lag p99/max ms",
        "load-gen CPU",
        "nodes CPU",
        "nodes lag p99 ms",
      ],
      ...steps.map((s, i) => [
        s.name,
        s.tookMs,
        ms(s.reconnectedMs),
        s.tally.resumed,
        s.tally.lostSessions,
        s.tally.rejected,
        s.tally.reconnects,
        totals.lostIn.get(i) ?? 0,
        [s.tally.outageMs.p50, s.tally.outageMs.p99, s.tally.outageMs.max].map(Math.round).join("/"),
        `${Math.round(s.lagMs.p99)}/${Math.round(s.lagMs.max)}`,
        s.genCpu.toFixed(2),
        s.nodes.map((n) => (n ? n.cpu.toFixed(2) : "-")).join(" "),
        s.nodes.map((n) => (n ? Math.round(n.lagP99Ms) : "-")).join(" "),
      ]),
    ])}`,
  )
  const calls = fleet.reduce((sum, fc) => sum + fc.calls.started, 0)
  const resolved = fleet.reduce((sum, fc) => sum + fc.calls.resolved, 0)
  const wrong = fleet.reduce((sum, fc) => sum + fc.calls.wrong.length, 0)
  const codes = new Map<string, number>()
  for (const fc of fleet) for (const r of fc.calls.rejected) codes.set(r.error.code, (codes.get(r.error.code) ?? 0) + 1)
  console.log(
    `\n${table([
      ["what", "count"],
      ["messages published", run.published],
      ["  never taken by the broker (their node killed first)", run.published - run.due],
      ["messages lost (per client, summed)", totals.lost],
      ["  lost silently (no TOPIC_GAP covering them)", totals.silent],
      ["clients still reconnecting at the end", totals.away],
      ["  what they had not been sent yet, gaps not reported", totals.notYetSent],
      ["messages duplicated", totals.duplicated],
      ["messages out of order", totals.outOfOrder],
      ["clients that missed any message", totals.clientsMissing],
      ["TOPIC_GAP reported", totals.gaps],
      ["RPCs made", calls],
      ["RPCs resolved right", resolved],
      ["RPCs resolved wrong", wrong],
      ["RPCs run more than once (server side)", run.twice],
      ["RPCs never settled", run.hung],
      ...[...codes].map(([code, n]): [string, number] => [`RPCs rejected ${code}`, n]),
    ])}`,
  )
  const failures: string[] = []
  const add = (bad: boolean, what: string) => bad && failures.push(what)
  add(totals.silent > 0, "messages lost silently")
  add(totals.away > 0, "clients not connected again by the end")
  add(totals.duplicated + totals.outOfOrder > 0, "messages duplicated or out of order")
  add(wrong + run.twice + run.hung > 0, "RPCs answered wrong, run twice or never settled")
  steps.forEach((s, i) => {
    if (!s.graceful) return
    const sessions = s.tally.resumed + s.tally.lostSessions
    add((totals.lostIn.get(i) ?? 0) > 0, `${s.name}: messages lost`)
    add(s.tally.rejected > 0, `${s.name}: RPCs rejected`)
    add(sessions > 0 && s.tally.resumed / sessions < 0.99, `${s.name}: fewer than 99% of sessions resumed`)
    add(!(s.reconnectedMs <= 30_000), `${s.name}: not every client connected within 30 s`)
  })
  console.log(failures.length === 0 ? "\nPASS" : `\nFAIL: ${failures.join("; ")}`)
  return failures.length === 0
}

/** The numbers of `due` not in `seen`, as ranges. */
function missing(seen: ReadonlySet<number>, due: ReadonlySet<number>): string {
  const ranges: string[] = []
  const top = Math.max(0, ...due)
  for (let n = 1; n <= top; n++) {
    if (seen.has(n) || !due.has(n)) continue
    let end = n
    while (end < top && !seen.has(end + 1) && due.has(end + 1)) end++
    ranges.push(n === end ? `${n}` : `${n}-${end}`)
    n = end
  }
  return ranges.length > 8 ? `${ranges.slice(0, 8).join(", ")}, … (${ranges.length} ranges)` : ranges.join(", ")
}

/**
 * Writes, for each client that missed any publication, what it saw: its transport and state, what it
 * missed (how many per publishing node, and the first 2,000), every message in arrival order, its sessions,
 * transports, errors and recoveries; with the publisher's `origin` and `phaseOf` of every number.
 */
export function dump(
  file: string,
  fleet: readonly FleetClient[],
  due: ReadonlySet<number>,
  publisher: Publisher,
): void {
  const out: unknown[] = []
  for (const fc of fleet) {
    const seen = new Set(fc.messages)
    const lostBy: Record<string, number> = {}
    const lost: number[] = []
    for (const n of due) {
      if (seen.has(n)) continue
      lost.push(n)
      const from = String(publisher.origin[n])
      lostBy[from] = (lostBy[from] ?? 0) + 1
    }
    if (lost.length === 0) continue
    out.push({
      index: fc.index,
      mode: fc.mode,
      state: fc.client.state,
      lostCount: lost.length,
      lostBy,
      lost: lost.slice(0, 2000),
      messages: fc.messages,
      sessions: fc.sessions,
      transports: fc.transports,
      errors: fc.errors.map((e) => `${e.code}: ${e.message}`),
      recoveries: fc.recoveries,
      reconnects: fc.reconnects,
    })
  }
  writeFileSync(file, JSON.stringify({ origin: publisher.origin, phaseOf: publisher.phaseOf, clients: out }))
}
