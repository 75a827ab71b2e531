import {
  type CompiledRpc,
  clientBody,
  type PayloadCodec,
  type RpcCallOptions,
  type ServerDataFrame,
  type SwitchyardError,
  switchyardError,
} from "@switchyard/core"
import * as Frame from "@switchyard/core/frame-numbers"
import { encodeInput, remoteError } from "./encoding.ts"
import type { Streams } from "./streams.ts"
import { closedError, type Pending, queueFull, type Wire } from "./wire.ts"

export type { Pending } from "./wire.ts"

/**
 * The requests waiting for an answer, by id: request `id` sits in slot `id % 1024` (a power of two, well
 * above the requests a client usually has in flight), or, when an older request still holds that slot,
 * in a `Map` on the side. Not a `Map` alone, for the garbage collector's
 * sake: a `Map` written to on every call replaces its table every few hundred calls, and each replaced
 * table keeps its entries and a pointer to the next one. Once one table has reached the old generation
 * (two scavenges suffice, as while a client waits before its first call), each later table, with the
 * requests, promises and payloads it still holds, is kept alive and promoted by the one before it until
 * a full collection: five times more to copy per scavenge, +0.5 µs of client CPU per call under load.
 * An emptied slot holds nothing.
 */
export class PendingTable {
  readonly #slots: (Pending | undefined)[] = new Array(1024).fill(undefined)
  /** Requests whose slot was held: only when 1024 ids were handed out while an older request waited. */
  readonly #overflow = new Map<number, Pending>()

  get(id: number): Pending | undefined {
    const entry = this.#slots[id & 1023]
    return entry?.id === id ? entry : this.#overflow.get(id)
  }

  set(entry: Pending): void {
    const held = this.#slots[entry.id & 1023]
    if (held && held.id !== entry.id) this.#overflow.set(entry.id, entry)
    else this.#slots[entry.id & 1023] = entry
  }

  delete(id: number): void {
    if (this.#slots[id & 1023]?.id === id) this.#slots[id & 1023] = undefined
    else this.#overflow.delete(id)
  }

  /** Every request, in the order they were made (ids only grow). */
  list(): Pending[] {
    return [...this.#slots, ...this.#overflow.values()].filter((e) => e !== undefined).sort((a, b) => a.id - b.id)
  }
}

/**
 * Everything waiting for the server: requests (calls, publishes, SUBSCRIBEs) and open streams, what
 * happens to them when the server loses the session, and their answers (RESULT, ERROR, ITEM, END).
 */
export class Calls {
  pending = new PendingTable()
  /** The open streams, once the app has opened one (`streams.ts` is loaded on first use). */
  streams: Streams | undefined
  /** Frames that never left a lost session, in the order they were sent, to send first in the next one. */
  #reissue: Pending[] = []

  readonly #wire: Wire

  constructor(wire: Wire) {
    this.#wire = wire
  }

  call(name: string, channel: CompiledRpc, input: unknown, options: RpcCallOptions | undefined): Promise<unknown> {
    const json = encodeInput(channel.input, input, name)
    if (typeof json !== "string") return Promise.reject(json)
    const id = this.#wire.nextId()
    const frameBody = clientBody.call(id, name, json)
    const refused = this.#wire.oversize(frameBody, json)
    if (refused) return Promise.reject(refused)
    return this.#request("rpc", Frame.CALL, frameBody, id, channel.output, channel.error, options?.signal)
  }

  publish(topic: string, key: string, codec: PayloadCodec, message: unknown): Promise<void> {
    const json = encodeInput(codec, message, topic)
    if (typeof json !== "string") return Promise.reject(json)
    const id = this.#wire.nextId()
    const frameBody = clientBody.publish(id, topic, key, json)
    const refused = this.#wire.oversize(frameBody, json)
    if (refused) return Promise.reject(refused)
    return this.#request("publish", Frame.PUBLISH, frameBody, id, undefined, undefined) as Promise<void>
  }

  #request(
    kind: Pending["kind"],
    frameType: number,
    frameBody: string,
    id: number,
    output: PayloadCodec | undefined,
    error: PayloadCodec | undefined,
    signal?: AbortSignal,
  ): Promise<unknown> {
    if (this.#wire.closed) return Promise.reject(closedError())
    if (signal?.aborted) return Promise.reject(switchyardError("CANCELLED", "aborted before it was sent"))
    return new Promise((resolve, reject) => {
      const seq = this.#wire.send(frameType, frameBody)
      if (seq === 0) return reject(queueFull())
      const entry: Pending = { id, kind, seq, frameType, frameBody, output, error, resolve, reject }
      this.pending.set(entry)
      if (!signal) return
      const onAbort = () => {
        if (this.pending.get(id) !== entry) return
        this.pending.delete(id)
        this.#wire.send(Frame.CANCEL, clientBody.cancel(id), true)
        reject(switchyardError("CANCELLED", "the call was aborted"))
      }
      // The listener leaves the caller's signal as soon as the call settles.
      const settled = () => signal.removeEventListener("abort", onAbort)
      entry.resolve = (value) => {
        settled()
        resolve(value)
      }
      entry.reject = (e) => {
        settled()
        reject(e)
      }
      signal.addEventListener("abort", onAbort, { once: true })
    })
  }

  /**
   * The server lost the session (`written`: the last frame it may have had): settle what may have
   * reached it, keep what surely did not. SUBSCRIBEs are dropped here; their subscriptions are renewed.
   */
  lost(error: SwitchyardError, written: number): void {
    for (const entry of this.pending.list()) {
      if (entry.kind === "subscribe") {
        this.pending.delete(entry.id)
        continue
      }
      if (entry.seq > written) {
        this.#reissue.push(entry)
        continue
      }
      this.pending.delete(entry.id)
      entry.reject(switchyardError("SESSION_LOST", `${error.message}; the call may or may not have run`))
    }
    if (this.streams) this.#reissue.push(...this.streams.lost(error, written))
    this.#reissue.sort((a, b) => a.seq - b.seq)
  }

  /** The new session is empty: send again, first and in order, what never left. */
  fresh(): void {
    const reissue = this.#reissue
    this.#reissue = []
    for (const entry of reissue) {
      entry.seq = this.#wire.send(entry.frameType, entry.frameBody)
      entry.resent?.(entry.seq)
      if (entry.seq !== 0) continue
      this.pending.delete(entry.id)
      entry.reject(queueFull())
    }
  }

  /** A RESULT, ERROR, ITEM or END frame. */
  answer(frame: ServerDataFrame): void {
    switch (frame[0]) {
      case Frame.RESULT: {
        const entry = this.pending.get(frame[2])
        if (!entry) return
        this.pending.delete(frame[2])
        if (!entry.output) return entry.resolve(undefined)
        const decoded = entry.output.decode(frame[3])
        if (decoded.ok) entry.resolve(decoded.value)
        else entry.reject(switchyardError("INVALID_OUTPUT", `the server sent an invalid result: ${decoded.error}`))
        return
      }
      case Frame.ERROR: {
        const entry = this.pending.get(frame[2])
        if (entry) {
          this.pending.delete(frame[2])
          return entry.reject(remoteError(frame[3], frame[4], frame[5], entry.error))
        }
        return this.streams?.answer(frame)
      }
      case Frame.ITEM:
      case Frame.END:
        return this.streams?.answer(frame)
    }
  }

  /** Settles everything with `error`. */
  shutdown(error: SwitchyardError): void {
    for (const entry of this.pending.list()) entry.reject(error)
    for (const entry of this.#reissue) entry.reject(error)
    this.streams?.shutdown(error)
    this.pending = new PendingTable()
    this.#reissue = []
  }
}
