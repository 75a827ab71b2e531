import { createClient, type WebSocketConstructor } from "@switchyard/client-browser/all"
import type { Client } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { redisBroker } from "@switchyard/redis"
import { afterAll, beforeAll, expect, it } from "vitest"
import WebSocket from "ws"
import { RoundRobinProxy } from "../../../packages/tests/src/support/cluster/roundRobin.ts"
import { RedisServer } from "../../../packages/tests/src/support/redisServer.ts"
import { Chat, type Message } from "./contract.ts"
import { type ChatServer, SWITCHYARD_PATH, startChatServer } from "./server.ts"

/** What `pnpm demo:cluster` (cluster.mjs) starts: redis-server, two chat nodes on Redis, the round-robin proxy. */
let redis: RedisServer
let proxy: RoundRobinProxy
const nodes: ChatServer[] = []
const clients: Client<Chat>[] = []

beforeAll(async () => {
  redis = await RedisServer.start()
  for (let i = 0; i < 2; i++) {
    nodes.push(await startChatServer({ host: "127.0.0.1", switchyard: { broker: redisBroker({ url: redis.url }) } }))
  }
  proxy = await RoundRobinProxy.start(nodes.map((node) => node.port))
})

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  // Each BYE reaches its node before the proxy goes: a node closing with sessions would wait to hand them over.
  await waitFor(() => nodes.every((n) => n.switchyard.sessionCount === 0), 5000, "the sessions to end")
  await proxy?.[Symbol.asyncDispose]()
  await Promise.all(nodes.map((node) => node.close()))
  await redis?.[Symbol.asyncDispose]()
})

it("on two nodes behind the round robin, what one user says reaches a user on the other node", async () => {
  expect((await fetch(proxy.url)).status).toBe(200)
  const connect = () => {
    const client = createClient(Chat, {
      url: `${proxy.url}${SWITCHYARD_PATH}`,
      transports: ["websocket"],
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    })
    clients.push(client)
    return client
  }
  // The proxy deals each new WebSocket to the next node: ann on one, bob on the other.
  const ann = connect()
  await waitFor(() => nodes.some((n) => n.switchyard.sessionCount === 1), 5000, "ann's session")
  const bob = connect()
  await waitFor(() => nodes.every((n) => n.switchyard.sessionCount === 1), 5000, "one session on each node")
  const heard: Message[] = []
  bob.topics.room("lobby").subscribe((m) => void heard.push(m))
  await waitFor(
    () => nodes.some((n) => n.switchyard.topics.room("lobby").subscribers === 1),
    5000,
    "bob's subscription",
  )
  // Ann joins the room: she claims her name and is listed in the room's presence, on every node.
  expect(await ann.rpc.join({ room: "lobby", user: "ann" })).toEqual([])
  ann.topics.online("lobby").subscribe(() => {})
  let listed: string[] = []
  for (let i = 0; listed.length === 0 && i < 50; i++) {
    listed = (await bob.topics.online("lobby").presence()).map((m) => m.data.user)
    if (listed.length === 0) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  // Bob, on the other node, sees ann in the room.
  expect(listed).toEqual(["ann"])
  // Bob's subscription counts on its node before Redis has answered it (nothing says when it has): ann
  // speaks until bob hears, then once more, which bob hears right after.
  for (let i = 0; heard.length === 0 && i < 50; i++) {
    await ann.rpc.say({ room: "lobby", text: "hello from the other node" })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const count = heard.length
  await ann.rpc.say({ room: "lobby", text: "and again" })
  await waitFor(() => heard.length === count + 1, 5000, "bob to hear ann again")
  expect(heard.at(-1)).toMatchObject({ user: "ann", text: "and again" })
  expect(heard[0]).toMatchObject({ user: "ann", text: "hello from the other node" })
})
