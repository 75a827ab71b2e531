import { createClient } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import type { Client, ClientState, SwitchyardError, TopicRecovery, TransportId } from "@switchyard/core"
import { TestContract } from "@switchyard/core/testing"
import { EventSource } from "eventsource"
import WebSocket from "ws"
import { freshStorage } from "./storage.ts"

/**
 * A fleet of Node clients for the long-running tests (chaos, restart): each client is on one transport
 * or negotiates, records every topic message, session, transport switch, reconnect and error, and can
 * keep making RPCs whose every outcome is counted. The server side counts how often each call ran.
 */

/** How a client picks its transport: one named transport, or negotiation among all of them. */
export type Mode = "websocket" | "sse" | "long-polling" | "polling" | "negotiating"

export const modes: readonly Mode[] = ["websocket", "sse", "long-polling", "polling", "negotiating"]

export { countingHandlers, type Runs } from "./counting.ts"

/** A deterministic `() => number` in [0, 1) (mulberry32), so that a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** What one client's RPC loop did. */
export interface CallStats {
  started: number
  /** Resolved with the right sum. */
  resolved: number
  /** Resolved with anything else. */
  wrong: Array<{ readonly call: number; readonly value: unknown }>
  rejected: Array<{ readonly call: number; readonly error: SwitchyardError; readonly state: ClientState }>
  /** The index of the call awaiting its answer, if any. */
  pending: number | undefined
}

export interface FleetClient {
  readonly index: number
  readonly mode: Mode
  readonly client: Client<TestContract>
  /** Every `feed` message of the fleet's key, in arrival order. */
  readonly messages: number[]
  readonly sessions: Array<{ readonly id: string; readonly recovered: boolean }>
  readonly transports: Array<{ readonly name: TransportId; readonly reason: string }>
  readonly errors: SwitchyardError[]
  /** What each renewal of the `feed` subscription after a lost session recovered (`onRecover`). */
  readonly recoveries: TopicRecovery[]
  /** `state` events to `"reconnecting"`. */
  reconnects: number
  /** How long each reconnect took (ms), from `"reconnecting"` to `"connected"` again. */
  readonly outages: number[]
  readonly calls: CallStats
  /** Starts the RPC loop: one `add` at a time, `pauseMs` apart. */
  startCalls(pauseMs: number): void
  /** Stops the loop after the call in flight settles; resolves then (bound it with a timeout). */
  stopCalls(): Promise<void>
}

export interface FleetOptions {
  readonly url: string
  /** The `feed` key every client subscribes to. */
  readonly key: string
  readonly reconnect?: { readonly initialDelayMs: number; readonly maxDelayMs: number }
  readonly connectTimeoutMs?: number
  /** The WebSocket constructor (`ws` by default), e.g. one that records each attempt. */
  readonly WebSocket?: new (
    address: string,
    protocols?: string | string[],
  ) => WebSocket
  /** The EventSource constructor (`eventsource`'s by default). */
  readonly EventSource?: typeof EventSource
}

/** Creates a client in `mode`, subscribed to `feed(key)`, recording everything that happens to it. */
export function fleetClient(index: number, mode: Mode, options: FleetOptions): FleetClient {
  const client = createClient(TestContract, {
    url: options.url,
    ...(mode === "negotiating" ? {} : { transports: [mode] }),
    WebSocket: options.WebSocket ?? WebSocket,
    EventSource: options.EventSource ?? EventSource,
    fetch: nodeFetch(),
    reconnect: options.reconnect ?? { initialDelayMs: 10, maxDelayMs: 200 },
    connectTimeoutMs: options.connectTimeoutMs ?? 3000,
    negotiation: { storage: freshStorage() },
  })
  let calling: Promise<void> | undefined
  let running = false
  const fc: FleetClient = {
    index,
    mode,
    client,
    messages: [],
    sessions: [],
    transports: [],
    errors: [],
    recoveries: [],
    reconnects: 0,
    outages: [],
    calls: { started: 0, resolved: 0, wrong: [], rejected: [], pending: undefined },
    startCalls(pauseMs) {
      if (calling) return
      running = true
      calling = (async () => {
        const { calls } = fc
        // A closed client rejects at once: stop rather than spin.
        while (running && client.state !== "closed") {
          const call = calls.started++
          calls.pending = call
          try {
            const value = await client.rpc.add({ a: call, b: index })
            if (value === call + index) calls.resolved++
            else calls.wrong.push({ call, value })
          } catch (error) {
            calls.rejected.push({ call, error: error as SwitchyardError, state: client.state })
          }
          calls.pending = undefined
          if (running && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs))
        }
      })()
    },
    async stopCalls() {
      running = false
      await calling
      calling = undefined
    },
  }
  let down: number | undefined
  client.on("state", (state) => {
    if (state === "reconnecting") {
      fc.reconnects++
      down ??= performance.now()
    } else if (state === "connected" && down !== undefined) {
      fc.outages.push(performance.now() - down)
      down = undefined
    }
  })
  client.on("session", (s) => fc.sessions.push(s))
  client.on("transport", (name, reason) => fc.transports.push({ name, reason }))
  client.on("error", (error) => fc.errors.push(error))
  client.topics.feed(options.key).subscribe((n) => fc.messages.push(n), {
    onRecover: (recovery) => fc.recoveries.push(recovery),
  })
  return fc
}

/** Transport changes: handshakes that put the session on another transport than the one before. */
export function switchesOf(fc: FleetClient): number {
  let switches = 0
  for (let i = 1; i < fc.transports.length; i++) {
    if (fc.transports[i]?.name !== fc.transports[i - 1]?.name) switches++
  }
  return switches
}

/** Where `messages` departs from exactly `1..published` in order: `undefined` when it does not. */
export function firstDeparture(messages: readonly number[], published: number): string | undefined {
  for (let i = 0; i < messages.length; i++) {
    if (messages[i] !== i + 1) {
      const seen = messages.slice(Math.max(0, i - 3), i + 4).join(",")
      return `at index ${i}: expected ${i + 1}, got ${messages[i]} (around: …${seen}…)`
    }
  }
  if (messages.length !== published) return `received ${messages.length} of ${published}`
  return undefined
}

/** Formats rows of cells as an aligned text table, the first row being the header. */
export function table(rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, String(cell).length)
    })
  }
  const line = (row: ReadonlyArray<string | number>) =>
    row
      .map((cell, i) =>
        typeof cell === "number" ? String(cell).padStart(widths[i] ?? 0) : String(cell).padEnd(widths[i] ?? 0),
      )
      .join("  ")
  const [head, ...body] = rows
  return [line(head ?? []), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n")
}

/** `promise`, or a rejection naming `what` when it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
