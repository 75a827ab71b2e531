import type { ConnectionInfo } from "@switchyard/core"
import type { ServerLimits } from "./limits.ts"
import { ConnectionRate } from "./rateLimit.ts"
import type { SessionQuota } from "./sessionQuota.ts"

/** A session as its accounts know it: by object, with the auth it holds now. */
interface Accounted {
  readonly auth: unknown
}

/**
 * What a session is held to beyond one connection, kept with the session across its connections and
 * across a hand-over that fails: its frame rate (docs/limits.md#connections-and-messages), its count
 * against its address and identity (`SessionQuota`, docs/limits.md#sessions), and its identity, which a
 * resume must match (docs/sessions.md#credentials).
 */
export class SessionAccounts {
  /** Each session's frame rate: a resume goes on with what its last connection left, no fresh burst. */
  private readonly rates = new WeakMap<Accounted, ConnectionRate>()

  constructor(
    private readonly limits: ServerLimits,
    private readonly quota: SessionQuota | undefined,
    private readonly identify: ((auth: unknown) => string | undefined) | undefined,
  ) {}

  /** The frame rate of `session`, shared by its connections; made on its first frame. */
  rateOf(session: Accounted): ConnectionRate {
    let rate = this.rates.get(session)
    if (!rate) {
      rate = new ConnectionRate(this.limits)
      this.rates.set(session, rate)
    }
    return rate
  }

  /**
   * Why a resume of `session` on a connection with `info` is refused, if it is: with `identify`, the
   * connection's identity must be the session's. A session taken over from another node starts counting
   * here, against this connection's address and identity.
   */
  resume(session: Accounted, info: ConnectionInfo): string | undefined {
    const identity = this.identify?.(info.auth)
    if (this.identify && identity !== this.identify(session.auth)) {
      return "these credentials are not the session's identity: a session resumes only for its own"
    }
    if (this.quota && !this.quota.holds(session)) this.quota.hold(session, info.remoteAddress, identity)
    return undefined
  }

  /** A hand-over failed: `session`, put back as a new object, goes on where `previous` was. */
  putBack(previous: Accounted, session: Accounted): void {
    this.quota?.transfer(previous, session)
    const rate = this.rates.get(previous)
    if (rate) this.rates.set(session, rate)
  }

  /** `session` ended, or another node confirmed it holds it now: it counts here no longer. */
  release(session: object): void {
    this.quota?.release(session)
  }
}
