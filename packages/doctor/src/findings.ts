import type { TransportId } from "@switchyard/core"
import type { LinkProbe, ProbeTimings } from "./probe.ts"

/** What became of one transport. */
export type Verdict = "works" | "refused" | "held" | "buffered" | "cut" | "failed" | "not offered" | "not tried here"

/** Something the doctor detected, with the section of docs/doctor.md that explains it and its fix. */
export type FindingKind =
  | "websocket-refused"
  | "websocket-silent"
  | "stream-held"
  | "stream-buffered"
  | "held-cut"
  | "origin-refused"
  | "transport-failed"
  | "webrtc-failed"
  | "server-not-reached"

/** The anchor in docs/doctor.md of each kind. */
export const findingAnchors: Readonly<Record<FindingKind, string>> = {
  "websocket-refused": "websocket-upgrade-refused",
  "websocket-silent": "websocket-opened-but-silent",
  "stream-held": "event-stream-held",
  "stream-buffered": "event-stream-buffered",
  "held-cut": "held-requests-cut",
  "origin-refused": "origin-refused",
  "transport-failed": "transport-failed",
  "webrtc-failed": "webrtc-not-connected",
  "server-not-reached": "server-not-reached",
}

/** One thing the doctor noticed on the way to the server, with the transport it concerns. */
export interface Finding {
  readonly kind: FindingKind
  readonly transport: TransportId | undefined
  /** One sentence: what was seen. */
  readonly message: string
}

/** One transport's line in the report. */
export interface TransportRow {
  readonly id: TransportId
  readonly verdict: Verdict
  /** ms from opening the link to its first echo (setup and one round trip). */
  readonly firstEchoMs: number | undefined
  /** The median of the later probes' round trips. */
  readonly roundTripMs: number | undefined
  readonly roundTripsMs: readonly number[]
  /** What was seen, in a few words ("HTTP 426", "nothing arrived in 5000 ms"). */
  readonly detail: string
}

/** The HTTP status a failed link reported, from its close reason or the platform's error. */
export function statusOf(probe: LinkProbe): number | undefined {
  const text = `${probe.ended?.reason ?? ""} ${probe.error ?? ""}`
  const match = /(?:HTTP |response: )(\d{3})\b/.exec(text)
  return match ? Number(match[1]) : undefined
}

const median = (values: readonly number[]): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

const round = (ms: number) => Math.round(ms)
const streaming = (id: TransportId) => id === "websocket" || id === "sse"

/**
 * Judges each probe. `reference` is the median round trip of a transport that answers every request
 * at once (long polling), against which an event stream is judged late; `anyHttpWorks` says that plain
 * requests reach the server, so that an event stream that brings nothing is held on the way, not down.
 */
export function judge(
  probe: LinkProbe,
  timings: ProbeTimings,
  reference: number | undefined,
  anyHttpWorks: boolean,
): { readonly row: TransportRow; readonly finding: Finding | undefined } {
  const roundTripsMs = probe.roundTripsMs.filter((ms): ms is number => ms !== undefined).map(round)
  const base = {
    id: probe.id,
    firstEchoMs: probe.firstEchoMs === undefined ? undefined : round(probe.firstEchoMs),
    roundTripMs: median(roundTripsMs),
    roundTripsMs,
  }
  const row = (verdict: Verdict, detail: string, kind?: FindingKind, message?: string) => ({
    row: { ...base, verdict, detail },
    finding: kind === undefined ? undefined : { kind, transport: probe.id, message: message ?? detail },
  })
  const status = statusOf(probe)
  const said =
    status !== undefined ? `HTTP ${status}` : probe.ended?.reason || probe.error || `code ${probe.ended?.code}`

  if (probe.firstEchoMs === undefined) {
    if (probe.ended !== undefined) {
      if (status === 403)
        return row(
          "refused",
          "HTTP 403",
          "origin-refused",
          `${probe.id}: the server refused this page's Origin (HTTP 403)`,
        )
      if (probe.id === "websocket" && !probe.opened)
        return row(
          "refused",
          status === undefined ? "upgrade refused" : `upgrade refused, HTTP ${status}`,
          "websocket-refused",
          status === 426
            ? "WebSocket: the upgrade reached the server as a plain request (HTTP 426): something on the way drops the Upgrade header"
            : `WebSocket: the upgrade was refused (${status === undefined ? (probe.error ?? "a browser does not tell the status") : `HTTP ${status}`})`,
        )
      return row("failed", `ended after ${round(probe.ended.atMs)} ms: ${said}`, "transport-failed")
    }
    const nothing = `nothing came back in ${timings.timeoutMs} ms`
    if (probe.id === "websocket")
      return probe.opened
        ? row("failed", `opened, but ${nothing}`, "websocket-silent", `WebSocket: the upgrade passed but ${nothing}`)
        : row("failed", `no answer to the upgrade in ${timings.timeoutMs} ms`, "websocket-refused")
    if (probe.id === "sse" && anyHttpWorks)
      return row(
        "held",
        `no event in ${timings.timeoutMs} ms`,
        "stream-held",
        `SSE: plain requests pass, but no event of the stream arrived in ${timings.timeoutMs} ms: something on the way buffers the event stream and holds it back`,
      )
    return row("failed", nothing, "transport-failed", `${probe.id}: ${nothing}`)
  }

  if (probe.ended !== undefined && probe.ended.atMs < timings.holdMs)
    return row(
      "cut",
      `link ended after ${round(probe.ended.atMs)} ms: ${said}`,
      "held-cut",
      `${probe.id}: the link was cut ${round(probe.ended.atMs)} ms after it opened, while a request was held (${status === undefined ? said : `answered HTTP ${status}${status === 504 ? ", a gateway's timeout" : ""}`})`,
    )

  if (streaming(probe.id)) {
    const late = lateBy(probe, reference)
    if (late !== undefined)
      return row(
        "buffered",
        late,
        "stream-buffered",
        `${probe.id === "sse" ? "SSE" : "WebSocket"}: frames arrive ${late}: something on the way buffers the stream`,
      )
  }
  const missing = probe.roundTripsMs.filter((ms) => ms === undefined).length
  if (missing > 0) return row("failed", `${missing} of 4 probes not echoed`, "transport-failed")
  return row("works", "")
}

/**
 * Why an echoed stream counts as buffered, or `undefined`: its echoes came together although they were
 * sent `spacingMs` apart (held, then released at once), or its round trip is far above the reference.
 */
function lateBy(probe: LinkProbe, reference: number | undefined): string | undefined {
  const [first, , last] = probe.echoesAtMs
  const sentSpan = (probe.sentAtMs[2] ?? 0) - (probe.sentAtMs[0] ?? 0)
  const firstTrip = probe.roundTripsMs[0]
  if (
    first !== undefined &&
    last !== undefined &&
    firstTrip !== undefined &&
    sentSpan > 0 &&
    last - first < sentSpan / 4 &&
    firstTrip >= (sentSpan * 3) / 4 &&
    // A stall of a busy server delays every transport's echoes alike: long polling's must not be as late.
    (reference === undefined || firstTrip > reference + sentSpan / 2)
  )
    return `in a batch (3 probes sent over ${round(sentSpan)} ms came back within ${round(last - first)} ms)`
  const trips = probe.roundTripsMs.filter((ms): ms is number => ms !== undefined)
  const trip = median(trips)
  if (reference !== undefined && trip !== undefined && trip > Math.max(4 * reference, reference + 500))
    return `late (round trip ${round(trip)} ms, long polling ${round(reference)} ms)`
  return undefined
}
