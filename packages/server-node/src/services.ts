import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"

type AnyEffect = Effect.Effect<unknown, unknown, unknown>
type AnyStream = Stream.Stream<unknown, unknown, unknown>
type Fork = (effect: AnyEffect, options: Effect.RunOptions) => Fiber.Fiber<unknown, unknown>

/**
 * What handlers' Effects and Effect Streams run with: the services of `options.layer`, built once when the
 * server is created and released by `close()` once the Effects and Streams still running have ended; or,
 * without a layer, nothing (each Effect is run as `Effect.runPromiseExit` runs it).
 */
export class HandlerServices {
  /** Settles when the layer is built: resolves, or rejects with the error `layerError` makes. */
  ready: Promise<void> = Promise.resolve()
  private readonly runtime: ManagedRuntime.ManagedRuntime<unknown, unknown> | undefined
  private context: Context.Context<unknown> | undefined
  private fork: Fork | undefined
  private failure: Error | undefined
  private closing = false
  /** Effects and Streams started with the layer's services and not ended yet. */
  private running = 0
  /** What waits for the layer to be built, each resumed once it is (or failed); a cancelled call leaves. */
  private readonly waiting = new Set<() => void>()
  private drained: (() => void) | undefined

  constructor(
    layer: Layer.Layer<unknown, unknown> | undefined,
    /** Hears the error when the layer cannot be built. */
    private readonly failed: (error: Error) => void,
  ) {
    this.runtime = layer === undefined ? undefined : ManagedRuntime.make(layer)
  }

  /** Whether `close()` was called: what asks for the services from now on is refused. */
  get isClosing(): boolean {
    return this.closing
  }

  /** Starts building the layer (once the server is otherwise made, so that a throwing `createServer` builds nothing). */
  start(): void {
    const runtime = this.runtime
    if (runtime === undefined) return
    this.ready = Effect.runPromiseExit(runtime.contextEffect).then((exit) => {
      if (Exit.isSuccess(exit)) {
        this.context = exit.value
        this.fork = Effect.runForkWith(exit.value) as Fork
        this.resumeWaiting()
        return
      }
      // A server closed while its layer was being built interrupted the build: nothing to report.
      const error = this.closing ? closingError() : layerError(exit.cause)
      this.failure = error
      if (!this.closing) this.failed(error)
      this.resumeWaiting()
      throw error
    })
    // The rejection is for `listen()`; a server that never listens must not leave it unhandled.
    this.ready.catch(() => undefined)
  }

  /** Runs an RPC handler's Effect to its Exit; interrupted when `signal` aborts. */
  runExit(effect: AnyEffect, signal: AbortSignal): Promise<Exit.Exit<unknown, unknown>> {
    if (this.runtime === undefined) return Effect.runPromiseExit(effect as Effect.Effect<unknown, unknown>, { signal })
    // Cancelled while it waited for the layer: it never starts (a fiber forked with an aborted signal
    // would run up to its first asynchronous step before it is interrupted).
    if (signal.aborted) return Promise.resolve(Exit.interrupt())
    const fork = this.fork
    if (fork === undefined || this.closing) {
      return this.later(
        () => this.runExit(effect, signal),
        signal,
        () => Exit.interrupt(),
      )
    }
    const fiber = fork(effect, { signal })
    this.running++
    return new Promise((resolve) => {
      fiber.addObserver((exit) => {
        this.release()
        resolve(exit)
      })
    })
  }

  /** A stream handler's Effect Stream as an async iterator, its failures mapped by `mapError`. */
  iterator(stream: AnyStream): AsyncIterator<unknown> {
    if (this.runtime === undefined) {
      return Stream.toAsyncIterable(stream as Stream.Stream<unknown, unknown>)[Symbol.asyncIterator]()
    }
    return new ServiceStreamIterator(this, stream)
  }

  /** Opens `stream` with the layer's services, once they are built; counted until `release()`. */
  open(stream: AnyStream): Promise<AsyncIterator<unknown>> | AsyncIterator<unknown> {
    const context = this.context
    if (context === undefined || this.closing) return this.later(() => this.open(stream))
    this.running++
    return Stream.toAsyncIterableWith(stream, context)[Symbol.asyncIterator]()
  }

  /** One Effect or Stream started by `runExit` or `open` has ended. */
  release(): void {
    this.running--
    if (this.running === 0) this.drained?.()
  }

  /**
   * Waits for the Effects and Streams still running (the server's close has interrupted them: their
   * finalizers run with the services still in place), then releases the layer (its finalizers run).
   */
  async close(): Promise<void> {
    const runtime = this.runtime
    if (runtime === undefined || this.closing) return
    this.closing = true
    if (this.running > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve
      })
    }
    await runtime.dispose()
  }

  /**
   * What is asked before the services are built: run once they are, fail if they cannot be, and stop at
   * close. Cancelled by `signal` meanwhile, it settles at once with `cancelled()` and holds nothing.
   */
  private later<T>(then: () => T | Promise<T>, signal?: AbortSignal, cancelled?: () => T): Promise<T> {
    if (this.closing) return Promise.reject(closingError())
    if (this.failure) return Promise.reject(this.failure)
    return new Promise<T>((resolve, reject) => {
      const resume = () => {
        this.waiting.delete(resume)
        signal?.removeEventListener("abort", abandon)
        try {
          resolve(then())
        } catch (thrown) {
          reject(thrown)
        }
      }
      const abandon = () => {
        this.waiting.delete(resume)
        if (cancelled) resolve(cancelled())
        else reject(signal?.reason)
      }
      this.waiting.add(resume)
      signal?.addEventListener("abort", abandon, { once: true })
    })
  }

  /** The layer is built, or failed: what waited goes on (or fails). */
  private resumeWaiting(): void {
    for (const resume of [...this.waiting]) resume()
  }
}

/**
 * A stream handler's Effect Stream, run with the layer's services once they are built, and counted as
 * running from its creation until it ends (done, failed, or closed by `return()`).
 */
class ServiceStreamIterator implements AsyncIterator<unknown> {
  private inner: AsyncIterator<unknown> | undefined
  private opening: Promise<AsyncIterator<unknown>> | AsyncIterator<unknown> | undefined
  private ended = false

  constructor(
    private readonly services: HandlerServices,
    private readonly stream: AnyStream,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    if (this.ended) return { done: true, value: undefined }
    if (this.inner === undefined) {
      this.opening ??= this.services.open(this.stream)
      const inner = await this.opening
      // Closed while its services were being built: it never ran.
      if (this.ended) {
        void inner.return?.()
        this.services.release()
        return { done: true, value: undefined }
      }
      this.inner = inner
    }
    try {
      const next = await this.inner.next()
      if (next.done) this.end()
      return next
    } catch (thrown) {
      this.end()
      throw thrown
    }
  }

  async return(): Promise<IteratorResult<unknown>> {
    if (this.ended) return { done: true, value: undefined }
    const inner = this.inner
    if (inner === undefined) {
      this.ended = true
      return { done: true, value: undefined }
    }
    try {
      await inner.return?.()
    } finally {
      this.end()
    }
    return { done: true, value: undefined }
  }

  private end(): void {
    if (this.ended) return
    this.ended = true
    this.services.release()
  }
}

/** What is asked of a server closing: its services are released, or about to be. */
function closingError(): Error {
  return new Error("switchyard: the server is closing")
}

/** The error a layer that fails to build gives: its failure (or defect) as `cause`. */
function layerError(cause: Cause.Cause<unknown>): Error {
  const squashed = Cause.squash(cause)
  const detail = squashed instanceof Error ? squashed.message : describe(squashed)
  return new Error(`switchyard: options.layer failed to build: ${detail}`, { cause: squashed })
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
