import { isIP } from "node:net"
import type { ErrorCode } from "@switchyard/core"
import { addressKey } from "./clientAddress.ts"
import type { ServerLimits } from "./limits.ts"
import { TokenBucket } from "./rateLimit.ts"

/** Why a new session was refused: the code and message of the HELLO's BYE (or of the opening POST's answer). */
export interface SessionRefusal {
  readonly code: ErrorCode
  readonly message: string
}

/** Whom a session counts against. */
interface Holder {
  readonly address: string | undefined
  readonly identity: string | undefined
}

/**
 * The bounds on new sessions beyond `maxSessions` (docs/limits.md#sessions): sessions held per client
 * address and per identity (`identify(auth)`), and new sessions per address over time (a token bucket).
 * One address flooding HELLOs is refused on its own, and nobody else notices.
 *
 * Addresses are counted by `addressKey` (IPv6 by prefix); only real IP addresses are counted: a link that
 * came over no network (the in-memory transport) has none.
 */
export class SessionQuota {
  private readonly perAddress = new Map<string, number>()
  private readonly perIdentity = new Map<string, number>()
  /** New-session buckets by address key; a full bucket is the same as none, and is swept out. */
  private readonly arrivals = new Map<string, TokenBucket>()
  private sweepAt = SWEEP_FLOOR
  /** Whom each session counts against: its address key alone (most sessions: no identity), or both. */
  private readonly holders = new Map<object, Holder | string>()

  constructor(private readonly limits: ServerLimits) {}

  /**
   * Whether a new session for a client at `address` (with `identity`, when the server has `identify`)
   * may start. When it may, a new-session token of its address is spent: call `hold` with the session.
   */
  admit(address: string | undefined, identity: string | undefined): SessionRefusal | undefined {
    const { maxSessionsPerIdentity, maxSessionsPerIp, newSessionsPerSecondPerIp, newSessionBurstPerIp } = this.limits
    if (identity !== undefined && (this.perIdentity.get(identity) ?? 0) >= maxSessionsPerIdentity) {
      return { code: "TOO_MANY_SESSIONS", message: `more than ${maxSessionsPerIdentity} sessions of one identity` }
    }
    const key = this.keyOf(address)
    if (key === undefined) return undefined
    if ((this.perAddress.get(key) ?? 0) >= maxSessionsPerIp) {
      return { code: "TOO_MANY_SESSIONS", message: `more than ${maxSessionsPerIp} sessions from one address` }
    }
    let bucket = this.arrivals.get(key)
    if (!bucket) {
      if (this.arrivals.size >= this.sweepAt) this.sweep()
      bucket = new TokenBucket(newSessionsPerSecondPerIp, newSessionBurstPerIp)
      this.arrivals.set(key, bucket)
    }
    if (bucket.level() < 1) {
      return {
        code: "RATE_LIMITED",
        message: `more than ${newSessionsPerSecondPerIp} new sessions a second from one address; retry later`,
      }
    }
    bucket.take(1)
    return undefined
  }

  /** Counts `session` against its address and identity until `release`. */
  hold(session: object, address: string | undefined, identity: string | undefined): void {
    const key = this.keyOf(address)
    if (key === undefined && identity === undefined) return
    if (key !== undefined) this.perAddress.set(key, (this.perAddress.get(key) ?? 0) + 1)
    if (identity !== undefined) this.perIdentity.set(identity, (this.perIdentity.get(identity) ?? 0) + 1)
    this.holders.set(session, identity === undefined && key !== undefined ? key : { address: key, identity })
  }

  /** Whether `session` is counted (against an address or an identity). */
  holds(session: object): boolean {
    return this.holders.has(session)
  }

  /** `to` (a session put back after a hand-over that failed) counts where `from`, its earlier object, did. */
  transfer(from: object, to: object): void {
    const holder = this.holders.get(from)
    if (!holder) return
    this.holders.delete(from)
    this.holders.set(to, holder)
  }

  /** `session` ended, or left this node: it counts no longer. */
  release(session: object): void {
    const holder = this.holders.get(session)
    if (holder === undefined) return
    this.holders.delete(session)
    if (typeof holder === "string") return decrement(this.perAddress, holder)
    if (holder.address !== undefined) decrement(this.perAddress, holder.address)
    if (holder.identity !== undefined) decrement(this.perIdentity, holder.identity)
  }

  /** Sessions counted against the address of `address` now. */
  heldBy(address: string): number {
    const key = this.keyOf(address)
    return key === undefined ? 0 : (this.perAddress.get(key) ?? 0)
  }

  private keyOf(address: string | undefined): string | undefined {
    if (address === undefined || isIP(address) === 0) return undefined
    return addressKey(address, this.limits.ipv6PrefixBits)
  }

  /** Forgets the buckets that have filled up again; runs when the table has doubled since the last sweep. */
  private sweep(): void {
    const now = performance.now()
    for (const [key, bucket] of this.arrivals) if (bucket.full(now)) this.arrivals.delete(key)
    this.sweepAt = Math.max(SWEEP_FLOOR, this.arrivals.size * 2)
  }
}

/** The new-session buckets are not swept below this many addresses. */
const SWEEP_FLOOR = 1024

function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1
  if (n <= 0) counts.delete(key)
  else counts.set(key, n)
}
