/**
 * Presence's part of a broker (docs/presence.md): the members of each topic key, on every node, and the
 * changes to them. A node adds and removes only its own sessions; the bus tags each entry with the node
 * that added it, so that the entries of a node that dies can be removed by the others (the memory bus:
 * `MemoryPresence.drop`; Redis: node liveness keys and a sweeper, docs/presence.md).
 */

/** One member of a key: a session id and its data as JSON text (validated and encoded once, at join). */
export interface PresenceEntry {
  readonly id: string
  readonly data: string
}

/** A change to a key's members, as every node watching the key hears it. */
export interface PresenceChange {
  readonly kind: "join" | "leave"
  readonly entry: PresenceEntry
}

type Awaitable<T> = T | PromiseLike<T>

/** One node's view of the presence bus. */
export interface PresenceBus {
  /** This node's id: what its entries are tagged with. */
  readonly nodeId: string
  /**
   * Adds a member of this node to a key (or replaces the data of one already there). Resolves false,
   * and adds nothing, when the key already has `max` members (docs/limits.md#maxpresenceperkey).
   */
  join(topic: string, key: string, entry: PresenceEntry, max: number): Awaitable<boolean>
  /** Removes a member of this node from a key; nothing when it is not there. */
  leave(topic: string, key: string, id: string): Awaitable<void>
  /** The members of a key, on every node, in the order they joined. */
  list(topic: string, key: string): Awaitable<readonly PresenceEntry[]>
  /**
   * Hears each join and leave of a key, made on any node, in the order the bus applied them. Returns the
   * function that stops. A node watches only the keys it has watchers for.
   */
  watch(topic: string, key: string, listener: (change: PresenceChange) => void): () => void
}
