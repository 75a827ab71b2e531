import { setMaxListeners } from "node:events"
import type { IncomingMessage } from "node:http"
import * as Effect from "effect/Effect"
import { addressKey, ClientAddresses } from "./clientAddress.ts"
import { runHookEffect } from "./handlers.ts"
import type { ServerLimits } from "./limits.ts"
import type { ServerOptions } from "./options.ts"
import type { Runtime } from "./runtime.ts"
import type { HandlerServices } from "./services.ts"
import type { Admission } from "./transport.ts"

/**
 * What every transport checks before a connection may open: the Origin allow-list (against cross-site
 * WebSocket hijacking), the per-address connection bound (the client's address, behind trusted proxies
 * too), and the `authenticate` hook.
 */
export class ConnectionGate {
  private readonly perIp = new Map<string, number>()
  /**
   * Per address, the admissions of connections that are over but linger (an HTTP link keeping its last
   * frames for a downstream request that may never come), oldest first: each still counts, but gives way to
   * a new connection from its address that the bound would refuse.
   */
  private readonly lingering = new Map<string, Map<() => void, () => void>>()
  private readonly origins: ReadonlySet<string> | "*" | undefined
  private readonly addresses: ClientAddresses
  /** Aborted by `close()`: interrupts `authenticate`'s Effects still running (one listener each, removed after). */
  private readonly closing = new AbortController()

  constructor(
    private readonly options: ServerOptions<unknown>,
    private readonly limits: ServerLimits,
    /** What `authenticate`'s Effects run with. */
    private readonly services: HandlerServices,
    /** Hears the defects of `authenticate`'s Effects. */
    private readonly onError: Runtime["onError"],
  ) {
    const allowed = options.allowedOrigins
    this.origins = allowed === "*" ? "*" : allowed === undefined ? undefined : new Set(allowed.map(normalizeOrigin))
    this.addresses = new ClientAddresses(options.trustedProxies)
    setMaxListeners(0, this.closing.signal)
  }

  /**
   * The server is closing: `authenticate`'s Effects still running are interrupted (`close()` would wait for
   * them), and a refusal from now on is `SERVER_CLOSED`, not `UNAUTHORIZED`: the client is not refused its
   * credentials, the server is going away.
   */
  close(): void {
    this.closing.abort()
  }

  /** Whether answers may let a cross-origin page send credentials: only with an explicit allow-list. */
  get credentialsAllowed(): boolean {
    return this.origins !== "*"
  }

  /** The client's address of `request`, behind trusted proxies too (`undefined` for a relayed request). */
  clientAddress(request: IncomingMessage): string | undefined {
    return this.addresses.of(request)
  }

  /** Whether the request's Origin may connect. */
  originAllowed(request: IncomingMessage): boolean {
    const origin = request.headers.origin
    if (this.origins === "*") return true
    if (origin === undefined) return true
    if (this.origins === undefined) return sameOrigin(origin, request.headers.host)
    return this.origins.has(normalizeOrigin(origin))
  }

  /**
   * Whether a connection from `request` may open. `keepRefused`: a connection `authenticate` refuses keeps
   * its place in `maxConnectionsPerIp` until the refusal's `release` (for a transport that answers it over
   * the connection); otherwise a refusal holds nothing.
   */
  async admit(request: IncomingMessage, keepRefused = false): Promise<Admission> {
    if (!this.originAllowed(request)) {
      return {
        ok: false,
        code: "ORIGIN_FORBIDDEN",
        message: `origin ${request.headers.origin} is not allowed`,
      }
    }
    const address = this.clientAddress(request)
    const ip = addressKey(address, this.limits.ipv6PrefixBits)
    if ((this.perIp.get(ip) ?? 0) >= this.limits.maxConnectionsPerIp) this.reclaim(ip)
    const open = this.perIp.get(ip) ?? 0
    if (open >= this.limits.maxConnectionsPerIp) {
      return {
        ok: false,
        code: "TOO_MANY_CONNECTIONS",
        message: `more than ${this.limits.maxConnectionsPerIp} connections from one address`,
      }
    }
    // Counted before authenticate runs, so that simultaneous upgrades cannot pass the bound together.
    this.perIp.set(ip, open + 1)
    let released = false
    // Lingering connections are keyed by their `release`: nothing more is kept per connection.
    const release = () => {
      if (released) return
      released = true
      const spare = this.lingering.get(ip)
      if (spare?.delete(release) && spare.size === 0) this.lingering.delete(ip)
      const n = (this.perIp.get(ip) ?? 1) - 1
      if (n <= 0) this.perIp.delete(ip)
      else this.perIp.set(ip, n)
    }
    const linger = (forget: () => void) => {
      if (released) return
      const spare = this.lingering.get(ip) ?? new Map<() => void, () => void>()
      spare.set(release, forget)
      this.lingering.set(ip, spare)
    }
    let auth: unknown
    if (this.options.authenticate) {
      try {
        const result = this.options.authenticate(request)
        auth = Effect.isEffect(result) ? await this.authenticated(result, request) : await result
      } catch {
        const refusal = this.closing.signal.aborted
          ? ({ ok: false, code: "SERVER_CLOSED", message: "the server is shutting down" } as const)
          : ({ ok: false, code: "UNAUTHORIZED", message: "authentication failed" } as const)
        if (keepRefused) return { ...refusal, release }
        release()
        return refusal
      }
    }
    return { ok: true, auth, release, linger, address }
  }

  /**
   * What `authenticate`'s Effect succeeds with; it throws (a refusal) when the Effect fails, dies (reported
   * to `onError`) or is interrupted: the request's socket closed (a client that went away: an HTTP request's
   * socket is read by the HTTP server, a WebSocket upgrade's by {@link watchUpgrade} meanwhile) or the
   * server is closing (`close()`).
   */
  private async authenticated(effect: unknown, request: IncomingMessage): Promise<unknown> {
    const gone = new AbortController()
    const abandon = () => gone.abort()
    const socket = request.socket as IncomingMessage["socket"] | undefined
    socket?.once?.("close", abandon)
    // Node marks an upgrade's request (`upgrade`, not in its types).
    const upgrade = (request as IncomingMessage & { readonly upgrade?: boolean }).upgrade === true
    const unwatch = upgrade && socket?.on !== undefined ? watchUpgrade(socket) : undefined
    this.closing.signal.addEventListener("abort", abandon, { once: true })
    if (socket?.destroyed || this.closing.signal.aborted) abandon()
    try {
      const outcome = await runHookEffect(effect, this.services, gone.signal)
      if (outcome._tag === "success") return outcome.value
      if (outcome._tag === "defect") this.onError(outcome.cause, {})
      throw outcome
    } finally {
      unwatch?.()
      socket?.off?.("close", abandon)
      this.closing.signal.removeEventListener("abort", abandon)
    }
  }

  /**
   * Makes room for one connection from `ip` at its bound: the oldest lingering connection of the address is
   * forgotten (its `forget` releases its admission). A storm of clients on one address coming back at once
   * would otherwise wait for the linger of their own old links (docs/limits.md#connections-and-messages).
   */
  private reclaim(ip: string): void {
    const spare = this.lingering.get(ip)
    const oldest = spare?.entries().next().value
    if (spare === undefined || oldest === undefined) return
    spare.delete(oldest[0])
    if (spare.size === 0) this.lingering.delete(ip)
    oldest[1]()
  }
}

function normalizeOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, "")
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase()
  } catch {
    return false
  }
}

/**
 * Most bytes a WebSocket upgrade's client may send while `authenticate` decides. A client sends nothing
 * before the server's 101 (RFC 6455, 4.1): more than this is not a WebSocket client, and its socket is cut.
 */
export const EARLY_UPGRADE_BYTES = 4096

/**
 * Reads a WebSocket upgrade's socket while `authenticate`'s Effect decides, so that a client that goes away
 * is seen (its FIN ends the socket, and the Effect is interrupted): Node leaves an upgrade's socket unread
 * until someone reads it. What arrives (nothing, from a WebSocket client) is kept, up to
 * {@link EARLY_UPGRADE_BYTES}, and put back for `ws` when the watch ends. Removing the `readable` listener
 * hands the socket on unpaused: on the next tick Node resumes it for `ws`'s `data` listener, or leaves it
 * neither flowing nor paused (as the HTTP server handed it over) if that comes later. Returns what ends
 * the watch.
 */
function watchUpgrade(socket: IncomingMessage["socket"]): () => void {
  const early: Buffer[] = []
  let bytes = 0
  const onReadable = () => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
      bytes += chunk.length
      if (bytes > EARLY_UPGRADE_BYTES) return void socket.destroy()
      early.push(chunk)
    }
  }
  // An HTTP server's sockets allow half-open connections: a client's FIN alone would not close it.
  const onEnd = () => socket.destroy()
  socket.on("readable", onReadable)
  socket.once("end", onEnd)
  return () => {
    socket.off("readable", onReadable)
    socket.off("end", onEnd)
    if (early.length > 0 && !socket.destroyed) socket.unshift(Buffer.concat(early))
  }
}
