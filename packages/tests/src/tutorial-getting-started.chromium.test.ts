import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { createClient, websocketTransport } from "@switchyard/client-browser"
import { SwitchyardError } from "@switchyard/core"
import { type App, startApp } from "@switchyard/example-getting-started/app"
import { runClient } from "@switchyard/example-getting-started/client"
import { Calc } from "@switchyard/example-getting-started/contract"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, expect, it } from "vitest"
import WebSocket from "ws"
import { newPage } from "./support/chromium.ts"

// docs/tutorial-getting-started.md, end to end: the example app (examples/getting-started) on 127.0.0.1,
// its page in Chromium and its Node client, each seeing what the tutorial says they see.

let app: App
let page: Page
const consoleErrors: string[] = []

beforeAll(async () => {
  app = await startApp({ port: 0, host: "127.0.0.1" })
  page = await newPage()
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text())
  })
  page.on("pageerror", (error) => consoleErrors.push(error.message))
  await page.goto(app.url)
})

afterAll(async () => {
  await page?.close()
  await app?.close()
})

it("the page connects and shows the RPC's result", async () => {
  await expect.poll(() => page.textContent("#state")).toBe("connected")
  await page.fill("#a", "10")
  await page.fill("#b", "4")
  await page.click("#divide button")
  await expect.poll(() => page.textContent("#quotient")).toBe("10 ÷ 4 = 2.5")
  expect(await page.getAttribute("#quotient", "class")).toBe("value")
})

it("the page shows the typed error as a value", async () => {
  await page.fill("#a", "7")
  await page.fill("#b", "0")
  await page.click("#divide button")
  await expect.poll(() => page.textContent("#quotient")).toBe("DivisionByZero: cannot divide 7 by zero")
  expect(await page.getAttribute("#quotient", "class")).toBe("failure")
})

it("the page lists the stream's items as they come, then done", async () => {
  await page.fill("#from", "3")
  await page.click("#countdown button")
  const items = () => page.$$eval("#ticks li", (lis) => lis.map((li) => li.textContent ?? ""))
  // Each item carries the server's Date, decoded and shown as a local time.
  await expect.poll(items, { timeout: 5000 }).toHaveLength(5)
  const shown = await items()
  expect(shown.slice(0, 4).map((text) => text.replace(/ \(.+\)$/, ""))).toEqual(["3", "2", "1", "0"])
  for (const text of shown.slice(0, 4)) expect(text).toMatch(/^\d \(\d{1,2}:\d{2}:\d{2}( [AP]M)?\)$/)
  expect(shown[4]).toBe("done")
  if (process.env.SWITCHYARD_SCREENSHOTS === "1") {
    const dir = join(import.meta.dirname, "../../../docs/screenshots")
    mkdirSync(dir, { recursive: true })
    await page.setViewportSize({ width: 900, height: 600 })
    await page.screenshot({ path: join(dir, "getting-started.png") })
  }
  expect(consoleErrors).toEqual([])
})

it("the Node client gets the same three answers", async () => {
  const lines: string[] = []
  await runClient(app.switchyardUrl, (line) => lines.push(line))
  expect(lines.slice(0, 2)).toEqual(["10 ÷ 4 = 2.5", "DivisionByZero: cannot divide 1 by zero"])
  const ticks = lines.slice(2, 6)
  expect(ticks.map((line) => line.split(" at ")[0])).toEqual(["3", "2", "1", "0"])
  // The stream's Dates are Dates again, a quarter of a second apart (the server's pause).
  const times = ticks.map((line) => Date.parse(line.split(" at ")[1] ?? ""))
  for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(240)
  expect(lines.slice(6)).toEqual(["done"])
})

it("a countdown from 11 is refused by the client: INVALID_INPUT, from the contract's bounds", async () => {
  const client = createClient(Calc, { url: app.switchyardUrl, transports: [websocketTransport({ WebSocket })] })
  try {
    const thrown = await (async () => {
      for await (const _ of client.streams.countdown({ from: 11 })) throw new Error("an item arrived")
    })().catch((error: unknown) => error)
    expect(thrown).toBeInstanceOf(SwitchyardError)
    expect((thrown as SwitchyardError).code).toBe("INVALID_INPUT")
  } finally {
    await client.close()
  }
})
