import { createClient } from "@redis/client"
import { SessionError } from "@switchyard/core"

/** A node-redis v6 client, as `createClient` makes it. */
export type RedisClient = ReturnType<typeof createClient>

/** How a connection watches and re-makes itself. Every field has a default. */
export interface ConnectionOptions {
  /** How often a PING is sent while connected. Default 1000 ms. */
  readonly pingIntervalMs?: number
  /**
   * How long a PING, a connection attempt or a re-subscription may take before the connection counts as
   * lost. Default 2000 ms: a hung Redis (SIGSTOP) is detected within `pingIntervalMs + pingTimeoutMs`.
   */
  readonly pingTimeoutMs?: number
  /** First and largest wait between connection attempts; doubled at each failure. Default 100 and 2000 ms. */
  readonly backoffMs?: readonly [first: number, max: number]
}

const defaults = { pingIntervalMs: 1000, pingTimeoutMs: 2000, backoffMs: [100, 2000] as const }

/** A change of one connection's state. `reason` is for people. */
export type StateListener = (up: boolean, reason: string) => void

/**
 * One connection to Redis that keeps itself up: a PING every second whose answer is due within two
 * (a Redis that hangs, SIGSTOP, is detected so), the connection dropped and made anew with backoff when
 * it is lost (closed, killed with `CLIENT KILL`, Redis restarted), and its channels subscribed again on
 * every new connection before it counts as up. node-redis's own reconnection is off: one path for every
 * fault, and the owner learns of each loss (a subscriber must fill what it missed).
 *
 * @example
 * const subscriber = new RedisConnection("redis://127.0.0.1:6379", "subscriber")
 * subscriber.onState((up, reason) => console.log(up, reason))
 * subscriber.subscribe("channel", (message) => console.log(message))
 * subscriber.start()
 */
export class RedisConnection {
  readonly #url: string
  readonly #options: Required<ConnectionOptions>
  #client: RedisClient | undefined
  #up = false
  #closed = false
  #failures = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #ping: ReturnType<typeof setInterval> | undefined
  readonly #channels = new Map<string, (message: string) => void>()
  readonly #listeners = new Set<StateListener>()

  constructor(
    url: string,
    /** For log lines: `"command"`, `"subscriber"`. */
    readonly role: string,
    options: ConnectionOptions = {},
  ) {
    this.#url = url
    this.#options = { ...defaults, ...options }
  }

  /** Whether the connection is up (connected, answering, its channels subscribed). */
  get up(): boolean {
    return this.#up
  }

  /**
   * The client while the connection is up, else `undefined`: for commands that must leave in the order
   * they are made (node messages), which a `ready()` wait could reorder.
   */
  get client(): RedisClient | undefined {
    return this.#up ? this.#client : undefined
  }

  /** Listens to its state: called on every change. Returns a function that stops listening. */
  onState(listener: StateListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Starts connecting (and reconnecting until `close()`). */
  start(): void {
    if (this.#client === undefined && this.#timer === undefined && !this.#closed) void this.#connect()
  }

  /**
   * The client once the connection is up: at once when it is, else after waiting up to `timeoutMs` for
   * it; rejects with `BROKER_UNAVAILABLE` when it stays down.
   */
  ready(timeoutMs: number): Promise<RedisClient> {
    const client = this.#client
    if (this.#up && client) return Promise.resolve(client)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off()
        reject(unavailable(`Redis (${this.role} connection) is down: waited ${timeoutMs} ms`))
      }, timeoutMs)
      const off = this.onState((up) => {
        const current = this.#client
        if (!up || !current) return
        clearTimeout(timer)
        off()
        resolve(current)
      })
    })
  }

  /**
   * Subscribes to a channel, now and on every new connection. Resolves once Redis confirmed it (or at
   * once while the connection is down: it is subscribed before the connection counts as up again).
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    this.#channels.set(channel, listener)
    const client = this.#client
    if (!this.#up || !client) return
    try {
      await within(client.subscribe(channel, listener), this.#options.pingTimeoutMs, "SUBSCRIBE")
    } catch (error) {
      this.#lost(client, `SUBSCRIBE failed: ${reasonOf(error)}`)
    }
  }

  /** Stops a subscription. */
  unsubscribe(channel: string): void {
    if (!this.#channels.delete(channel)) return
    const client = this.#client
    if (this.#up && client) client.unsubscribe(channel).catch(() => {})
  }

  /** Closes the connection for good. */
  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    clearInterval(this.#ping)
    const client = this.#client
    this.#client = undefined
    this.#up = false
    if (client) await client.close().catch(() => client.destroy())
  }

  async #connect(): Promise<void> {
    this.#timer = undefined
    const { pingTimeoutMs } = this.#options
    const client: RedisClient = createClient({
      url: this.#url,
      socket: { connectTimeout: pingTimeoutMs, reconnectStrategy: false },
      // A command sent while the connection is lost fails at once rather than waiting for a reconnection.
      disableOfflineQueue: true,
    })
    this.#client = client
    client.on("error", (error: unknown) => {
      if (!client.isReady) this.#lost(client, reasonOf(error))
    })
    client.on("end", () => this.#lost(client, "connection closed"))
    try {
      await within(client.connect(), pingTimeoutMs, "connecting")
      // A Redis that hangs (SIGSTOP) still accepts TCP connections: only an answer proves it is there.
      await within(client.ping(), pingTimeoutMs, "PING")
      for (const [channel, listener] of this.#channels) {
        await within(client.subscribe(channel, listener), pingTimeoutMs, "SUBSCRIBE")
      }
    } catch (error) {
      return this.#lost(client, reasonOf(error))
    }
    if (this.#client !== client) return
    this.#failures = 0
    this.#up = true
    this.#ping = setInterval(() => this.#check(client), this.#options.pingIntervalMs)
    this.#ping.unref()
    this.#tell(true, "connected")
  }

  #pinging = false
  #check(client: RedisClient): void {
    if (this.#pinging || this.#client !== client) return
    this.#pinging = true
    within(client.ping(), this.#options.pingTimeoutMs, "PING").then(
      () => {
        this.#pinging = false
      },
      (error: unknown) => {
        this.#pinging = false
        this.#lost(client, reasonOf(error))
      },
    )
  }

  /** `client` failed: drop it, say so if it was up, and connect again after a backoff. */
  #lost(client: RedisClient, reason: string): void {
    if (this.#client !== client) return
    this.#client = undefined
    clearInterval(this.#ping)
    this.#pinging = false
    client.destroy()
    const wasUp = this.#up
    this.#up = false
    if (wasUp) this.#tell(false, reason)
    if (this.#closed) return
    const [first, max] = this.#options.backoffMs
    const wait = Math.min(first * 2 ** this.#failures, max)
    this.#failures++
    this.#timer = setTimeout(() => void this.#connect(), wait)
    this.#timer.unref()
  }

  #tell(up: boolean, reason: string): void {
    for (const listener of [...this.#listeners]) listener(up, reason)
  }
}

/** `BROKER_UNAVAILABLE`, the error of a publish or a subscription the broker could not take. */
export function unavailable(message: string): SessionError {
  return new SessionError("BROKER_UNAVAILABLE", message)
}

/** `promise`, or a rejection once `ms` have passed. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} unanswered after ${ms} ms`)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** The broker's state: up when both connections are. */
export type ConnectionsListener = (event: {
  readonly up: boolean
  readonly reason: string
  readonly downMs?: number
}) => void

/**
 * The two connections of one node: `command` (commands and scripts) and `subscriber` (pub/sub), with
 * one state for both: up when both are. Other parts of the broker (topics, nodes) share them.
 */
export class RedisConnections {
  readonly command: RedisConnection
  readonly subscriber: RedisConnection
  #up = false
  #downSince: number | undefined
  readonly #listeners = new Set<ConnectionsListener>()

  constructor(url: string, options: ConnectionOptions = {}) {
    this.command = new RedisConnection(url, "command", options)
    this.subscriber = new RedisConnection(url, "subscriber", options)
    const changed = (role: string) => (_up: boolean, reason: string) => this.#changed(`${role} connection: ${reason}`)
    this.command.onState(changed("command"))
    this.subscriber.onState(changed("subscriber"))
  }

  get up(): boolean {
    return this.#up
  }

  /** Listens to the shared state. Returns a function that stops listening. */
  onState(listener: ConnectionsListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  start(): void {
    this.command.start()
    this.subscriber.start()
  }

  async close(): Promise<void> {
    await Promise.all([this.command.close(), this.subscriber.close()])
  }

  #changed(reason: string): void {
    const up = this.command.up && this.subscriber.up
    if (up === this.#up) return
    this.#up = up
    const now = Date.now()
    if (!up) {
      this.#downSince = now
      for (const listener of [...this.#listeners]) listener({ up, reason })
      return
    }
    const downMs = this.#downSince === undefined ? undefined : now - this.#downSince
    this.#downSince = undefined
    for (const listener of [...this.#listeners])
      listener(downMs === undefined ? { up, reason } : { up, reason, downMs })
  }
}
