import type { FetchLike } from "@switchyard/client-browser"
import type { ClientTransport, TransportId } from "@switchyard/core"
import { type Finding, judge, type TransportRow } from "./findings.ts"
import { type OfferResult, readOffer } from "./offer.ts"
import { type LinkProbe, type ProbeTimings, probeLink } from "./probe.ts"

/** What WebRTC's probe saw: a session's move onto a data channel, or why there was none. */
export interface WebRtcProbe {
  /** ms from the client's creation to the session on the data channel. */
  readonly connectedMs: number | undefined
  readonly reason: string
}

/** What the doctor runs on: the page's browser, or Node (cli.ts). */
export interface DoctorPlatform {
  readonly fetch: FetchLike
  /** The transports this platform can try (each transport factory on its own). */
  readonly transports: readonly ClientTransport[]
  /** What the platform said when a link of `id` failed (`ws` tells a refused upgrade's status). */
  readonly failure?: ((id: TransportId) => string | undefined) | undefined
  /**
   * The origin the platform's requests carry (a page's), checked by the server against `allowedOrigins`;
   * undefined in Node, which sends none.
   */
  readonly origin?: string | undefined
  /** WebRTC, where the platform has it: a session opened on long polling, then moved to a data channel. */
  readonly webrtc?: ((url: string, timeoutMs: number) => Promise<WebRtcProbe>) | undefined
}

/** What one run tries: the server, and the timings when not the defaults (`defaultTimings`). */
export interface DoctorOptions extends Partial<ProbeTimings> {
  /** The server's URL, as `createClient` takes it (`http://host:port/switchyard`). */
  readonly url: string
  /** How long WebRTC may take to set up (ms). Default 10,000, as a negotiating client's WebRTC probe. */
  readonly webrtcTimeoutMs?: number
}

/** Everything one run found. */
export interface DoctorReport {
  readonly url: string
  readonly startedAt: string
  readonly durationMs: number
  readonly offer: OfferResult
  /** What the server offers, in its order of preference. */
  readonly offered: readonly TransportId[]
  readonly rows: readonly TransportRow[]
  readonly findings: readonly Finding[]
  /**
   * Where a client here that negotiates among every transport ends: the first transport of the server's
   * order that works, WebRTC aside (a client has it only when given `webrtcTransport()`). `undefined` when
   * none works.
   */
  readonly endsOn: TransportId | undefined
  /** The server offers WebRTC and a data channel was set up from here: a client given `webrtcTransport()` moves on to it. */
  readonly webrtc: boolean
}

const works = (rows: readonly TransportRow[], id: TransportId) =>
  rows.some((row) => row.id === id && row.verdict === "works")

/** The timings a run uses unless told otherwise (docs/doctor.md#how-it-measures). */
// The later probes go 400 ms apart: a stream held and released at once shows as a batch only when its first
// echo waited 600 ms, which a busy machine's jitter (tens, at times a couple of hundred ms) does not make.
export const defaultTimings: ProbeTimings = { timeoutMs: 5000, holdMs: 5000, spacingMs: 400 }

const builtIns: readonly TransportId[] = ["websocket", "sse", "long-polling", "polling", "webrtc"]

/**
 * Tries every transport the server offers from here, each on a link of its own and all at once, and
 * judges what came back (findings.ts). Needs nothing on the server but a Switchyard server: the offer
 * (`?negotiate=1`) and PROBE echoes on links without a session; WebRTC alone opens a session, since a
 * data channel is set up over one.
 *
 * @example
 * ```ts
 * import { runDoctor } from "@switchyard/doctor"
 * import { longPollingTransport, pollingTransport, websocketTransport } from "@switchyard/client-browser"
 *
 * // In a browser: the platform's own fetch and WebSocket (the command adds `ws` and `eventsource` in Node).
 * const report = await runDoctor(
 *   { url: "https://api.example/switchyard" },
 *   { fetch, transports: [websocketTransport(), longPollingTransport(), pollingTransport()] },
 * )
 * console.log(report.endsOn, report.findings.map((f) => f.message))
 * ```
 */
export async function runDoctor(options: DoctorOptions, platform: DoctorPlatform): Promise<DoctorReport> {
  const timings: ProbeTimings = {
    timeoutMs: options.timeoutMs ?? defaultTimings.timeoutMs,
    holdMs: options.holdMs ?? defaultTimings.holdMs,
    spacingMs: options.spacingMs ?? defaultTimings.spacingMs,
  }
  const started = performance.now()
  const startedAt = new Date().toISOString()
  const url = options.url.replace(/\/+$/, "")
  const offer = await readOffer(url, platform.fetch)
  const finish = (rows: TransportRow[], findings: Finding[], offered: TransportId[]): DoctorReport => ({
    url,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    offer,
    offered,
    rows,
    findings,
    endsOn: offered.find((id) => id !== "webrtc" && works(rows, id)),
    webrtc: offered.includes("webrtc") && works(rows, "webrtc"),
  })
  if (!offer.ok) {
    // A browser refused by the Origin check gets a 403 without CORS headers: it sees only a network error.
    const crossOrigin = platform.origin !== undefined && platform.origin !== originOf(url)
    const maybeOrigin =
      crossOrigin && offer.status === undefined
        ? `; if the server is up, it may refuse this page's origin (${platform.origin})`
        : ""
    const finding: Finding = {
      kind: offer.status === 403 ? "origin-refused" : "server-not-reached",
      transport: undefined,
      message: `The offer (GET ${url}?negotiate=1): ${offer.reason}${maybeOrigin}`,
    }
    return finish([], [finding], [])
  }
  const offered = offer.offer.transports.map((t) => t.id)
  const byId = new Map(platform.transports.map((t) => [t.id, t]))
  const probing = offered.filter((id) => byId.has(id))
  const [webrtc, ...probes] = await Promise.all([
    offered.includes("webrtc") && platform.webrtc
      ? platform.webrtc(url, options.webrtcTimeoutMs ?? 10_000)
      : Promise.resolve(undefined),
    ...probing.map((id) => probeLink(byId.get(id) as ClientTransport, url, timings, () => platform.failure?.(id))),
  ])

  const echoed = (id: TransportId) => probes.some((p) => p.id === id && p.firstEchoMs !== undefined)
  const anyHttpWorks = echoed("long-polling") || echoed("polling")
  const longPolling = probes.find((p) => p.id === "long-polling")
  const rows: TransportRow[] = []
  const findings: Finding[] = []
  const reference = longPolling && referenceTrip(longPolling)
  for (const probe of probes) {
    const { row, finding } = judge(probe, timings, reference, anyHttpWorks)
    rows.push(row)
    if (finding) findings.push(finding)
  }
  if (webrtc !== undefined) {
    const connected = webrtc.connectedMs !== undefined
    rows.push({
      id: "webrtc",
      verdict: connected ? "works" : "failed",
      firstEchoMs: webrtc.connectedMs,
      roundTripMs: undefined,
      roundTripsMs: [],
      detail: webrtc.reason,
    })
    if (!connected) findings.push({ kind: "webrtc-failed", transport: "webrtc", message: `WebRTC: ${webrtc.reason}` })
  }
  const seen = new Set(rows.map((row) => row.id))
  for (const id of [...offered, ...builtIns]) {
    if (seen.has(id)) continue
    seen.add(id)
    const verdict = offered.includes(id) ? "not tried here" : "not offered"
    const detail = verdict === "not offered" ? "the server does not offer it" : "this platform cannot try it"
    rows.push({ id, verdict, firstEchoMs: undefined, roundTripMs: undefined, roundTripsMs: [], detail })
  }
  return finish(rows, findings, offered)
}

/** The median round trip of long polling's later probes, when it had them all. */
function referenceTrip(probe: LinkProbe): number | undefined {
  const trips = probe.roundTripsMs.filter((ms): ms is number => ms !== undefined).sort((a, b) => a - b)
  return trips.length === 0 ? undefined : trips[Math.floor((trips.length - 1) / 2)]
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}
