import { createClient, type WebSocketConstructor } from "@switchyard/client-browser/all"
import { type Client, isFailure, SwitchyardError } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { Chat, type JoinRefused, type Message } from "./contract.ts"
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

interface InRoom {
  /** Who was online when the name was claimed. */
  readonly before: readonly string[]
  /** `<user> joined` / `<user> left`, as this client hears them (the members already there first). */
  readonly events: string[]
  leave(): void
}

/** Claims the name, then subscribes to `online(room)`: being listed there is being in the room. */
async function join(client: Client<Chat>, room: string, user: string): Promise<InRoom> {
  const before = await client.rpc.join({ room, user })
  const events: string[] = []
  const leave = client.topics.online(room).subscribe(() => {}, {
    presence: { join: (m) => events.push(`${m.data.user} joined`), leave: (m) => events.push(`${m.data.user} left`) },
  })
  return { before, events, leave }
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

    const annIn = await join(ann, "lobby", "ann")
    expect(annIn.before).toEqual([])
    await waitFor(() => annIn.events.length === 1, 5000, "ann listed")
    expect(await ann.rpc.who({ room: "lobby" })).toEqual(["ann"])

    const bobHeard: Message[] = []
    bob.topics.room("lobby").subscribe((message) => bobHeard.push(message))
    await waitFor(() => chat.switchyard.topics.room("lobby").subscribers === 1)

    const bobIn = await join(bob, "lobby", "bob")
    expect(bobIn.before).toEqual(["ann"])
    await waitFor(() => annIn.events.length === 2, 5000, "ann hears bob")
    expect(annIn.events).toEqual(["ann joined", "bob joined"])
    expect(await ann.rpc.who({ room: "lobby" })).toEqual(["ann", "bob"])

    const sent = await ann.rpc.say({ room: "lobby", text: "hi bob" })
    expect(sent).toMatchObject({ user: "ann", text: "hi bob" })
    expect(sent.at).toBeInstanceOf(Date)
    await waitFor(() => bobHeard.length === 1)
    expect(bobHeard[0]).toEqual(sent)
    expect(await bob.rpc.history({ room: "lobby" })).toEqual([sent])

    // Unsubscribing is leaving the room.
    annIn.leave()
    await waitFor(() => bobIn.events.length === 3, 5000, "bob hears ann leave")
    expect(bobIn.events).toEqual(["ann joined", "bob joined", "ann left"])
    expect(await bob.rpc.who({ room: "lobby" })).toEqual(["bob"])
  })

  it("refuses taken names, outsiders' messages and invalid input; a closed session frees its seat", async () => {
    const dave = connect()
    const eve = connect()

    // Leaving and coming back under the same name at once works: the UNSUBSCRIBE comes before the join.
    const first = await join(dave, "kitchen", "dave")
    await waitFor(() => first.events.length === 1, 5000, "dave listed")
    first.leave()
    const daveIn = await join(dave, "kitchen", "dave")
    await waitFor(() => daveIn.events.length === 1, 5000, "dave listed again")

    const taken = await rejection(eve.rpc.join({ room: "kitchen", user: "dave" }))
    expect(isFailure<JoinRefused>(taken) && taken.data).toEqual({ _tag: "NameTaken", user: "dave" })
    const twice = await rejection(dave.rpc.join({ room: "kitchen", user: "david" }))
    expect(isFailure<JoinRefused>(twice) && twice.data).toEqual({ _tag: "AlreadyJoined", user: "dave" })

    const outsider = await rejection(eve.rpc.say({ room: "kitchen", text: "let me in" }))
    expect(isFailure(outsider) && outsider.data).toEqual({ _tag: "NotJoined", room: "kitchen" })

    expect((await rejection(dave.rpc.say({ room: "kitchen", text: "   " }))).code).toBe("INVALID_INPUT")
    expect((await rejection(dave.rpc.say({ room: "kitchen", text: "x".repeat(501) }))).code).toBe("INVALID_INPUT")
    expect((await rejection(eve.rpc.who({ room: "Not A Room" }))).code).toBe("INVALID_INPUT")
    expect((await rejection(eve.rpc.join({ room: "kitchen", user: " eve" }))).code).toBe("INVALID_INPUT")

    // Only the server publishes on the topics.
    const forged = { id: 1, user: "dave", text: "forged", at: new Date() }
    expect((await rejection(eve.topics.room("kitchen").publish(forged))).code).toBe("FORBIDDEN")

    const left: string[] = []
    chat.switchyard.topics.online("kitchen").onPresence((e) => e.kind === "leave" && left.push(e.member.data.user))
    await dave.close()
    await waitFor(() => left.length === 1, 2000, "dave's seat to be freed")
    expect(await eve.rpc.who({ room: "kitchen" })).toEqual([])
    const eveIn = await join(eve, "kitchen", "dave")
    expect(eveIn.before).toEqual([])
  })
})
