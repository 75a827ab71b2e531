import { type ChatClient, ChatError, type Message } from "./chat.ts"

/** Connects a client of one version of the app: `connectBefore` or `connectAfter`, bound to its server's URL. */
export type Connect = (token: string) => Promise<ChatClient>

/**
 * What each user saw, in order: messages as `room#id user: text`, replies and refusals; under
 * `<user> connection`, its connection events.
 */
export type Transcript = Record<string, string[]>

const line = (m: Message) => `${m.room}#${m.id} ${m.user}: ${m.text}`

/**
 * One conversation, run the same way against either version: a refused token, rooms, acknowledgements,
 * a refusal before joining, a broadcast that only the room hears, a dropped connection that recovers
 * what it missed, and the history a latecomer gets. Resolves with what each user saw.
 */
export async function runScenario(connect: Connect): Promise<Transcript> {
  const seen: Transcript = { alice: [], bob: [], carol: [], dave: [], server: [] }
  const clients: ChatClient[] = []
  const settle = async (user: string, count: number) => {
    const deadline = Date.now() + 5000
    while ((seen[user]?.length ?? 0) < count) {
      if (Date.now() > deadline) throw new Error(`${user} saw ${JSON.stringify(seen[user])}, expected ${count} lines`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  try {
    await connect("t-mallory").then(
      () => seen.server?.push("mallory connected"),
      (error: unknown) =>
        seen.server?.push(`mallory refused: ${error instanceof ChatError ? error.code : String(error)}`),
    )
    const connected = async (user: string) => {
      const client = await connect(`t-${user}`)
      clients.push(client)
      client.onMessage((m) => seen[user]?.push(line(m)))
      // Kept apart from the messages: Socket.IO replays what was missed before its "connect", Switchyard
      // after its "session" event; either way each missed message arrives once, in order.
      client.onConnection((event) => {
        seen[`${user} connection`] = [...(seen[`${user} connection`] ?? []), event]
      })
      return client
    }
    const [alice, bob, carol] = [await connected("alice"), await connected("bob"), await connected("carol")]
    await Promise.all([alice.join("lobby"), bob.join("lobby"), carol.join("garden")])

    // Acknowledgement: the message as the server stamped it. A room's messages reach its members only.
    seen.alice?.push(`ack ${line(await alice.say("lobby", "hello"))}`)
    await bob.say("garden", "psst").catch((error: unknown) => seen.bob?.push(`refused: ${(error as Error).message}`))
    seen.carol?.push(`ack ${line(await carol.say("garden", "anyone?"))}`)
    await Promise.all([settle("alice", 2), settle("bob", 2), settle("carol", 2)])

    // Bob's connection drops; Alice talks meanwhile; Bob comes back and gets what he missed, once.
    const down = new Promise<void>((resolve) => bob.onConnection((e) => e === "down" && resolve()))
    bob.drop()
    await down
    await alice.say("lobby", "while you were away")
    await settle("bob", 3)
    seen.bob?.push(`ack ${line(await bob.say("lobby", "back"))}`)
    await Promise.all([settle("alice", 4), settle("bob", 5), settle("bob connection", 2)])

    // A latecomer gets the room's history in the join reply.
    const dave = await connected("dave")
    for (const m of await dave.join("lobby")) seen.dave?.push(`history ${line(m)}`)
    // Nothing more arrives: no message was delivered twice.
    await new Promise((resolve) => setTimeout(resolve, 150))
    return seen
  } finally {
    await Promise.all(clients.map((c) => c.close()))
  }
}
