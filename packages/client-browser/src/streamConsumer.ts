import type { PayloadCodec, SwitchyardError } from "@switchyard/core"

/** What a stream consumer needs of its stream: flow control, cancellation, and the errors it fails with. */
export interface StreamWire {
  credit(n: number): void
  cancel(): void
  finished(): void
  /** The error of an item the codec refused. */
  invalid(error: string): SwitchyardError
}

/**
 * The client end of one stream: an async iterator over decoded items with credit-based flow control.
 * The server may run `window` items ahead; every `window / 2` consumed items are granted back, so a
 * slow consumer slows the producer instead of filling memory. An unreliable stream (docs/delivery.md)
 * has no credit: it keeps only the newest item the caller has not taken yet. Part of the streams feature,
 * loaded on first use: it imports types only (`featureKit.ts` says why).
 */
export class StreamConsumer implements AsyncIterator<unknown> {
  /** Sequence number and body of its STREAM frame, to re-send it in a new session if it never left. */
  seq = 0
  frameBody: string | undefined
  #items: unknown[] = []
  #head = 0
  #consumed = 0
  #finished = false
  #failure: SwitchyardError | undefined
  #waiting: { resolve: (r: IteratorResult<unknown>) => void; reject: (e: unknown) => void } | undefined
  /** `n` of the newest UNRELIABLE item delivered: an older one that arrives later is dropped. */
  #newest = 0

  readonly #item: PayloadCodec
  readonly #window: number
  readonly #wire: StreamWire
  readonly #unreliable: boolean

  constructor(
    readonly id: number,
    item: PayloadCodec,
    readonly error: PayloadCodec | undefined,
    window: number,
    wire: StreamWire,
    unreliable = false,
  ) {
    this.#item = item
    this.#window = window
    this.#wire = wire
    this.#unreliable = unreliable
  }

  /** An ITEM frame's payload. */
  push(raw: unknown): void {
    if (this.#finished) return
    const decoded = this.#item.decode(raw)
    if (!decoded.ok) {
      this.#wire.cancel()
      return this.fail(this.#wire.invalid(decoded.error))
    }
    if (this.#waiting) {
      const w = this.#waiting
      this.#waiting = undefined
      this.#took()
      return w.resolve({ value: decoded.value, done: false })
    }
    this.#items.push(decoded.value)
  }

  /**
   * An UNRELIABLE frame's item (`n` its place in the stream): delivered only when newer than every item
   * before it, and replacing an item the caller has not taken yet.
   */
  latest(n: number, raw: unknown): void {
    if (this.#finished || !this.#unreliable || n <= this.#newest) return
    this.#newest = n
    if (this.#waiting || this.#head === this.#items.length) return this.push(raw)
    const decoded = this.#item.decode(raw)
    if (!decoded.ok) {
      this.#wire.cancel()
      return this.fail(this.#wire.invalid(decoded.error))
    }
    this.#items = [decoded.value]
    this.#head = 0
  }

  /** END: the stream completed. */
  end(): void {
    if (this.#finished) return
    this.#finished = true
    this.#wire.finished()
    this.#settle()
  }

  /** The stream failed (server error, lost session, closed client). */
  fail(error: SwitchyardError): void {
    if (this.#finished) return
    this.#finished = true
    this.#failure = error
    this.#wire.finished()
    this.#settle()
  }

  /** The caller aborted through its signal. */
  abort(error: SwitchyardError): void {
    if (this.#finished) return
    this.#wire.cancel()
    this.#items = []
    this.#head = 0
    this.fail(error)
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head++]
      if (this.#head === this.#items.length) {
        this.#items = []
        this.#head = 0
      }
      this.#took()
      return Promise.resolve({ value, done: false })
    }
    if (this.#finished) {
      if (this.#failure) {
        const failure = this.#failure
        // Report the failure once; later calls see a finished iterator.
        this.#failure = undefined
        return Promise.reject(failure)
      }
      return Promise.resolve({ value: undefined, done: true })
    }
    return new Promise((resolve, reject) => (this.#waiting = { resolve, reject }))
  }

  /** Leaving a `for await` loop early: cancel on the server. */
  return(): Promise<IteratorResult<unknown>> {
    if (!this.#finished) {
      this.#finished = true
      this.#wire.cancel()
      this.#wire.finished()
    }
    this.#items = []
    this.#head = 0
    this.#failure = undefined
    this.#settle()
    return Promise.resolve({ value: undefined, done: true })
  }

  #took(): void {
    if (this.#unreliable) return
    if (++this.#consumed * 2 >= this.#window && !this.#finished) {
      this.#wire.credit(this.#consumed)
      this.#consumed = 0
    }
  }

  #settle(): void {
    if (!this.#waiting || this.#head < this.#items.length) return
    const w = this.#waiting
    this.#waiting = undefined
    if (this.#failure) {
      const failure = this.#failure
      this.#failure = undefined
      w.reject(failure)
    } else w.resolve({ value: undefined, done: true })
  }
}
