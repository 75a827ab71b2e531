import { mkdirSync } from "node:fs"
import type { BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll, expect, it } from "vitest"
import { linePath, SERIES, scaleTop } from "../../../examples/dashboard/src/chart.ts"
import { type DashboardServer, startDashboardServer } from "../../../examples/dashboard/src/server.ts"
import { chromiumBrowser } from "./support/chromium.ts"

/**
 * docs/tutorial-dashboard.md, end to end: the dashboard example's own server (page, bundle, sampler and
 * Switchyard on one HTTP server) and its page in Chromium. The page must draw exactly the samples the
 * server took (each chart's SVG path is recomputed here from the server's own samples), keep drawing as
 * new ones arrive, and, when the page's "Drop the connection" button makes the server cut every
 * connection, resume its session and go on with no sample missing or repeated. When the server
 * restarts (a lost session), the page starts the stream again and draws the new run's samples.
 */

let dashboard: DashboardServer
let context: BrowserContext | undefined
const problems: string[] = []

beforeAll(async () => {
  // 100 ms rather than the default 250 ms: the same code, more samples in a short test.
  dashboard = await startDashboardServer({ port: 0, host: "127.0.0.1", intervalMs: 100 })
})

afterAll(async () => {
  await context?.close()
  await dashboard?.close()
})

interface Drawn {
  readonly run: string
  readonly first: number
  readonly last: number
  readonly paths: Record<string, string>
  readonly values: Record<string, string>
  readonly status: string
}

/** What the page shows, read in one go (the page redraws everything at once, so this is consistent). */
function drawn(page: Page): Promise<Drawn> {
  return page.evaluate(() => {
    const charts = document.getElementById("charts") as HTMLElement
    const cards = [...charts.querySelectorAll<HTMLElement>(".card")]
    const by = (read: (card: HTMLElement) => string) =>
      Object.fromEntries(cards.map((card) => [card.dataset.series ?? "", read(card)]))
    return {
      run: charts.dataset.run ?? "",
      first: Number(charts.dataset.first),
      last: Number(charts.dataset.last),
      paths: by((card) => card.querySelector("path")?.getAttribute("d") ?? ""),
      values: by((card) => card.querySelector("output")?.textContent ?? ""),
      status: document.getElementById("status")?.textContent ?? "",
    }
  })
}

/** Asserts the page drew the server's samples `first`…`last`, all of them, as chart.ts draws them. */
function expectServerSamples(shown: Drawn): void {
  const sent = dashboard.sampler.recent().filter((s) => s.seq >= shown.first && s.seq <= shown.last)
  expect(shown.run).toBe(dashboard.sampler.run)
  expect(sent.map((s) => s.seq)).toEqual(
    Array.from({ length: shown.last - shown.first + 1 }, (_, i) => shown.first + i),
  )
  const newest = sent.at(-1)
  if (!newest) throw new Error("no sample drawn")
  for (const series of SERIES) {
    const top = scaleTop(
      sent.map((s) => s[series.key]),
      series.floor,
    )
    expect(shown.paths[series.key], series.key).toBe(linePath(sent, series.key, top))
    expect(shown.values[series.key], series.key).toBe(`${newest[series.key].toFixed(1)} ${series.unit}`)
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

it("draws the server's samples as they arrive, resumes after a dropped connection with none missed, and starts over with a restarted server", async () => {
  context = await (await chromiumBrowser()).newContext({ viewport: { width: 900, height: 600 } })
  const page = await context.newPage()
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`))
  page.on("console", (message) => {
    // Chromium logs every 4xx answer. A 410 is the server closing the long-polling link the session
    // opened on and left when it moved up to WebSocket (docs/negotiation.md): expected, not an error.
    const gone = /^Failed to load resource: .* 410 \(Gone\)$/.test(message.text())
    if (message.type() === "error" && !gone) problems.push(`console: ${message.text()}`)
  })
  await page.goto(dashboard.url)

  // The first samples: the charts hold exactly what the server took, from its first sample on.
  await until("5 samples drawn", async () => (await drawn(page)).last >= 5)
  const before = await drawn(page)
  expect(before.first).toBe(1)
  expectServerSamples(before)
  expect(before.status).toBe(`${before.last} samples (#1–#${before.last}) · 0 missed`)
  // The session opens on long polling and moves up to WebSocket within moments (docs/negotiation.md).
  await until("WebSocket", async () => (await page.locator("#badge-text").textContent()) === "websocket · connected")

  // The charts move: later samples, other paths.
  await until("more samples", async () => (await drawn(page)).last >= before.last + 3)
  const later = await drawn(page)
  expectServerSamples(later)
  expect(later.paths.heapMb).not.toBe(before.paths.heapMb)

  // The page's button makes the server cut every connection; the WebSocket goes, the session resumes
  // and the stream goes on where it was: the samples taken meanwhile arrive, then new ones.
  const atDrop = dashboard.sampler.recent().at(-1)?.seq ?? 0
  await page.click("#drop")
  await until("the note", async () =>
    /^The server cut [1-9]\d* connections?\.$/.test((await page.locator("#note").textContent()) ?? ""),
  )
  await until("the resume", async () => (await drawn(page)).status.endsWith(" · 1 reconnect (session resumed)"))
  await until("samples after the drop", async () => (await drawn(page)).last >= atDrop + 5)
  const after = await drawn(page)
  expectServerSamples(after)
  expect(after.first).toBe(1)
  expect(after.status).toBe(`${after.last} samples (#1–#${after.last}) · 0 missed · 1 reconnect (session resumed)`)
  await until(
    "WebSocket again",
    async () => (await page.locator("#badge-text").textContent()) === "websocket · connected",
  )

  if (process.env.SWITCHYARD_SCREENSHOTS === "1") {
    // The charts full, the first samples (the test process starting up) scrolled out.
    await until("the first samples scrolled out", async () => (await drawn(page)).last >= 125, 20_000)
    const dir = new URL("../../../docs/screenshots/", import.meta.url)
    mkdirSync(dir, { recursive: true })
    await page.screenshot({ path: new URL("dashboard.png", dir).pathname })
  }
  expect(problems.splice(0)).toEqual([])

  // A restarted server is a lost session: the stream ends with SESSION_LOST, the page starts it again
  // after its last sample, and the new run of the server (counting from 1 again) replaces the charts.
  const oldRun = dashboard.sampler.run
  const { port } = dashboard
  await dashboard.close()
  dashboard = await startDashboardServer({ port, host: "127.0.0.1", intervalMs: 100 })
  await until("the new run's samples", async () => {
    const shown = await drawn(page)
    return shown.run === dashboard.sampler.run && shown.last >= 5
  })
  const restarted = await drawn(page)
  expect(restarted.run).not.toBe(oldRun)
  expectServerSamples(restarted)
  expect(restarted.first).toBe(1)
  expect(restarted.status).toBe(
    `${restarted.last} samples (#1–#${restarted.last}) · 0 missed · 2 reconnects (new session)`,
  )
  expect(await page.locator("#note").textContent()).toBe("The server restarted: the charts start over.")
  // While the server was stopping and down, Chromium logged the client's failed attempts to reconnect;
  // nothing else. A stopping server answers an HTTP request 503 (SERVER_CLOSED) and closes a WebSocket
  // upgrade unanswered; a stopped one refuses the connection. Which of these the page meets depends on
  // when its retries fall (CI once saw the first two).
  const reconnecting = [
    /net::ERR_CONNECTION_REFUSED$/,
    /^console: Failed to load resource: the server responded with a status of 503 \(Service Unavailable\)$/,
    /^console: WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/switchyard' failed: Connection closed before receiving a handshake response$/,
  ]
  expect(problems.filter((problem) => !reconnecting.some((allowed) => allowed.test(problem)))).toEqual([])
})
