import { createClient, type WebSocketConstructor } from "@switchyard/client-browser/all"
import { type Client, isFailure, SwitchyardError } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { Chat, type JoinRefused, type Message, type PresenceEvent } from "./contract.ts"
import { type ChatServer, SWITCHYARD_PATH, startChatServer } from "./server.ts"

let chat: ChatServer
const clients: Client<Chat>[] = []

beforeAll(async () => {
  chat = await startChatServer({ port: 0, host: "127.0.0.1" })
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await chat?.close()
})

// `ws`'s overloaded constructor (its first overload takes `null`) does not type-check against
// `WebSocketConstructor`, although it works; packages/tests hits the same error.
const NodeWebSocket = WebSocket as unknown as WebSocketConstructor

function connect(): Client<Chat> {
  const client = createClient(Chat, { url: new URL(SWITCHYARD_PATH, chat.url).href, WebSocket: NodeWebSocket })
  clients.push(client)
  return client
}

function join(client: Client<Chat>, room: string, user: string): AsyncIterator<readonly string[]> {
  return client.streams.join({ room, user })[Symbol.asyncIterator]()
}

async function rejection(promise: Promise<unknown>): Promise<SwitchyardError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(SwitchyardError)
  return error as SwitchyardError
}

describe("chat example", () => {
  it("serves the page and its bundle from the server Switchyard is attached to", async () => {
    const page = await fetch(chat.url)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toMatch(/^text\/html/)
    expect(await page.text()).toContain('<script type="module" src="/page.js"></script>')

    const bundle = await fetch(new URL("/page.js", chat.url))
    expect(bundle.status).toBe(200)
    expect(bundle.headers.get("content-type")).toMatch(/^text\/javascript/)
    const js = await bundle.text()
    expect(js).toContain("/switchyard")
    expect(js.length).toBeGreaterThan(10_000)

    expect((await fetch(new URL("/nope", chat.url))).status).toBe(404)
  })

  it("refuses a WebSocket from a page on another origin", async () => {
    const url = new URL(SWITCHYARD_PATH, chat.url).href.replace(/^http/, "ws")
    const status = await new Promise<number | undefined>((resolve) => {
      const ws = new WebSocket(url, { origin: "http://evil.example" })
      ws.on("unexpected-response", (_request, response) => resolve(response.statusCode))
      ws.on("open", () => resolve(undefined))
      ws.on("error", () => {})
    })
    expect(status).toBe(403)
  })

  it("lets two users join a room, see who is online, chat, and leave", async () => {
    const ann = connect()
    const bob = connect()

    const annIn = join(ann, "lobby", "ann")
    expect((await annIn.next()).value).toEqual(["ann"])

    const bobHeard: Message[] = []
    const presence: PresenceEvent[] = []
    bob.topics.room("lobby").subscribe((message) => bobHeard.push(message))
    bob.topics.presence("lobby").subscribe((event) => presence.push(event))
    await waitFor(
      () =>
        chat.switchyard.topics.room("lobby").subscribers === 1 &&
        chat.switchyard.topics.presence("lobby").subscribers === 1,
    )

    const bobIn = join(bob, "lobby", "bob")
    expect((await bobIn.next()).value).toEqual(["ann", "bob"])
    expect((await annIn.next()).value).toEqual(["ann", "bob"])
    expect(await ann.rpc.who({ room: "lobby" })).toEqual(["ann", "bob"])

    const sent = await ann.rpc.say({ room: "lobby", text: "hi bob" })
    expect(sent).toMatchObject({ user: "ann", text: "hi bob" })
    expect(sent.at).toBeInstanceOf(Date)
    await waitFor(() => bobHeard.length === 1)
    expect(bobHeard[0]).toEqual(sent)
    expect(await bob.rpc.history({ room: "lobby" })).toEqual([sent])

    // Ending the stream is leaving the room.
    await annIn.return?.()
    expect((await bobIn.next()).value).toEqual(["bob"])
    expect(await bob.rpc.who({ room: "lobby" })).toEqual(["bob"])
    await waitFor(() => presence.length === 2)
    expect(presence.map((e) => `${e.user} ${e.kind}`)).toEqual(["bob joined", "ann left"])
    expect(presence[0]?.at).toBeInstanceOf(Date)
  })

  it("refuses taken names, outsiders' messages and invalid input; a closed session frees its seat", async () => {
    const dave = connect()
    const eve = connect()

    // Leaving and coming back under the same name at once works: the seat is freed on the CANCEL itself.
    const first = join(dave, "kitchen", "dave")
    expect((await first.next()).value).toEqual(["dave"])
    await first.return?.()
    const daveIn = join(dave, "kitchen", "dave")
    expect((await daveIn.next()).value).toEqual(["dave"])

    const taken = await rejection(join(eve, "kitchen", "dave").next())
    expect(isFailure<JoinRefused>(taken) && taken.data).toEqual({ _tag: "NameTaken", user: "dave" })

    const outsider = await rejection(eve.rpc.say({ room: "kitchen", text: "let me in" }))
    expect(isFailure(outsider) && outsider.data).toEqual({ _tag: "NotJoined", room: "kitchen" })

    expect((await rejection(dave.rpc.say({ room: "kitchen", text: "   " }))).code).toBe("INVALID_INPUT")
    expect((await rejection(dave.rpc.say({ room: "kitchen", text: "x".repeat(501) }))).code).toBe("INVALID_INPUT")
    expect((await rejection(eve.rpc.who({ room: "Not A Room" }))).code).toBe("INVALID_INPUT")
    expect((await rejection(join(eve, "kitchen", " eve").next())).code).toBe("INVALID_INPUT")

    // Only the server publishes on the topics.
    const forged = { id: 1, user: "dave", text: "forged", at: new Date() }
    expect((await rejection(eve.topics.room("kitchen").publish(forged))).code).toBe("FORBIDDEN")

    await dave.close()
    await waitFor(() => chat.rooms.who("kitchen").length === 0, 2000, "dave's seat to be freed")
    const eveIn = join(eve, "kitchen", "dave")
    expect((await eveIn.next()).value).toEqual(["dave"])
  })
})
