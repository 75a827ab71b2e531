import type { Player } from "./contract.ts"

interface Seat {
  readonly match: string
  readonly player: Player
  readonly sessionId: string
  readonly peerId: string
}

/** Who sits where: two seats per match, each held by one session until it ends. */
export class Matches {
  private readonly seats = new Map<string, Seat[]>()
  private readonly bySession = new Map<string, Seat>()

  /** Seats the session (again, if it already sits there); `undefined` when both seats are taken. */
  join(match: string, sessionId: string, peerId: string): { player: Player; opponent: string | null } | undefined {
    const seated = (this.seats.get(match) ?? []).filter((s) => s.sessionId !== sessionId)
    if (seated.length >= 2) return undefined
    const player: Player = seated.some((s) => s.player === 1) ? 2 : 1
    const seat: Seat = { match, player, sessionId, peerId }
    this.seats.set(match, [...seated, seat])
    this.bySession.set(sessionId, seat)
    return { player, opponent: seated[0]?.peerId ?? null }
  }

  /** The seat a session holds, if any. */
  seatOf(sessionId: string): Seat | undefined {
    return this.bySession.get(sessionId)
  }

  /** Frees the session's seat: its session ended. */
  leave(sessionId: string): void {
    const seat = this.bySession.get(sessionId)
    if (!seat) return
    this.bySession.delete(sessionId)
    const rest = (this.seats.get(seat.match) ?? []).filter((s) => s.sessionId !== sessionId)
    if (rest.length === 0) this.seats.delete(seat.match)
    else this.seats.set(seat.match, rest)
  }
}
