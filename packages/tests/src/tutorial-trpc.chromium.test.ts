import { mkdir } from "node:fs/promises"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { websocketTransport } from "@switchyard/client-browser"
import type { AppRouter } from "@switchyard/example-trpc/router"
import { startTodoServer, type TodoServer } from "@switchyard/example-trpc/server"
import { switchyardLink } from "@switchyard/trpc/client"
import { createTRPCClient } from "@trpc/client"
import { afterAll, beforeAll, expect, it } from "vitest"
import WebSocket from "ws"
import { newPage } from "./support/chromium.ts"

/**
 * The tRPC tutorial (docs/tutorial-trpc.md) end to end: the example's server (its unchanged tRPC router
 * served with createTrpcServer) and its page in Chromium, whose tRPC client ends in switchyardLink. The
 * page runs the query, the mutation and the subscription through its forms; a Node tRPC client adds a
 * todo too, which reaches the page only through the subscription.
 */

let app: TodoServer
beforeAll(async () => {
  app = await startTodoServer({ host: "127.0.0.1" })
})
afterAll(async () => {
  await app?.close()
})

it("the page runs a query, a mutation and a subscription of the tRPC router over Switchyard", async () => {
  const page = await newPage()
  await page.setViewportSize({ width: 900, height: 600 })
  const problems: string[] = []
  const gone: string[] = []
  page.on("console", (message) => {
    // Chromium logs every 410 answer; the one expected is the long-polling link the session leaves when
    // it moves to WebSocket (its held poll is answered 410), checked below by its URL instead.
    if (message.text() === "Failed to load resource: the server responded with a status of 410 (Gone)") return
    if (message.type() === "error" || message.type() === "warning") problems.push(message.text())
  })
  page.on("response", (response) => {
    if (response.status() === 410) gone.push(new URL(response.url()).pathname)
  })
  page.on("pageerror", (error) => problems.push(String(error)))
  await page.goto(app.url)
  // The session opens on long polling and moves up to WebSocket once its probe passes (docs/negotiation.md).
  await expect.poll(() => page.locator("#status").textContent()).toBe("websocket · connected")
  await page.locator('#todos[data-started="true"]').waitFor({ state: "attached" })

  // The query: zod's validation answered as tRPC's BAD_REQUEST through the router's errorFormatter, then
  // an answer.
  await page.fill("#name", "   ")
  await page.click("#greet-form button")
  await expect.poll(() => page.locator("#greeting").textContent()).toBe("BAD_REQUEST: say who you are")
  await page.fill("#name", "Ada")
  await page.click("#greet-form button")
  await expect.poll(() => page.locator("#greeting").textContent()).toBe("Hello, Ada!")

  // The mutation answers the page; the todo reaches its list through the subscription.
  await page.fill("#todo", "Write the tutorial")
  await page.click("#todo-form button")
  await expect.poll(() => page.locator("#added").textContent()).toBe("Added #1")
  await expect.poll(() => page.locator("#todos li").allTextContents()).toEqual(["Write the tutorial"])

  // Another client of the same router (Node, over `ws`): its todo reaches the page's subscription.
  const link = switchyardLink<AppRouter>({
    url: new URL("/switchyard", app.url).href,
    transports: [websocketTransport({ WebSocket: WebSocket as never })],
  })
  const trpc = createTRPCClient<AppRouter>({ links: [link] })
  try {
    expect(await trpc.addTodo.mutate({ text: "Read docs/trpc.md" })).toEqual({ id: 2, text: "Read docs/trpc.md" })
  } finally {
    await link.client.close()
  }
  await expect
    .poll(() => page.locator("#todos li").allTextContents())
    .toEqual(["Write the tutorial", "Read docs/trpc.md"])

  if (process.env.SWITCHYARD_SCREENSHOTS === "1") {
    const file = fileURLToPath(new URL("../../../docs/screenshots/trpc.png", import.meta.url))
    await mkdir(dirname(file), { recursive: true })
    await page.screenshot({ path: file })
  }
  await page.close()
  expect(problems).toEqual([])
  expect(gone.every((path) => path === "/switchyard")).toBe(true)
})
