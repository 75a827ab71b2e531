import { waitFor } from "@switchyard/core/testing"
import { describe, expect, it } from "vitest"
import { SessionClusterFixture, type TestNode } from "./support/sessionCluster.ts"

/**
 * Presence when sessions move between nodes (docs/presence.md#across-nodes): a member whose WebSocket
 * reconnects to another node is taken over there, listed by the new owner with the same id and data,
 * and nobody hears it leave or join again.
 */

/** Records every join and leave of `lobby(key)` that the app hears on each node. */
function listen(nodes: readonly TestNode[], key: string): Map<string, string[]> {
  const heard = new Map<string, string[]>()
  for (const node of nodes) {
    const events: string[] = []
    heard.set(node.id, events)
    node.server.topics.lobby(key).onPresence(({ kind, member }) => events.push(`${kind} ${member.id}`))
  }
  return heard
}

describe("presence across a take-over (memoryCluster, 3 servers behind a round robin)", () => {
  it("a member whose WebSocket reconnects to another node stays listed once, with no leave and no join", async () => {
    await using cluster = await SessionClusterFixture.start()
    const heard = listen(cluster.nodes, "k")
    const member = await cluster.client("websocket")
    const id = member.sessionId
    const seen: string[] = []
    member.topics.lobby("k").subscribe(() => {}, {
      presence: { join: (m) => seen.push(`join ${m.id}`), leave: (m) => seen.push(`leave ${m.id}`) },
    })
    await waitFor(() => seen.length === 1, 5000, "the member's own join")
    for (const events of heard.values()) expect(events).toEqual([`join ${id}`])
    const owner = cluster.sessionCounts.indexOf(1)
    const data = await cluster.nodes[0]?.server.topics.lobby("k").presence()

    cluster.proxy.drop()
    await waitFor(() => member.state === "connected" && cluster.sessionCounts[owner] === 0, 5000, "the take-over")
    expect(member.sessionId).toBe(id)
    const moved = cluster.sessionCounts.indexOf(1)
    expect(moved).not.toBe(owner)
    for (const node of cluster.nodes) expect(await node.server.topics.lobby("k").presence()).toEqual(data)

    // The previous owner dies: the entry is the new owner's now, so nothing of it is removed.
    cluster.kill(`n${owner + 1}`)
    // Someone joins and leaves: heard after the kill's news, and after any leave or join it caused.
    const other = await cluster.client("websocket")
    const off = other.topics.lobby("k").subscribe(() => {})
    await waitFor(() => seen.length === 2, 5000, "the other's join, on the moved session's watch")
    off()
    await waitFor(() => seen.length === 3, 5000, "the other's leave")
    expect(seen).toEqual([`join ${id}`, `join ${other.sessionId}`, `leave ${other.sessionId}`])
    for (const [node, events] of heard) {
      if (node === `n${owner + 1}`) continue
      await waitFor(() => events.length === 3, 5000, `the other's leave on ${node}`)
      expect(events).toEqual([`join ${id}`, `join ${other.sessionId}`, `leave ${other.sessionId}`])
    }
    const alive = cluster.nodes.filter((n) => n.id !== `n${owner + 1}`)
    for (const node of alive) expect(await node.server.topics.lobby("k").presence()).toEqual(data)

    // The new owner holds the entry: the member's own leave removes it everywhere.
    await member.close()
    for (const node of alive) {
      await waitFor(() => heard.get(node.id)?.length === 4, 5000, `the member's leave on ${node.id}`)
      expect(heard.get(node.id)?.[3]).toBe(`leave ${id}`)
      expect(await node.server.topics.lobby("k").presence()).toEqual([])
    }
  })
})
