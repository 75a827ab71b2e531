import type { ClientCredentials, ClientTransport, Link, LinkHeaders, SwitchyardError } from "@switchyard/core"
import type { NegotiationKit } from "./negotiationKit.ts"
import type { AuthOption, ConnectionSettings } from "./options.ts"
import type { UpgradeHost } from "./upgrades.ts"

/** What the credentials need of the connection they authenticate. */
export interface CredentialsHost extends UpgradeHost {
  /** Opens the next connection now when the session waits out a backoff delay. */
  hurry(): void
}

/** A `reauthenticate()` call, waiting for a handshake made with credentials asked for after it. */
interface Waiter {
  readonly asked: number
  readonly resolve: () => void
  readonly reject: (error: SwitchyardError) => void
}

/**
 * The client's credentials (docs/sessions.md#credentials): what each connection sends `authenticate`
 * (query parameters and headers from the `auth` option, asked again before every connection), and
 * `reauthenticate()`, which moves a connected session to a new connection made with new credentials once
 * the server has admitted it, exactly as an upgrade moves it after a probe. Loaded with `import()` only by
 * a client given `auth`, or when the app first calls `reauthenticate()`; like `upgrades.ts` it imports
 * types only and gets what it runs of core from the kit.
 */
export class Credentials {
  /** The URL the next connection opens, with the credentials' query parameters. */
  url: string
  headers: LinkHeaders | undefined
  #source: AuthOption | undefined
  readonly #base: string
  /** The transports this client runs, best first: a refresh on a signalled one opens on another. */
  readonly #transports: readonly ClientTransport[]
  /** A refresh connection not admitted by then has failed (ms). */
  readonly #timeoutMs: number
  /** Counts `reauthenticate()` calls, and which of them the current credentials were asked after. */
  #asked = 0
  #current = 0
  #waiters: Waiter[] = []
  #probes = 0
  /** Set while a refresh asks for its credentials and opens its connection, before `#probe` is set. */
  #refreshing = false
  /** The refresh connection until the server echoes its PROBE (it was admitted), and its timer. */
  #probe: { readonly link: Link; readonly timer: ReturnType<typeof setTimeout> } | undefined

  constructor(
    options: ConnectionSettings,
    private readonly host: CredentialsHost,
    private readonly kit: NegotiationKit,
  ) {
    this.url = this.#base = options.url
    this.#source = options.auth
    this.#transports = options.transports
    this.#timeoutMs = options.connectTimeoutMs
  }

  /** Asks the `auth` option for the next connection's credentials. Rejects with `AUTH_REFUSED` when it fails. */
  async update(): Promise<void> {
    const asked = this.#asked
    let credentials: ClientCredentials | undefined
    try {
      const source = this.#source
      credentials = typeof source === "function" ? await source() : source
    } catch (cause) {
      // The failure answers the calls made before it was asked.
      this.#current = asked
      throw this.kit.error("AUTH_REFUSED", "the auth option gave no credentials", { cause })
    }
    const params = Object.entries(credentials?.params ?? {})
    this.url =
      params.length === 0
        ? this.#base
        : `${this.#base}${this.#base.includes("?") ? "&" : "?"}${new URLSearchParams(params).toString()}`
    this.headers = credentials?.headers
    this.#current = asked
  }

  /** `client.reauthenticate(credentials?)`. */
  reauthenticate(credentials: ClientCredentials | undefined): Promise<void> {
    if (this.host.closed) return Promise.reject(this.#closed())
    if (credentials !== undefined) this.#source = credentials
    const asked = ++this.#asked
    const settled = new Promise<void>((resolve, reject) => this.#waiters.push({ asked, resolve, reject }))
    if (this.host.handshaken && !this.host.switching) void this.#refresh()
    else this.host.hurry()
    return settled
  }

  /** A handshake completed: the calls made before the credentials it used were asked for are done. */
  connected(): void {
    this.#settle(undefined)
  }

  /** The server refused the credentials (or none could be had): the calls they answer reject. */
  refused(error: SwitchyardError): void {
    this.#settle(error)
  }

  /** The client closed: every call rejects. */
  close(): void {
    this.#current = this.#asked
    this.#settle(this.#closed())
    this.#end()
  }

  #closed(): SwitchyardError {
    return this.kit.error("CLIENT_CLOSED", "the client was closed")
  }

  #settle(error: SwitchyardError | undefined): void {
    const done = this.#waiters.filter((waiter) => waiter.asked <= this.#current)
    this.#waiters = this.#waiters.filter((waiter) => waiter.asked > this.#current)
    for (const waiter of done) error ? waiter.reject(error) : waiter.resolve()
    // Calls that came while these credentials were in use need newer ones: another refresh.
    if (this.#waiters.length > 0 && this.host.handshaken && !this.host.switching) void this.#refresh()
  }

  /**
   * Opens a connection with fresh credentials beside the session's own and probes it: once the server
   * echoes the PROBE it has run `authenticate` and admitted it, and the session moves there (HELLO with
   * its token: the server resumes it with the new result). A refused or failed probe changes nothing.
   * A signalled transport (WebRTC) runs no `authenticate`: the refresh uses the best one that does.
   */
  async #refresh(): Promise<void> {
    if (this.#refreshing || this.#probe !== undefined || this.host.closed) return
    this.#refreshing = true
    try {
      await this.#open()
    } finally {
      this.#refreshing = false
    }
    // A failure before the probe began answered only the calls made before it; later ones try again.
    if (this.#probe === undefined && this.#waiters.length > 0 && this.host.handshaken) void this.#refresh()
  }

  async #open(): Promise<void> {
    const host = this.host
    try {
      await this.update()
    } catch (error) {
      return this.refused(error as SwitchyardError)
    }
    // Gone down meanwhile: the next connection asks for the credentials again, and its handshake answers.
    if (host.closed || !host.handshaken || host.switching) return host.hurry()
    const transport = host.transport.signalled ? this.#transports.find((t) => !t.signalled) : host.transport
    if (transport === undefined)
      return this.refused(this.kit.error("CONNECTION_LOST", "no transport to reauthenticate on"))
    const nonce = ++this.#probes
    let link: Link | undefined
    const probing = () => link !== undefined && this.#probe?.link === link
    const failed = (error: SwitchyardError) => {
      if (!probing()) return
      this.#end()
      this.refused(error)
    }
    const events = this.kit.linkEvents(host, transport, () => link, {
      open: () => {
        if (probing()) link?.send(this.kit.control.probe(nonce))
      },
      frame: (data: unknown) => {
        if (!probing()) return
        const decoded = this.kit.decode(data, host.decode, anyData, anyData)
        if (!decoded.ok || decoded.frame[0] !== this.kit.PROBE || decoded.frame[1] !== nonce) {
          return failed(this.kit.error("CONNECTION_LOST", "the new connection did not answer its probe"))
        }
        clearTimeout(this.#probe?.timer)
        this.#probe = undefined
        host.switchTo(transport, link as Link, "reauthenticated")
      },
      close: (code: number, reason: string) =>
        failed(
          this.kit.error(
            reason === "AUTH_REFUSED" ? "AUTH_REFUSED" : "CONNECTION_LOST",
            reason === "AUTH_REFUSED"
              ? "the server refused the new credentials"
              : `the new connection closed (${code}${reason ? ` ${reason}` : ""})`,
          ),
        ),
    })
    try {
      link = transport.connect(this.url, events, undefined, this.headers)
    } catch (cause) {
      return this.refused(this.kit.error("CONNECTION_LOST", `${transport.id} could not connect`, { cause }))
    }
    const timer = setTimeout(
      () => failed(this.kit.error("CONNECTION_LOST", `no answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    )
    this.kit.unref(timer)
    this.#probe = { link, timer }
  }

  /** Closes the refresh connection, if any. */
  #end(): void {
    const probe = this.#probe
    if (!probe) return
    this.#probe = undefined
    clearTimeout(probe.timer)
    probe.link.close(1000, "REAUTHENTICATE_FAILED")
  }
}

/** A probe link answers with its PROBE echo or fails: what a PEER or SIGNAL frame on it carries does not matter. */
const anyData = () => true
