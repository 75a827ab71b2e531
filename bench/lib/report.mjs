// The table printed at the end of a run.
import { summarize } from "./stats.mjs"

const metrics = [
  { key: "p50", title: "p50 µs", digits: 1 },
  { key: "p99", title: "p99 µs", digits: 1 },
  { key: "cpu", title: "server CPU µs/call", digits: 2 },
]

const fmt = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : "–")
const range = (s, digits) => (s.count > 1 ? ` (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : "")
/** A summary as `median (min–max)`, `unit` after the median. */
const cell = (s, digits, unit = "") => (s.count ? `${fmt(s.median, digits)}${unit}${range(s, digits)}` : "–")

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`
  return [line(header), rule, ...rows.map(line)].join("\n")
}

/**
 * `results[systemId]` is one entry per repetition: `{ p50, p99, latencyCalls, cpu, clientCpu, rate, errors }`.
 * Cells are the median over repetitions with min–max in brackets. The ×ws columns divide each repetition's
 * value by raw ws's in the same repetition, and show the median and min–max of those ratios.
 */
export function renderTables(systems, results) {
  const summary = {}
  for (const s of systems) {
    const reps = results[s.id] ?? []
    summary[s.id] = Object.fromEntries(
      ["p50", "p99", "cpu", "clientCpu", "rate", "latencyCalls", "loadCalls"].map((k) => [
        k,
        summarize(reps.map((r) => r[k])),
      ]),
    )
    for (const m of metrics) {
      const ratios = reps.map((r, i) => r[m.key] / results.ws?.[i]?.[m.key])
      summary[s.id][`${m.key}Ratio`] = summarize(ratios)
    }
    summary[s.id].errors = reps.reduce((sum, r) => sum + (r.errors ?? 0), 0)
    summary[s.id].failed = reps.filter((r) => r.failed).length
  }

  const main = table(
    ["system", ...metrics.map((m) => m.title), "p50 ×ws", "p99 ×ws", "CPU ×ws"],
    systems.map((s) => [
      s.id,
      ...metrics.map((m) => cell(summary[s.id][m.key], m.digits)),
      ...metrics.map((m) => cell(summary[s.id][`${m.key}Ratio`], 2, "×")),
    ]),
  )
  const extra = table(
    ["system", "sequential calls timed", "pipelined calls/s", "load-gen CPU µs/call", "errors", "failed reps"],
    systems.map((s) => {
      const x = summary[s.id]
      return [
        s.id,
        x.latencyCalls.count ? `${fmt(x.latencyCalls.min, 0)}–${fmt(x.latencyCalls.max, 0)}` : "–",
        cell(x.rate, 0),
        cell(x.clientCpu, 2),
        String(x.errors),
        String(x.failed),
      ]
    }),
  )
  return { main, extra, summary }
}
