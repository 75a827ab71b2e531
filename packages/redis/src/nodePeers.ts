/** What this node knows of another (or of itself): which process it is, and the numbers between them. */
export interface Peer {
  /** The incarnation of the process: random per process, so that one restarted under the same id is new. */
  readonly incarnation: string
  /** The last number sent to this incarnation. */
  sent: number
  /** The last number heard from it; `-1` after it was declared gone: take the next one as it comes. */
  heard: number
  /** A message to it was lost: this node owes it a reset (sent once Redis takes messages again). */
  owed: boolean
  /** Its listeners were told it gone for messages lost, until a reset reaches it: told once per loss. */
  told: boolean
}
/**
 * The processes a node knows under each node id (a part of `RedisNodes`): the current incarnation of
 * each, with the numbers between the two, and a few it replaced (late messages from those are dropped).
 */
export class Peers {
  readonly #peers = new Map<string, Peer>()
  /** Incarnations replaced by a newer one, per node id. */
  readonly #former = new Map<string, string[]>()

  get(id: string): Peer | undefined {
    return this.#peers.get(id)
  }

  all(): IterableIterator<[string, Peer]> {
    return this.#peers.entries()
  }

  /**
   * Node `id` is named as `incarnation` (by a message, a heartbeat or a join): a new incarnation is a new
   * process under that id, and `replaced` the one known before. `peer` is `undefined` for an incarnation
   * already replaced (a late message of an earlier process).
   */
  learn(id: string, incarnation: string): { readonly peer: Peer | undefined; readonly replaced?: Peer } {
    const known = this.#peers.get(id)
    if (known?.incarnation === incarnation) return { peer: known }
    const former = this.#former.get(id) ?? []
    if (former.includes(incarnation)) return { peer: undefined }
    const peer: Peer = { incarnation, sent: 0, heard: 0, owed: false, told: false }
    this.#peers.set(id, peer)
    if (!known) return { peer }
    // A few are enough: a process restarted many times over sends nothing late from the early ones.
    this.#former.set(id, [...former.slice(-3), known.incarnation])
    return { peer, replaced: known }
  }
}
