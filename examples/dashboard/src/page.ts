import { createClient, longPollingTransport, sseTransport, websocketTransport } from "@switchyard/client-browser"
import { SwitchyardError } from "@switchyard/core"
import { HEIGHT, linePath, SERIES, SLOTS, scaleTop, WIDTH } from "./chart.ts"
import { Dashboard, type Sample } from "./contract.ts"

// #region client
// The transport lives on the server that served this page, so the URL follows the page's own origin.
// WebSocket first; SSE and long polling where a proxy refuses it (docs/negotiation.md).
const client = createClient(Dashboard, {
  url: new URL("/switchyard", location.href).href,
  transports: [websocketTransport(), sseTransport(), longPollingTransport()],
})
// #endregion client

const $ = <T extends Element>(id: string) => document.getElementById(id) as unknown as T
const badge = $<HTMLSpanElement>("badge")
const badgeText = $<HTMLSpanElement>("badge-text")
const charts = $<HTMLElement>("charts")
const status = $<HTMLParagraphElement>("status")
const note = $<HTMLParagraphElement>("note")
const dropButton = $<HTMLButtonElement>("drop")

/** What the page has drawn: the last SLOTS samples, oldest first. */
const samples: Sample[] = []
/** Samples that never arrived: a jump in `seq` within one run of the server. Stays 0 across a resume. */
let missed = 0
let reconnects = 0
let lastReconnect = ""

// #region follow
/**
 * Reads the metrics stream for as long as the page is open. A dropped connection needs nothing here:
 * the session resumes and the stream goes on where it was, the samples taken meanwhile first. Only a
 * lost session (the server restarted, or the page was away past the resume window) ends the loop with
 * `SESSION_LOST`; the page then starts the stream again after the last sample it drew, and the server
 * sends what it kept since (or everything it kept, when it is a new run).
 */
async function follow(): Promise<void> {
  const closed = () => client.state === "closed"
  while (!closed()) {
    const last = samples.at(-1)
    try {
      for await (const sample of client.streams.metrics({ run: last?.run ?? "", after: last?.seq ?? 0 })) add(sample)
    } catch (error) {
      if (closed()) return
      if (!(error instanceof SwitchyardError && error.code === "SESSION_LOST")) {
        note.textContent = `The stream failed (${error instanceof SwitchyardError ? error.code : String(error)}); retrying.`
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
  }
}

function add(sample: Sample): void {
  const last = samples.at(-1)
  if (last && sample.run !== last.run) {
    // Another run of the server: its samples start at 1 again, so the old ones no longer line up.
    samples.length = 0
    note.textContent = "The server restarted: the charts start over."
  } else if (last && sample.seq !== last.seq + 1) missed += sample.seq - last.seq - 1
  samples.push(sample)
  if (samples.length > SLOTS) samples.shift()
  draw()
}
// #endregion follow

// #region sessions
// Every handshake but the first is a reconnect: `recovered` says whether the server still had the
// session (a resume: nothing lost) or started a new one.
let handshakes = 0
client.on("session", ({ recovered }) => {
  if (handshakes++ === 0) return
  reconnects++
  lastReconnect = recovered ? "session resumed" : "new session"
  renderStatus()
})
// #endregion sessions

// ---- drawing ----

const lines = new Map(
  SERIES.map((series) => {
    const card = document.createElement("section")
    card.className = "card"
    card.dataset.series = series.key
    card.innerHTML =
      `<h2>${series.label} <output></output></h2>` +
      `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" role="img" aria-label="${series.label}">` +
      `<line x1="0" y1="${HEIGHT / 2}" x2="${WIDTH}" y2="${HEIGHT / 2}" class="grid"/><path/></svg>` +
      `<small class="top"></small>`
    charts.append(card)
    const q = <T extends Element>(selector: string) => card.querySelector(selector) as T
    return [
      series.key,
      { series, value: q<HTMLOutputElement>("output"), path: q<SVGPathElement>("path"), top: q<HTMLElement>(".top") },
    ]
  }),
)

// #region draw
/** Redraws the three charts from `samples`; the SVG paths come from chart.ts. */
function draw(): void {
  const newest = samples.at(-1)
  for (const { series, value, path, top } of lines.values()) {
    const scale = scaleTop(
      samples.map((s) => s[series.key]),
      series.floor,
    )
    path.setAttribute("d", linePath(samples, series.key, scale))
    top.textContent = `${scale} ${series.unit}`
    value.textContent = newest ? `${newest[series.key].toFixed(1)} ${series.unit}` : ""
  }
  // What the tests read: the range of samples drawn.
  charts.dataset.first = String(samples[0]?.seq ?? "")
  charts.dataset.last = String(newest?.seq ?? "")
  charts.dataset.run = newest?.run ?? ""
  renderStatus()
}
// #endregion draw

function renderStatus(): void {
  const first = samples[0]
  const last = samples.at(-1)
  const parts = [
    first && last ? `${samples.length} samples (#${first.seq}–#${last.seq})` : "waiting for samples",
    `${missed} missed`,
  ]
  if (reconnects > 0) parts.push(`${reconnects} reconnect${reconnects === 1 ? "" : "s"} (${lastReconnect})`)
  status.textContent = parts.join(" · ")
}

function renderBadge(): void {
  badge.dataset.state = client.state
  badgeText.textContent = client.transport ? `${client.transport} · ${client.state}` : client.state
}
client.on("transport", renderBadge)
client.on("state", renderBadge)
client.on("error", (error) => console.warn(`[switchyard] ${error.code}: ${error.message}`))
renderBadge()

dropButton.addEventListener("click", () => {
  note.textContent = ""
  fetch("/drop", { method: "POST" })
    .then((response) => response.json() as Promise<{ dropped: number }>)
    .then(({ dropped }) => {
      note.textContent = `The server cut ${dropped} connection${dropped === 1 ? "" : "s"}.`
    })
    .catch(() => {
      note.textContent = "The server did not answer."
    })
})

// Say goodbye when the tab goes away, so the server ends the session (and its stream) at once.
addEventListener("pagehide", () => void client.close())
addEventListener("pageshow", (event) => {
  if (event.persisted) location.reload()
})

renderStatus()
void follow()
