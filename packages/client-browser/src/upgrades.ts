import type {
  ClientTransport,
  DecodeOptions,
  Link,
  LinkHeaders,
  ServerOffer,
  Session,
  SignalKind,
  Signalling,
  TransportId,
  TransportOffer,
} from "@switchyard/core"
import { fallback, plan, rememberFailure, rememberSuccess } from "@switchyard/core/negotiation"
import type { NegotiationKit } from "./negotiationKit.ts"
import type { ConnectionSettings } from "./options.ts"
import { type TransportStore, transportStore } from "./transportStore.ts"

/** What the negotiation needs of the connection whose transport it chooses. */
export interface UpgradeHost {
  readonly session: Session
  readonly decode: DecodeOptions
  /** The transport the session is on, or about to open. */
  readonly transport: ClientTransport
  /** The client was closed, or gave up. */
  readonly closed: boolean
  /** The session's link has completed its handshake. */
  readonly handshaken: boolean
  /** The session is moving to a link that passed its probe. */
  readonly switching: boolean
  /** Whether `link` carries the session. */
  carries(link: Link): boolean
  /** A frame on the session's link. */
  receive(transport: ClientTransport, link: Link, data: unknown): void
  /** The session's link closed. */
  linkClosed(code: number, reason: string): void
  /** A probe passed: move the session to `link` (for an upgrade, or to `reauthenticate()`). */
  switchTo(transport: ClientTransport, link: Link, reason?: "upgrade" | "reauthenticated"): void
  /** What a connection opens with: the client's credentials, once loaded (docs/sessions.md#credentials). */
  readonly credentials: { readonly url: string; readonly headers: LinkHeaders | undefined } | undefined
}

/**
 * Which transport carries the session (docs/negotiation.md): where to start (from memory, or the
 * server's offer), probing better transports in the background and handing the first that passes to the
 * connection, and where to fall back when the current one keeps failing. What worked and what failed is
 * remembered in the transport store. The connection loads this module with `import()`, and only when
 * the client was given several transports; it imports types only (`negotiationKit.ts` says why).
 */
export class Upgrades {
  /** The server's offer, once a negotiate answer or a WELCOME carried it. */
  #offer: readonly TransportId[] | undefined
  /** The server's offer in full (ICE servers for WebRTC), once known. */
  #offerDetails: readonly TransportOffer[] = []
  /** The link being probed, if any, and its signalling attempt (WebRTC). */
  #probe: { link: Link; transport: ClientTransport; timer: ReturnType<typeof setTimeout>; attempt: number } | undefined
  #signalAttempts = 0
  /** Where SIGNAL frames from the server go, by attempt. */
  readonly #signalListeners = new Map<number, (kind: SignalKind, data: unknown) => void>()
  #probeCount = 0
  #upgradeTimer: ReturnType<typeof setTimeout> | undefined
  /**
   * Transports that failed to connect since the last handshake. They are skipped when falling back but
   * not remembered: a server that is down fails every transport. Once one connects, the probes find out
   * which of those above it really fail.
   */
  readonly #skipped = new Set<TransportId>()
  /**
   * Transports whose established link was lost and that the session fell back from (WebRTC's channel
   * going), with when they may be probed again: `upgradeRetryMs` later. They are not remembered as failed
   * (one loss says little about the network), but probing one at once would mostly find it lost again.
   */
  readonly #held = new Map<TransportId, number>()
  /** What worked and failed for this server, across page loads when there is storage. */
  readonly #store: TransportStore

  readonly #kit: NegotiationKit

  readonly #options: ConnectionSettings
  readonly #host: UpgradeHost

  constructor(options: ConnectionSettings, host: UpgradeHost, kit: NegotiationKit) {
    this.#options = options
    this.#host = host
    this.#kit = kit
    this.#store = transportStore(
      options.url,
      options.negotiation.storage,
      options.transports.map((t) => t.id),
    )
  }

  /**
   * Where the session starts: the transport that worked last time when the plan starts there (no round
   * trip; WELCOME brings the offer), else what the server's offer plans; undefined when nothing fits.
   */
  async begin(): Promise<ClientTransport | undefined> {
    return this.#remembered() ?? (await this.#negotiate())
  }

  /** The transport that worked last time, when the plan starts there: connect straight to it. */
  #remembered(): ClientTransport | undefined {
    const memory = this.#store.load()
    const start = plan(this.#planInput(undefined, memory)).start
    return start !== undefined && memory.worked?.id === start ? this.#byId(start) : undefined
  }

  /** Asks the server what it offers, then plans: where to start, or undefined when nothing fits. */
  async #negotiate(): Promise<ClientTransport | undefined> {
    const offer = await this.#fetchOffer()
    if (offer) this.learnOffer(offer.transports)
    const start = plan(this.#planInput(this.#offer)).start
    return start === undefined ? undefined : this.#byId(start)
  }

  /**
   * One negotiate request; `undefined` when it fails or takes longer than a probe may (the client then
   * plans without the offer, and WELCOME brings it).
   */
  async #fetchOffer(): Promise<ServerOffer | undefined> {
    const fetchImpl = this.#options.fetch
    if (!fetchImpl) return undefined
    const url = this.#options.url.replace(/^ws(s?):/, "http$1:")
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), this.#options.negotiation.probeTimeoutMs)
    this.#kit.unref(timer)
    try {
      const response = await fetchImpl(`${url}${url.includes("?") ? "&" : "?"}negotiate=1`, {
        cache: "no-store",
        signal: abort.signal,
      })
      if (!response.ok) return undefined
      const offer = (await response.json()) as Partial<ServerOffer>
      return Array.isArray(offer.transports) ? (offer as ServerOffer) : undefined
    } catch {
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  learnOffer(transports: readonly TransportOffer[]): void {
    this.#offerDetails = transports
    this.#offer = transports.map((t) => t.id).filter(this.#kit.isTransportId)
  }

  #planInput(offer: readonly TransportId[] | undefined, memory = this.#store.load()) {
    return {
      supported: this.#options.transports,
      offer,
      prefer: this.#options.prefer,
      memory,
      now: Date.now(),
    }
  }

  #byId(id: TransportId): ClientTransport | undefined {
    return this.#options.transports.find((t) => t.id === id)
  }

  /** A handshake completed on `transport`: remember it worked, forget what merely failed to connect. */
  connected(transport: ClientTransport): void {
    this.#skipped.clear()
    this.#store.update((memory, now) => rememberSuccess(memory, transport.id, now))
  }

  /** `transport` failed to connect: skip it when falling back, without remembering it. */
  skip(transport: ClientTransport): void {
    this.#skipped.add(transport.id)
  }

  /** The session's established link on `transport` was lost, and it falls back: no probe of it for `upgradeRetryMs`. */
  lost(transport: ClientTransport): void {
    this.#held.set(transport.id, Date.now() + this.#options.negotiation.upgradeRetryMs)
  }

  /** Remembers that `transport` failed. */
  forget(transport: ClientTransport): void {
    this.#store.update((memory, now) =>
      rememberFailure(memory, transport.id, now, this.#options.negotiation.rememberFailureMs),
    )
  }

  /**
   * The transport to fall back to from `from`, if any other is left. Falling back cancels a planned
   * upgrade: once settled lower, the client tries to move back up later.
   */
  fallBack(from: ClientTransport): ClientTransport | undefined {
    const memory = this.#store.load()
    const ladder = plan(this.#planInput(this.#offer, memory)).ladder
    const failed = { ...memory.failed }
    for (const id of this.#skipped) failed[id] = Number.POSITIVE_INFINITY
    const transports = ladder.map((id) => this.#byId(id)).filter((t) => t !== undefined)
    const next = fallback(transports, from.id, { memory: { ...memory, failed }, now: Date.now() })
    const transport = next === undefined ? undefined : this.#byId(next)
    if (transport === undefined || transport === from) return undefined
    clearTimeout(this.#upgradeTimer)
    this.#upgradeTimer = undefined
    return transport
  }

  /** Stops for good: no more probes or planned upgrades. */
  stop(): void {
    clearTimeout(this.#upgradeTimer)
    this.endProbe()
  }

  /** A SIGNAL frame from the server, for the attempt it names. */
  signal(attempt: number, kind: SignalKind, data: unknown): void {
    this.#signalListeners.get(attempt)?.(kind, data)
  }

  /** Plans the next upgrade attempt `delayMs` from now (one at a time). */
  schedule(delayMs: number): void {
    if (this.#host.closed || this.#upgradeTimer !== undefined || this.#probe !== undefined) return
    this.#upgradeTimer = setTimeout(() => {
      this.#upgradeTimer = undefined
      this.#tryUpgrade()
    }, delayMs)
    this.#kit.unref(this.#upgradeTimer)
  }

  /** Probes the best transport ranked above the current one and not known to fail, if any. */
  #tryUpgrade(): void {
    if (this.#host.closed || !this.#host.handshaken || this.#probe !== undefined || this.#host.switching) return
    const result = plan(this.#planInput(this.#offer))
    const rank = result.ladder.indexOf(this.#host.transport.id)
    const better = result.upgrades.filter(
      (id) => (rank === -1 || result.ladder.indexOf(id) < rank) && (this.#held.get(id) ?? 0) <= Date.now(),
    )
    const next = better.map((id) => this.#byId(id)).find((t) => t !== undefined)
    if (next === undefined) {
      // Nothing to try now; failures expire (and a lost transport's hold), so look again later if
      // something is better than here.
      if (rank > 0) this.schedule(this.#options.negotiation.upgradeRetryMs)
      return
    }
    this.#startProbe(next)
  }

  #startProbe(transport: ClientTransport): void {
    const nonce = ++this.#probeCount
    const host = this.#host
    let link: Link | undefined
    const mine = () => link !== undefined && this.#probe?.link === link
    // A failed probe (closed, a wrong answer, or no answer in time) is remembered, not reported as an
    // error: the session never left its link.
    const failed = () => {
      if (!mine()) return
      this.endProbe()
      this.forget(transport)
      this.schedule(0)
    }
    const events = this.#kit.linkEvents(host, transport, () => link, {
      open: () => {
        if (mine()) link?.send(this.#kit.control.probe(nonce))
      },
      frame: (data: unknown) => {
        if (!mine()) return
        // Anything but the echo fails the probe, whatever a PEER frame's data: it need not be checked.
        const decoded = this.#kit.decode(data, host.decode, anyData, anyData)
        if (decoded.ok && decoded.frame[0] === this.#kit.PROBE && decoded.frame[1] === nonce) {
          return this.#passed(transport, link as Link)
        }
        failed()
      },
      close: failed,
    })
    const attempt = transport.signalled ? ++this.#signalAttempts : 0
    try {
      const signalling = attempt ? this.#signalling(transport, attempt) : undefined
      const credentials = this.#host.credentials
      link = transport.connect(credentials?.url ?? this.#options.url, events, signalling, credentials?.headers)
    } catch {
      this.#signalListeners.delete(attempt)
      this.forget(transport)
      return this.schedule(0)
    }
    const timer = setTimeout(failed, transport.probeTimeoutMs ?? this.#options.negotiation.probeTimeoutMs)
    this.#kit.unref(timer)
    this.#probe = { link, transport, timer, attempt }
  }

  /** The probe on `link` passed: the connection moves the session there. */
  #passed(transport: ClientTransport, link: Link): void {
    const probe = this.#probe
    if (!probe || probe.link !== link) return
    clearTimeout(probe.timer)
    this.#probe = undefined
    this.#host.switchTo(transport, link)
  }

  /** Signalling for one attempt of a signalled transport: SIGNAL frames on the session. */
  #signalling(transport: ClientTransport, attempt: number): Signalling {
    const named = this.#signalTarget(transport)
    return {
      send: (kind, data) => {
        this.#sendSignal(attempt, kind, data, named)
      },
      onSignal: (listener) => {
        this.#signalListeners.set(attempt, listener)
        return () => this.#signalListeners.delete(attempt)
      },
      offer: this.#offerDetails.find((t) => t.id === transport.id),
    }
  }

  /**
   * The transport a SIGNAL names: none when it is the first the server offers (a server offers its
   * signalled transports first), since a SIGNAL that names none goes there, and servers from before
   * SIGNAL named a transport refuse one that does.
   */
  #signalTarget(transport: ClientTransport): TransportId | undefined {
    return this.#offerDetails[0]?.id === transport.id ? undefined : transport.id
  }

  #sendSignal(attempt: number, kind: SignalKind, data: unknown, named: TransportId | undefined): void {
    this.#host.session.send(this.#kit.SIGNAL, this.#kit.body.signal(attempt, kind, data, named))
  }

  /** Closes the probe link, if any. */
  endProbe(): void {
    const probe = this.#probe
    if (!probe) return
    this.#probe = undefined
    clearTimeout(probe.timer)
    probe.link.close(1001, "PROBE_FAILED")
    if (probe.attempt) {
      // The server lets go of what it set up for this attempt.
      this.#signalListeners.delete(probe.attempt)
      const named = this.#signalTarget(probe.transport)
      this.#sendSignal(probe.attempt, "end", "probe failed", named)
    }
  }
}

/** A probe link answers with its PROBE echo or fails: what a PEER or SIGNAL frame on it carries does not matter. */
const anyData = () => true
