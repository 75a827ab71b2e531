import { EventEmitter } from "node:events"
import { Readable } from "node:stream"

/**
 * A request relayed from another node (`httpRelay.ts`), as the transports see an `IncomingMessage`: its
 * method, URL, the headers that were carried, the body as a stream, and `close` when the client went
 * away (or the answer is over).
 */
export class RelayedRequest extends Readable {
  readonly socket = { remoteAddress: undefined }
  response: RelayedResponse | undefined

  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: Record<string, string>,
    body: string,
  ) {
    // 'close' is this request's own: emitted when the client goes away, as a real request's is.
    super({ read() {}, emitClose: false, autoDestroy: false })
    if (body !== "") this.push(Buffer.from(body, "utf8"))
    this.push(null)
  }

  /** The client went away (or its node did). */
  abort(): void {
    this.response?.abort()
    this.emit("close")
  }
}

/** Where a relayed answer goes: the bus back to the node that relayed the request. */
export interface RelayedAnswer {
  head(status: number, headers: Record<string, string | number>): void
  chunk(data: string): void
  end(data: string | undefined): void
}

/**
 * The answer to a relayed request, as the transports see a `ServerResponse`: `writeHead`, `write` and
 * `end` go over the bus. Nothing is buffered here, so `writableLength` is 0 and a transport's own check
 * never fires: the node that relays the request enforces `maxBufferedBytes` on the client's real
 * response, cutting it and sending `http-abort` back (`httpRelay.ts`).
 */
export class RelayedResponse extends EventEmitter {
  headersSent = false
  writableLength = 0
  private finished = false
  private readonly headers: Record<string, string | number> = {}

  constructor(private readonly answer: RelayedAnswer) {
    super()
  }

  setHeader(name: string, value: string | number): this {
    this.headers[name.toLowerCase()] = value
    return this
  }

  writeHead(status: number, headers: Record<string, string | number> = {}): this {
    if (this.headersSent || this.finished) return this
    this.headersSent = true
    this.answer.head(status, { ...this.headers, ...headers })
    return this
  }

  write(data: string | Buffer): boolean {
    if (this.finished) return false
    if (!this.headersSent) this.writeHead(200)
    this.answer.chunk(data.toString())
    return true
  }

  end(data?: string | Buffer): this {
    if (this.finished) return this
    if (!this.headersSent) this.writeHead(200)
    this.finished = true
    this.answer.end(data === undefined ? undefined : data.toString())
    process.nextTick(() => this.emit("close"))
    return this
  }

  /** Ends the answer at once (a transport dropping a slow client). */
  destroy(): this {
    return this.end()
  }

  /** The client went away: nothing more is sent. */
  abort(): void {
    if (this.finished) return
    this.finished = true
    this.emit("close")
  }
}
