import type { Message } from "./contract.ts"

/** One user's place in one room, held by one session; `leave` is safe to call any number of times. */
export interface Seat {
  readonly room: string
  readonly user: string
  readonly sessionId: string
  leave(): void
}

export type JoinResult =
  | { readonly ok: true; readonly seat: Seat }
  | { readonly ok: false; readonly reason: "NameTaken" | "AlreadyJoined"; readonly user: string }

export interface RoomsOptions {
  /** Messages kept per room for `history`. */
  readonly historyLength?: number
  /** Rooms whose history is kept; past it the least recently active room's history is dropped. */
  readonly maxRooms?: number
  /** Told when a user arrives in or leaves a room (the server publishes it on `topics.presence`). */
  readonly onPresence?: (room: string, kind: "joined" | "left", user: string) => void
}

interface RoomState {
  /** user → the seat holding that name. */
  readonly seats: Map<string, Seat>
  /** Bumped on every join and leave, so a watcher that looked at version n knows whether it missed one. */
  version: number
  readonly waiters: Set<() => void>
}

/**
 * Who is online in each room, and each room's recent messages. All in memory: one server process.
 * A name is unique within a room; a session holds at most one seat per room.
 */
export class Rooms {
  private readonly rooms = new Map<string, RoomState>()
  private readonly histories = new Map<string, Message[]>()
  private nextId = 1
  private readonly historyLength: number
  private readonly maxRooms: number

  constructor(private readonly options: RoomsOptions = {}) {
    this.historyLength = options.historyLength ?? 100
    this.maxRooms = options.maxRooms ?? 1000
  }

  join(room: string, user: string, sessionId: string): JoinResult {
    const state = this.state(room)
    const holder = state.seats.get(user)
    if (holder) return { ok: false, reason: holder.sessionId === sessionId ? "AlreadyJoined" : "NameTaken", user }
    const mine = this.seatOf(room, sessionId)
    if (mine) return { ok: false, reason: "AlreadyJoined", user: mine.user }
    const seat: Seat = {
      room,
      user,
      sessionId,
      leave: () => {
        if (state.seats.get(user) !== seat) return
        state.seats.delete(user)
        this.changed(state)
        this.prune(room, state)
        this.options.onPresence?.(room, "left", user)
      },
    }
    state.seats.set(user, seat)
    this.changed(state)
    this.options.onPresence?.(room, "joined", user)
    return { ok: true, seat }
  }

  /** The names online in a room, sorted. */
  who(room: string): string[] {
    return [...(this.rooms.get(room)?.seats.keys() ?? [])].sort((a, b) => a.localeCompare(b))
  }

  /** The seat a session holds in a room, if any. */
  seatOf(room: string, sessionId: string): Seat | undefined {
    for (const seat of this.rooms.get(room)?.seats.values() ?? []) if (seat.sessionId === sessionId) return seat
    return undefined
  }

  /** The room's version now; pass it to `changedSince` to wait for the next join or leave. */
  version(room: string): number {
    return this.rooms.get(room)?.version ?? 0
  }

  /**
   * Resolves true once the room's version differs from `seen` (at once if it already does), or false
   * when `signal` aborts. Changes that happen while nobody waits are not lost: the version moved.
   */
  changedSince(room: string, seen: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false)
    const state = this.state(room)
    if (state.version !== seen) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (changed: boolean) => {
        state.waiters.delete(wake)
        signal.removeEventListener("abort", stop)
        this.prune(room, state)
        resolve(changed)
      }
      const wake = () => done(true)
      const stop = () => done(false)
      state.waiters.add(wake)
      signal.addEventListener("abort", stop, { once: true })
    })
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

  private state(room: string): RoomState {
    const existing = this.rooms.get(room)
    if (existing) return existing
    const state: RoomState = { seats: new Map(), version: 0, waiters: new Set() }
    this.rooms.set(room, state)
    return state
  }

  /** Forgets a room nobody sits in or waits on. */
  private prune(room: string, state: RoomState): void {
    if (state.seats.size === 0 && state.waiters.size === 0 && this.rooms.get(room) === state) this.rooms.delete(room)
  }

  private changed(state: RoomState): void {
    state.version++
    for (const wake of [...state.waiters]) wake()
  }
}
