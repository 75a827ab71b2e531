import { waitFor } from "@switchyard/core/testing"
import { type Broker, memoryCluster } from "@switchyard/server-node"
import { describe, expect, it } from "vitest"
import { within } from "./support/fleet.ts"
import { latch } from "./support/latch.ts"
import { SessionClusterFixture } from "./support/sessionCluster.ts"

// Issue 11: a PRESENCE request (the members of a key) waits for its policy and for the bus's list; a
// session handed over to another node meanwhile left its answer behind, where the session had no link
// any more, and the client's `presence()` never settled. The request now moves with the session, as a
// SUBSCRIBE still waiting does, and is answered by the new owner. (Found while chasing the flaky presence
// case of the Chromium cluster contract file, whose cause was another: issue-11-lost-poll-response.)
describe("a PRESENCE request in flight when its session moves to another node", () => {
  it("is answered once, by the node the session moved to", async () => {
    const cluster = memoryCluster()
    let slowLists = false
    // Once `slowLists`, the bus's lists answer when the test says, as Redis's does late under load;
    // `listing` and `listed` name the nodes whose list began and returned.
    const { opened: moved, open: answerLists } = latch()
    const listing: string[] = []
    const listed: string[] = []
    const slowed = (id: string, broker: Broker): Broker => {
      const { presence } = broker
      const list = presence.list.bind(presence)
      presence.list = async (topic, key) => {
        if (!slowLists) return list(topic, key)
        listing.push(id)
        await moved
        try {
          return await list(topic, key)
        } finally {
          listed.push(id)
        }
      }
      return broker
    }
    await using fixture = await SessionClusterFixture.start({ broker: (id) => slowed(id, cluster.broker(id)) })
    const client = await fixture.client("websocket")
    const sessionId = client.sessionId
    const joins: string[] = []
    client.topics.lobby("k").subscribe(() => {}, { presence: { join: (m) => void joins.push(m.id) } })
    await waitFor(() => joins.length === 1, 3000, "this client's own join")
    const owner = fixture.nodes.find((n) => n.server.sessionCount === 1)
    if (!owner) throw new Error("no owner")
    const answers: string[][] = []
    slowLists = true
    const answered = client.topics
      .lobby("k")
      .presence()
      .then((members) => void answers.push(members.map((m) => m.id)))
    // The request is on the owner, waiting for the list; the session moves to another node.
    await waitFor(() => listing.includes(owner.id), 5000, "the owner's list")
    fixture.balancer.remove(owner.port)
    fixture.proxy.drop()
    await waitFor(() => client.state === "connected" && owner.server.sessionCount === 0, 5000, "the move")
    answerLists()
    await within(answered, 5000, "the answer to presence()")
    // Long enough, once the old node's list has returned, for an answer left behind there to arrive as well.
    await waitFor(() => listed.includes(owner.id), 5000, "the old owner's list")
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(answers).toEqual([[sessionId]])
    expect(client.sessionId).toBe(sessionId)
    slowLists = false
    expect((await client.topics.lobby("k").presence()).map((m) => m.id)).toEqual([sessionId])
  })
})
