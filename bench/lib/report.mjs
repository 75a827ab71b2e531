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
export const cell = (s, digits, unit = "") => (s.count ? `${fmt(s.median, digits)}${unit}${range(s, digits)}` : "–")

export function table(header, rows) {
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
      [
        "p50",
        "p99",
        "cpu",
        "clientCpu",
        "rate",
        "latencyCalls",
        "loadCalls",
        "fanoutRate",
        "fanoutCpu",
        "fanoutClientCpu",
        "fanoutMessages",
      ].map((k) => [k, summarize(reps.map((r) => r[k]))]),
    )
    for (const key of [...metrics.map((m) => m.key), "rate", "fanoutRate", "fanoutCpu"]) {
      summary[s.id][`${key}Ratio`] = ratios(results, s.id, "ws", key)
    }
    summary[s.id].errors = reps.reduce((sum, r) => sum + (r.errors ?? 0), 0)
    summary[s.id].failed = reps.filter((r) => r.failed).length
    summary[s.id].fanoutFailed = reps.filter((r) => r.fanoutFailed).length
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
    [
      "system",
      "sequential calls timed",
      "pipelined calls/s",
      "calls/s ×ws",
      "load-gen CPU µs/call",
      "errors",
      "failed reps",
    ],
    systems.map((s) => {
      const x = summary[s.id]
      return [
        s.id,
        x.latencyCalls.count ? `${fmt(x.latencyCalls.min, 0)}–${fmt(x.latencyCalls.max, 0)}` : "–",
        cell(x.rate, 0),
        cell(x.rateRatio, 2, "×"),
        cell(x.clientCpu, 2),
        String(x.errors),
        String(x.failed),
      ]
    }),
  )
  const fanoutSystems = systems.filter((s) => s.fanout)
  const fanout =
    fanoutSystems.length &&
    table(
      [
        "system",
        "deliveries/s",
        "deliveries/s ×ws",
        "server CPU µs/delivery",
        "CPU ×ws",
        "load-gen CPU µs/delivery",
        "messages measured",
        "failed reps",
      ],
      fanoutSystems.map((s) => {
        const x = summary[s.id]
        return [
          s.id,
          cell(x.fanoutRate, 0),
          cell(x.fanoutRateRatio, 2, "×"),
          cell(x.fanoutCpu, 2),
          cell(x.fanoutCpuRatio, 2, "×"),
          cell(x.fanoutClientCpu, 2),
          x.fanoutMessages.count ? `${fmt(x.fanoutMessages.min, 0)}–${fmt(x.fanoutMessages.max, 0)}` : "–",
          String(x.fanoutFailed),
        ]
      }),
    )
  return { main, extra, fanout: fanout || undefined, summary }
}

/** Per repetition, `results[id][i][key] / results[base][i][key]`, summarised over repetitions. */
function ratios(results, id, base, key) {
  return summarize((results[id] ?? []).map((r, i) => r[key] / results[base]?.[i]?.[key]))
}

/** Pairs of rows compared side by side below the tables: the same library on two transports. */
export const comparisons = [
  { id: "switchyard-webrtc", base: "switchyard", what: "Switchyard, WebRTC data channel ÷ WebSocket" },
  { id: "switchyard-webrtc", base: "datachannel", what: "Switchyard over WebRTC ÷ a bare data channel" },
  { id: "datachannel", base: "ws", what: "bare data channel ÷ bare WebSocket" },
]

const compared = [
  { key: "p50", title: "p50" },
  { key: "p99", title: "p99" },
  { key: "rate", title: "pipelined calls/s" },
  { key: "cpu", title: "server CPU/call" },
]

/**
 * One line per pair of `comparisons` present in the run: for each of p50, p99, pipelined calls/s and
 * server CPU per call, the median over repetitions of `id ÷ base` in the same repetition, with min–max.
 */
export function renderComparisons(results) {
  return comparisons
    .filter((c) => results[c.id] && results[c.base])
    .map((c) => {
      const cells = compared.map(({ key, title }) => {
        const r = summarize((results[c.id] ?? []).map((rep, i) => rep[key] / results[c.base]?.[i]?.[key]))
        return `${title} ${cell(r, 2, "×")}`
      })
      return `${c.what} (${c.id} ÷ ${c.base}, per repetition): ${cells.join(", ")}`
    })
    .join("\n")
}

/** The two goals of issue 3, each as a ratio of per-repetition values with its verdict. */
export const goals = [
  {
    text: "long polling at least 2× Socket.IO polling on messages per second",
    what: "fan-out deliveries/s, switchyard-long-polling ÷ socketio-polling",
    id: "switchyard-long-polling",
    base: "socketio-polling",
    key: "fanoutRate",
    met: (ratio) => ratio >= 2,
    target: "≥ 2×",
  },
  {
    text: "SSE within 2× of our WebSocket on round trip",
    what: "sequential p50, switchyard-sse ÷ switchyard",
    id: "switchyard-sse",
    base: "switchyard",
    key: "p50",
    met: (ratio) => ratio <= 2,
    target: "≤ 2×",
  },
]

/**
 * One line per goal: the median over repetitions of the per-repetition ratio with its min–max, whether
 * that median meets the target, and in how many repetitions the ratio alone met it.
 */
export function renderGoals(summary, results) {
  return goals
    .map((goal) => {
      const head = `goal (issue 3): ${goal.text}: ${goal.what}`
      if (!summary[goal.id] || !summary[goal.base]) return `${head}: not measured (both rows are needed)`
      const perRep = (results[goal.id] ?? []).map((r, i) => r[goal.key] / results[goal.base]?.[i]?.[goal.key])
      const valid = perRep.filter(Number.isFinite)
      if (!valid.length) return `${head}: no valid repetition`
      const r = summarize(valid)
      const verdict = goal.met(r.median) ? "MET" : "NOT MET"
      const reps = `${valid.filter(goal.met).length} of ${valid.length} repetition(s) met it`
      return `${head} = ${cell(r, 2, "×")}; target ${goal.target}: ${verdict} (${reps})`
    })
    .join("\n")
}
