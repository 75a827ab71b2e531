import type { DoctorReport } from "./doctor.ts"
import { findingAnchors } from "./findings.ts"

/** Where the findings are explained, on the docs site or in the repository. */
export const doctorDocs = "docs/doctor.md"

const cell = (ms: number | undefined) => (ms === undefined ? "—" : `${ms} ms`)

/**
 * The report as text for a terminal: the table of transports, a bar chart of their round trips, the
 * findings each with the section of docs/doctor.md that says how to fix it, and where a negotiating
 * client here ends.
 */
export function formatReport(report: DoctorReport): string {
  const lines: string[] = [`Switchyard doctor: ${report.url}`]
  if (!report.offer.ok) {
    lines.push(`  the offer could not be read: ${report.offer.reason}`)
  } else {
    lines.push(`  the server offers: ${report.offered.join(", ")} (in its order of preference)`)
  }
  lines.push("")
  const header = ["transport", "result", "first echo", "round trip", "min–max", "what was seen"]
  const table = report.rows.map((row) => [
    row.id,
    row.verdict,
    cell(row.firstEchoMs),
    cell(row.roundTripMs),
    row.roundTripsMs.length === 0 ? "—" : `${Math.min(...row.roundTripsMs)}–${Math.max(...row.roundTripsMs)} ms`,
    row.detail,
  ])
  if (table.length > 0) {
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? "").length)))
    const line = (r: readonly string[]) =>
      `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")}`.trimEnd()
    lines.push(line(header), ...table.map(line), "")
    const timed = report.rows.filter((row) => row.roundTripMs !== undefined)
    if (timed.length > 0) {
      const most = Math.max(...timed.map((row) => row.roundTripMs ?? 0), 1)
      const name = Math.max(...timed.map((row) => row.id.length))
      lines.push("  round trip (median of 3)")
      for (const row of timed) {
        const ms = row.roundTripMs ?? 0
        lines.push(`  ${row.id.padEnd(name)}  ${"█".repeat(Math.max(1, Math.round((ms / most) * 40)))} ${ms} ms`)
      }
      lines.push("")
    }
  }
  if (report.findings.length === 0) lines.push("  Found nothing in the way.")
  else {
    lines.push("  Found:")
    for (const finding of report.findings)
      lines.push(`  - ${finding.message}`, `    fix: ${doctorDocs}#${findingAnchors[finding.kind]}`)
  }
  lines.push("")
  lines.push(
    report.endsOn === undefined
      ? "  No transport works from here: a client cannot connect."
      : `  A client here that negotiates ends on ${report.endsOn}${whyNotHigher(report)}.${report.webrtc ? " Given webrtcTransport(), it moves on to WebRTC." : ""}`,
  )
  lines.push(`  (${report.durationMs} ms)`)
  return `${lines.join("\n")}\n`
}

/** ", since websocket was refused and sse held", for the transports the server prefers to where it ends. */
function whyNotHigher(report: DoctorReport): string {
  const above = report.offered.slice(0, report.offered.indexOf(report.endsOn ?? ""))
  const reasons = above
    .map((id) => report.rows.find((row) => row.id === id))
    .filter((row) => row !== undefined && row.verdict !== "works")
    .map((row) => `${row?.id} ${row?.verdict === "not tried here" ? "was not tried here" : `is ${row?.verdict}`}`)
  return reasons.length === 0 ? "" : `, because ${reasons.join(" and ")}`
}
