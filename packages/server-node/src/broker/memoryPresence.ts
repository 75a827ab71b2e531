import type { NodeBus } from "./nodeBus.ts"
import type { PresenceBus, PresenceChange, PresenceEntry } from "./presenceBus.ts"

interface Member {
  readonly entry: PresenceEntry
  readonly node: string
}

interface KeyMembers {
  readonly members: Map<string, Member>
  readonly watchers: Set<(change: PresenceChange) => void>
}

/**
 * An in-process presence bus: the members of every key in one `Map`, shared by every node made with
 * `node()`. `memoryBroker()` uses one privately; the brokers of one `memoryCluster()` share one, so
 * that cluster behaviour is tested without Redis. Changes reach the watchers synchronously, in the
 * order they were made.
 *
 * @example
 * const presence = memoryPresence()
 * const a = presence.node("a")
 * a.join("room", "lobby", { id: "s1", data: '{"name":"Ada"}' }, 100)
 */
export interface MemoryPresence {
  /**
   * A node's bus, tagged `nodeId` (or a new id). With `liveness` (the node's `NodeBus`), the entries of
   * every node it hears is gone are dropped, as `redisPresence` does.
   */
  node(nodeId?: string, liveness?: Pick<NodeBus, "onNodeGone">): PresenceBus
  /**
   * Removes every entry of a node as if it died (each watcher hears a leave), and ignores what the node
   * sends afterwards: the test hook for a killed node. Returns how many entries it removed.
   */
  drop(nodeId: string): number
}

/**
 * Makes a `MemoryPresence`: the presence of topic keys shared by the nodes of one process, without Redis.
 *
 * @example
 * ```ts
 * import { memoryPresence } from "@switchyard/server-node"
 *
 * const presence = memoryPresence()
 * const a = presence.node("a")
 * a.join("room", "lobby", { id: "s1", data: '{"name":"Ada"}' }, 100)
 * presence.drop("a") // node "a" dies: each watcher of "lobby" hears s1 leave
 * ```
 */
export function memoryPresence(): MemoryPresence {
  const topics = new Map<string, Map<string, KeyMembers>>()
  const dead = new Set<string>()
  let nodes = 0

  const state = (topic: string, key: string, create: boolean): KeyMembers | undefined => {
    let byKey = topics.get(topic)
    if (!byKey) {
      if (!create) return undefined
      byKey = new Map()
      topics.set(topic, byKey)
    }
    let members = byKey.get(key)
    if (!members && create) {
      members = { members: new Map(), watchers: new Set() }
      byKey.set(key, members)
    }
    return members
  }
  const prune = (topic: string, key: string, members: KeyMembers) => {
    if (members.members.size > 0 || members.watchers.size > 0) return
    const byKey = topics.get(topic)
    byKey?.delete(key)
    if (byKey?.size === 0) topics.delete(topic)
  }
  const tell = (members: KeyMembers, change: PresenceChange) => {
    for (const watcher of [...members.watchers]) watcher(change)
  }

  const presence: MemoryPresence = {
    node(nodeId = `memory-${++nodes}`, liveness) {
      // Every node hears of a death; the first to drop the dead node's entries tells their leaves.
      liveness?.onNodeGone((node, why) => why === "gone" && presence.drop(node))
      return {
        nodeId,
        join(topic, key, entry, max) {
          if (dead.has(nodeId)) return false
          const members = state(topic, key, true) as KeyMembers
          const held = members.members.get(entry.id)
          if (!held && members.members.size >= max) return false
          members.members.set(entry.id, { entry, node: nodeId })
          if (held?.entry.data !== entry.data) tell(members, { kind: "join", entry })
          return true
        },
        leave(topic, key, id) {
          const members = state(topic, key, false)
          const held = members?.members.get(id)
          if (!members || !held || held.node !== nodeId) return
          members.members.delete(id)
          tell(members, { kind: "leave", entry: held.entry })
          prune(topic, key, members)
        },
        list(topic, key) {
          return [...(state(topic, key, false)?.members.values() ?? [])].map((m) => m.entry)
        },
        watch(topic, key, listener) {
          const members = state(topic, key, true) as KeyMembers
          members.watchers.add(listener)
          return () => {
            members.watchers.delete(listener)
            prune(topic, key, members)
          }
        },
      }
    },
    drop(nodeId) {
      dead.add(nodeId)
      let removed = 0
      for (const [topic, byKey] of [...topics]) {
        for (const [key, members] of [...byKey]) {
          for (const [id, member] of [...members.members]) {
            if (member.node !== nodeId) continue
            members.members.delete(id)
            removed++
            tell(members, { kind: "leave", entry: member.entry })
          }
          prune(topic, key, members)
        }
      }
      return removed
    },
  }
  return presence
}
