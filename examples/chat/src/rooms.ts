import type { Message } from "./contract.ts"

export interface RoomsOptions {
  /** Messages kept per room for `history`. */
  readonly historyLength?: number
  /** Rooms whose history is kept; past it the least recently active room's history is dropped. */
  readonly maxRooms?: number
  /** How long a claimed name waits for its session's subscription to `online(room)`. Default 30 s. */
  readonly claimTtlMs?: number
}

/**
 * Each room's recent messages, and the names sessions claimed (`rpc.join`) until their subscription
 * to `online(room)` lists them. Who is online is not kept here: it is the topic's presence, shared by
 * every node (docs/presence.md). History is this process's memory.
 */
export class Rooms {
  private readonly histories = new Map<string, Message[]>()
  /** `<sessionId> <room>` → the name that session claimed there. */
  private readonly claims = new Map<string, { readonly user: string }>()
  private nextId = 1
  private readonly historyLength: number
  private readonly maxRooms: number
  private readonly claimTtlMs: number

  constructor(options: RoomsOptions = {}) {
    this.historyLength = options.historyLength ?? 100
    this.maxRooms = options.maxRooms ?? 1000
    this.claimTtlMs = options.claimTtlMs ?? 30_000
  }

  /** Records that `sessionId` is about to be listed in `room` as `user`. */
  claim(room: string, user: string, sessionId: string): void {
    const key = `${sessionId} ${room}`
    const claim = { user }
    this.claims.set(key, claim)
    // The subscription follows at once; a claim nobody used is forgotten.
    setTimeout(() => this.claims.get(key) === claim && this.claims.delete(key), this.claimTtlMs).unref()
  }

  /** The name `sessionId` claimed in `room`, if it did. */
  claimed(room: string, sessionId: string): string | undefined {
    return this.claims.get(`${sessionId} ${room}`)?.user
  }

  /** Stamps and stores a message; the caller publishes it. */
  record(room: string, user: string, text: string): Message {
    const message: Message = { id: this.nextId++, user, text, at: new Date() }
    let history = this.histories.get(room)
    if (history) this.histories.delete(room)
    else history = []
    // Re-inserting keeps the Map in least-recently-active order, so the first key is the one to drop.
    this.histories.set(room, history)
    history.push(message)
    if (history.length > this.historyLength) history.splice(0, history.length - this.historyLength)
    if (this.histories.size > this.maxRooms) this.histories.delete(this.histories.keys().next().value as string)
    return message
  }

  history(room: string): readonly Message[] {
    return this.histories.get(room) ?? []
  }
}
