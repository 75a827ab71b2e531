import { type FetchLike, websocketTransport } from "@switchyard/client-browser"
import { type DoctorPlatform, type DoctorReport, runDoctor } from "./doctor.ts"
import { findingAnchors, type TransportRow } from "./findings.ts"
import type { ProbeTimings } from "./probe.ts"
import { watchedHttpTransports } from "./statuses.ts"

/** How the page's doctor is set up. */
export interface DoctorPageOptions extends Partial<ProbeTimings> {
  /** The URL in the field at first; by default the page's `?url=`, which also starts a run at once. */
  readonly url?: string
  /** Where the findings' sections are: `""` (this page, docs/doctor.md) or a page's URL. */
  readonly docs?: string
}

/** What `mountDoctor` returns. */
export interface DoctorPage {
  /** Runs the doctor on the field's URL (or `url`), shows the report, and resolves to it. */
  run(url?: string): Promise<DoctorReport>
  /** Removes what the doctor put in its element. */
  destroy(): void
}

/** The browser as the doctor's platform: its own WebSocket, EventSource and fetch, and WebRTC where it has one. */
function browserPlatform(): DoctorPlatform {
  const fetch = globalThis.fetch.bind(globalThis) as FetchLike
  const http = watchedHttpTransports(fetch)
  return {
    fetch,
    transports: [websocketTransport(), ...http.transports],
    failure: http.said,
    origin: globalThis.location?.origin,
    webrtc:
      typeof RTCPeerConnection === "function"
        ? async (url, timeoutMs) => (await import("./webrtc.ts")).probeWebRtc(url, timeoutMs)
        : undefined,
  }
}

/**
 * The doctor's page (docs/doctor.md): a form for the server's URL, then the report as a table, a chart of
 * the round trips and the findings, each linked to its fix. Written with the DOM alone, so that the docs
 * site's Vue component and a test page mount the same thing.
 *
 * @example
 * const doctor = mountDoctor(document.getElementById("doctor")!, { url: "https://api.example/switchyard" })
 * const report = await doctor.run()
 */
export function mountDoctor(root: HTMLElement, options: DoctorPageOptions = {}): DoctorPage {
  const query = new URLSearchParams(globalThis.location?.search ?? "").get("url") ?? undefined
  const docs = options.docs ?? ""
  const box = el("div", { class: "sy-doctor" })
  const form = el("form", { class: "sy-doctor-form" })
  const input = el("input", {
    type: "url",
    name: "url",
    required: "",
    placeholder: "https://api.example/switchyard",
    "aria-label": "Server URL",
  })
  input.value = options.url ?? query ?? ""
  const button = el("button", { type: "submit" }, "Test")
  form.append(input, button)
  const status = el("p", { class: "sy-doctor-status", role: "status" })
  const out = el("div", { class: "sy-doctor-report" })
  box.append(style(), form, status, out)
  root.append(box)

  let running: Promise<DoctorReport> | undefined
  const run = (url = input.value.trim()): Promise<DoctorReport> => {
    if (running) return running
    input.value = url
    button.disabled = true
    out.replaceChildren()
    status.textContent = `Trying every transport to ${url}…`
    running = runDoctor({ url, ...timings(options) }, browserPlatform())
      .then((report) => {
        status.textContent = `Done in ${(report.durationMs / 1000).toFixed(1)} s.`
        out.replaceChildren(...render(report, docs))
        box.dataset.endsOn = report.endsOn ?? "none"
        return report
      })
      .catch((error: unknown) => {
        status.textContent = `The doctor failed: ${error instanceof Error ? error.message : String(error)}`
        throw error
      })
      .finally(() => {
        button.disabled = false
        running = undefined
      })
    return running
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    // run() shows a failure in the status line.
    void run().catch(() => {})
  })
  if (options.url === undefined && query !== undefined) form.requestSubmit()
  return { run, destroy: () => box.remove() }
}

function timings(options: DoctorPageOptions): Partial<ProbeTimings> {
  const picked: { -readonly [K in keyof ProbeTimings]?: number } = {}
  if (options.timeoutMs !== undefined) picked.timeoutMs = options.timeoutMs
  if (options.holdMs !== undefined) picked.holdMs = options.holdMs
  if (options.spacingMs !== undefined) picked.spacingMs = options.spacingMs
  return picked
}

/** The report's parts: the verdict, the table, the chart, the findings. */
function render(report: DoctorReport, docs: string): Node[] {
  const verdict = el(
    "p",
    { class: "sy-doctor-verdict" },
    report.endsOn === undefined
      ? "No transport works from here: a client cannot connect."
      : `A client here that negotiates ends on ${report.endsOn}.${report.webrtc ? " Given webrtcTransport(), it moves on to WebRTC." : ""}`,
  )
  if (!report.offer.ok) verdict.append(` The offer could not be read: ${report.offer.reason}.`)
  const nodes: Node[] = [verdict]
  if (report.rows.length > 0) nodes.push(table(report.rows), chart(report.rows))
  const findings = el("ul", { class: "sy-doctor-findings" })
  for (const finding of report.findings) {
    const link = el("a", { href: `${docs}#${findingAnchors[finding.kind]}` }, "how to fix")
    const item = el("li", { "data-finding": finding.kind }, `${finding.message} `)
    item.append(link)
    findings.append(item)
  }
  if (report.findings.length === 0) findings.append(el("li", {}, "Found nothing in the way."))
  nodes.push(el("h3", {}, "Found"), findings)
  return nodes
}

const ms = (value: number | undefined) => (value === undefined ? "—" : `${value} ms`)

function table(rows: readonly TransportRow[]): HTMLTableElement {
  const head = el("tr")
  for (const title of ["transport", "result", "first echo", "round trip", "min–max", "what was seen"])
    head.append(el("th", {}, title))
  const body = el("tbody")
  for (const row of rows) {
    const range =
      row.roundTripsMs.length === 0 ? "—" : `${Math.min(...row.roundTripsMs)}–${Math.max(...row.roundTripsMs)} ms`
    const tr = el("tr", { "data-transport": row.id, "data-verdict": row.verdict })
    for (const text of [row.id, row.verdict, ms(row.firstEchoMs), ms(row.roundTripMs), range, row.detail])
      tr.append(el("td", {}, text))
    body.append(tr)
  }
  const thead = el("thead")
  thead.append(head)
  const result = el("table", { class: "sy-doctor-table" })
  result.append(thead, body)
  return result
}

const SVG = "http://www.w3.org/2000/svg"

/** A bar per transport tried: its median round trip, or its verdict where it has none. */
function chart(rows: readonly TransportRow[]): SVGSVGElement {
  const tried = rows.filter((row) => row.verdict !== "not offered" && row.verdict !== "not tried here")
  const most = Math.max(1, ...tried.map((row) => row.roundTripMs ?? 0))
  const [label, width, line] = [110, 300, 26]
  const svg = document.createElementNS(SVG, "svg")
  svg.setAttribute("class", "sy-doctor-chart")
  svg.setAttribute("viewBox", `0 0 ${label + width + 90} ${tried.length * line + 24}`)
  svg.setAttribute("role", "img")
  svg.setAttribute("aria-label", "Round trip of each transport, median of three probes")
  const add = (name: string, attributes: Record<string, string | number>, text?: string) => {
    const node = document.createElementNS(SVG, name)
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value))
    if (text !== undefined) node.textContent = text
    svg.append(node)
    return node
  }
  tried.forEach((row, i) => {
    const y = i * line + 4
    add("text", { x: 0, y: y + 15, class: "sy-label" }, row.id)
    if (row.roundTripMs === undefined) {
      add("text", { x: label, y: y + 15, class: "sy-missing" }, row.verdict)
      return
    }
    const bar = Math.max(2, (row.roundTripMs / most) * width)
    add("rect", {
      x: label,
      y,
      width: bar,
      height: 18,
      rx: 3,
      class: `sy-bar sy-${row.verdict}`,
      "data-transport": row.id,
    })
    add("text", { x: label + bar + 6, y: y + 15, class: "sy-value" }, `${row.roundTripMs} ms`)
  })
  add("text", { x: label, y: tried.length * line + 20, class: "sy-axis" }, "round trip, median of 3 probes")
  return svg
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value)
  if (text !== undefined) node.textContent = text
  return node
}

function style(): HTMLStyleElement {
  return el(
    "style",
    {},
    `.sy-doctor{font-family:var(--vp-font-family-base,system-ui,sans-serif)}
.sy-doctor-form{display:flex;gap:8px;margin:16px 0}
.sy-doctor-form input{flex:1;padding:6px 10px;border:1px solid var(--vp-c-divider,#ccc);border-radius:6px;background:var(--vp-c-bg,#fff);color:inherit}
.sy-doctor-form button{padding:6px 16px;border-radius:6px;background:var(--vp-c-brand-1,#3451b2);color:#fff}
.sy-doctor-form button:disabled{opacity:.5}
.sy-doctor-table{border-collapse:collapse}
.sy-doctor-table td,.sy-doctor-table th{padding:4px 10px;text-align:left;border-bottom:1px solid var(--vp-c-divider,#ddd)}
.sy-doctor-table tr[data-verdict=refused] td:nth-child(2),.sy-doctor-table tr[data-verdict=held] td:nth-child(2),.sy-doctor-table tr[data-verdict=failed] td:nth-child(2){color:#b91c1c}
.sy-doctor-table tr[data-verdict=buffered] td:nth-child(2),.sy-doctor-table tr[data-verdict=cut] td:nth-child(2){color:#d97706}
.sy-doctor-chart{max-width:520px;width:100%;font:12px var(--vp-font-family-mono,monospace);fill:currentColor}
.sy-doctor-chart .sy-bar{fill:var(--vp-c-brand-1,#3451b2)}
.sy-doctor-chart .sy-buffered,.sy-doctor-chart .sy-cut{fill:#d97706}
.sy-doctor-chart .sy-missing{fill:#b91c1c}
.sy-doctor-chart .sy-axis{opacity:.6}`,
  )
}
