import { mkdirSync } from "node:fs"
import type { BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type ChatServer, startChatServer } from "../../../examples/chat/src/server.ts"
import { chromiumBrowser } from "./support/chromium.ts"

/**
 * docs/tutorial-chat.md, end to end: the chat example's own server (page, bundle and Switchyard on one
 * HTTP server) and two Chromium users, each in a browser context of its own (two people, two
 * localStorages). They join a room through the join form, see each other in the online list (the room's
 * presence), exchange messages by typing into the page, and when one leaves the other sees it go. Only
 * the page's DOM is read: what the tutorial promises is what a person sees.
 */

let chat: ChatServer
const contexts: BrowserContext[] = []
const problems: string[] = []

beforeAll(async () => {
  chat = await startChatServer({ port: 0, host: "127.0.0.1" })
})

afterAll(async () => {
  for (const context of contexts) await context.close()
  await chat?.close()
})

/** A person: a browser context of their own with the chat page open. */
async function person(): Promise<Page> {
  const context = await (await chromiumBrowser()).newContext({ viewport: { width: 900, height: 600 } })
  contexts.push(context)
  const page = await context.newPage()
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`))
  page.on("console", (message) => {
    // Chromium logs every 4xx answer. A 410 is the server closing the long-polling link the session
    // left when it moved up to WebRTC (docs/long-polling.md): expected, and not the page's error.
    const gone = /^Failed to load resource: .* 410 \(Gone\)$/.test(message.text())
    if (message.type() === "error" && !gone) problems.push(`console: ${message.text()}`)
  })
  await page.goto(chat.url)
  return page
}

async function join(page: Page, user: string, room: string): Promise<void> {
  await page.fill("#name", user)
  await page.fill("#room", room)
  await page.click("#join-form button[type=submit]")
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill("#text", text)
  await page.press("#text", "Enter")
}

const online = (page: Page) => page.locator("#online li").allTextContents()
/** The log as a person reads it: `ann: hello` for messages, `bob joined` for presence lines. */
const log = (page: Page) =>
  page.$$eval("#messages li", (items) =>
    items.map((li) => {
      const author = li.querySelector("b")?.textContent
      const text = li.querySelector("span")?.textContent ?? ""
      return author ? `${author}: ${text}` : text
    }),
  )

/** Polls `read` until it equals `expected`; fails with the last value seen. */
async function until<T>(read: () => Promise<T>, expected: T, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let seen = await read()
  while (JSON.stringify(seen) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    seen = await read()
  }
  expect(seen).toEqual(expected)
}

it("two people join a room, see each other online, talk, and one sees the other leave", async () => {
  const ann = await person()
  await join(ann, "ann", "kitchen")
  await until(() => online(ann), ["ann"])
  expect(await ann.locator("#room-title").textContent()).toBe("#kitchen")

  const bob = await person()
  // The name is unique in the room: the server's typed error (`NameTaken`), shown by the join form.
  await join(bob, "ann", "kitchen")
  await until(() => bob.locator("#join-error").textContent(), "“ann” is already in #kitchen; pick another name.")
  await join(bob, "bob", "kitchen")

  // Presence: each sees both; ann, who was there first, sees bob arrive in her log.
  await until(() => online(bob), ["ann", "bob"])
  await until(() => online(ann), ["ann", "bob"])
  await until(() => log(ann), ["bob joined"])
  expect(await ann.locator("#online-count").textContent()).toBe("2")

  await say(ann, "hi bob, tea?")
  await until(() => log(bob), ["ann: hi bob, tea?"])
  await say(bob, "yes please")
  await until(() => log(ann), ["bob joined", "ann: hi bob, tea?", "bob: yes please"])
  await until(() => log(bob), ["ann: hi bob, tea?", "bob: yes please"])
  // Your own messages are marked; the input is cleared for the next one.
  expect(await ann.locator("#messages li.mine span").allTextContents()).toEqual(["hi bob, tea?"])
  expect(await ann.inputValue("#text")).toBe("")
  // The badge names the transport the session is on and says it is connected.
  expect(await ann.locator("#badge").getAttribute("data-state")).toBe("connected")
  expect(await ann.locator("#badge-text").textContent()).toMatch(
    /^(webrtc|websocket|sse|long-polling|polling) · connected$/,
  )

  if (process.env.SWITCHYARD_SCREENSHOTS === "1") {
    const dir = new URL("../../../docs/screenshots/", import.meta.url)
    mkdirSync(dir, { recursive: true })
    await ann.screenshot({ path: new URL("chat.png", dir).pathname })
  }

  // Leaving unsubscribes from the room's presence: ann sees bob go, in the list and in her log.
  await bob.click("#leave")
  expect(await bob.locator("#join-form").isVisible()).toBe(true)
  await until(() => online(ann), ["ann"])
  await until(() => log(ann), ["bob joined", "ann: hi bob, tea?", "bob: yes please", "bob left"])
  // On the server too: the room's presence lists ann alone.
  expect((await chat.switchyard.topics.online("kitchen").presence()).map((m) => m.data.user)).toEqual(["ann"])
  expect(problems).toEqual([])
})
