import { mkdir } from "node:fs/promises"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { type Cluster, startCluster } from "@switchyard/example-redis/cluster"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, expect, it } from "vitest"
import { newPage } from "./support/chromium.ts"
import { RedisServer } from "./support/redisServer.ts"

/**
 * The Redis tutorial's page (docs/tutorial-redis.md) in Chromium: two pages on the example's two nodes
 * (a real redis-server, the round-robin balancer), each listing both members and hearing the other's
 * notes; ada presses "Stop node", her session moves to the other node, and she keeps her place and the
 * notes posted meanwhile. The Node test (tutorial-redis.test.ts) pins which node holds whom.
 */

let redis: RedisServer
let cluster: Cluster
beforeAll(async () => {
  redis = await RedisServer.start()
  cluster = await startCluster({ redisUrl: redis.url })
})
afterAll(async () => {
  await cluster?.close()
  await redis?.[Symbol.asyncDispose]()
})

/** A page of the board, joined as `name`, with every console error and warning it logs. */
async function member(name: string): Promise<{ page: Page; problems: string[] }> {
  const page = await newPage()
  await page.setViewportSize({ width: 900, height: 600 })
  const problems: string[] = []
  page.on("console", (message) => {
    // Chromium logs each 410 answer: the long-polling link a session leaves when it moves to WebSocket.
    if (message.text() === "Failed to load resource: the server responded with a status of 410 (Gone)") return
    if (message.type() === "error" || message.type() === "warning") problems.push(message.text())
  })
  page.on("pageerror", (error) => problems.push(String(error)))
  await page.goto(cluster.pageUrl)
  await page.fill("#name", name)
  await page.click("#join-form button")
  await page.locator('#board[data-ready="true"]').waitFor({ state: "attached" })
  await expect.poll(() => page.locator("#node").textContent()).toMatch(/^[ab]$/)
  return { page, problems }
}

const texts = (page: Page, list: string) => page.locator(`${list} li`).allTextContents()

it("the page: members and notes across nodes, and a session that survives its node", async () => {
  const ada = await member("ada")
  const bob = await member("bob")
  await expect.poll(() => texts(ada.page, "#members")).toEqual(["ada", "bob"])
  await expect.poll(() => texts(bob.page, "#members")).toEqual(["ada", "bob"])

  const adaNode = (await ada.page.locator("#node").textContent()) ?? ""
  await ada.page.fill("#text", "hello")
  await ada.page.click("#post-form button")
  await expect.poll(() => texts(bob.page, "#notes")).toEqual([`ada: hello via node ${adaNode}`])

  // Ada stops her own node: her page moves to the other one, resumed, still listed, missing nothing.
  await ada.page.click("#stop")
  const other = adaNode === "a" ? "b" : "a"
  await expect.poll(() => ada.page.locator("#node").textContent(), { timeout: 8000 }).toBe(other)
  expect(await ada.page.locator("#status").textContent()).toMatch(/ · resumed$/)
  await bob.page.fill("#text", "still here?")
  await bob.page.click("#post-form button")
  await expect
    .poll(() => texts(ada.page, "#notes"))
    .toEqual([`ada: hello via node ${adaNode}`, `bob: still here? via node ${other}`])
  expect(await texts(bob.page, "#members")).toEqual(["ada", "bob"])
  expect(await texts(ada.page, "#members")).toEqual(["ada", "bob"])

  if (process.env.SWITCHYARD_SCREENSHOTS === "1") {
    const file = fileURLToPath(new URL("../../../docs/screenshots/redis.png", import.meta.url))
    await mkdir(dirname(file), { recursive: true })
    await ada.page.screenshot({ path: file })
  }
  await Promise.all([ada.page.close(), bob.page.close()])
  expect(ada.problems).toEqual([])
  expect(bob.problems).toEqual([])
})
