import type { AnyContract, SubscribeOptions, SwitchyardError } from "@switchyard/core"

/** `client.rpc`, `client.streams` and `client.topics`: functions by channel name. */
export interface Channels {
  readonly rpc: Record<string, unknown>
  readonly streams: Record<string, unknown>
  readonly topics: Record<string, unknown>
}

type Fn = (...args: never[]) => unknown
type Topic = (key: string) => {
  subscribe(listener: (m: unknown) => void, options?: SubscribeOptions): () => void
  publish(message: unknown): Promise<void>
  presence(): Promise<unknown>
}

/**
 * The channels of `contract` while its codecs are being prepared: each call waits for `ready` (the real
 * channels), then runs as it would have. Once ready, every function is replaced by the real one, so
 * calls made later take the direct path. When `ready` fails, with the client's `SwitchyardError`, what
 * waited fails with it: calls and streams reject, subscriptions hear it through `onError`.
 */
export function waitingChannels(contract: AnyContract, ready: Promise<Channels>): Channels {
  const rpc: Record<string, unknown> = Object.create(null)
  for (const name of Object.keys(contract.rpc)) {
    rpc[name] = (...args: unknown[]) => ready.then((real) => (real.rpc[name] as Fn)(...(args as never[])))
  }
  const streams: Record<string, unknown> = Object.create(null)
  for (const name of Object.keys(contract.streams)) {
    streams[name] = (...args: unknown[]) => ({
      [Symbol.asyncIterator]: () =>
        deferredIterator(
          ready.then((real) => {
            const iterable = (real.streams[name] as Fn)(...(args as never[])) as AsyncIterable<unknown>
            return iterable[Symbol.asyncIterator]()
          }),
        ),
    })
  }
  const topics: Record<string, unknown> = Object.create(null)
  for (const name of Object.keys(contract.topics)) {
    topics[name] = (key: string) => {
      const handle = ready.then((real) => (real.topics[name] as Topic)(key))
      // A handle nobody subscribes or publishes through must not leave its failure unhandled.
      handle.catch(() => {})
      return {
        subscribe: (listener: (m: unknown) => void, options?: SubscribeOptions) => {
          let unsubscribe: (() => void) | undefined
          let cancelled = false
          // A failed load reaches the subscription as a refusal would: through its onError.
          handle.then(
            (h) => {
              if (!cancelled) unsubscribe = h.subscribe(listener, options)
            },
            (error: SwitchyardError) => {
              if (!cancelled) options?.onError?.(error)
            },
          )
          return () => {
            cancelled = true
            unsubscribe?.()
          }
        },
        publish: (message: unknown) => handle.then((h) => h.publish(message)),
        presence: () => handle.then((h) => h.presence()),
      }
    }
  }
  const waiting = { rpc, streams, topics }
  void ready.then(
    (real) => {
      for (const key of ["rpc", "streams", "topics"] as const) Object.assign(waiting[key], real[key])
    },
    () => {},
  )
  return waiting
}

/** An iterator that waits for `iterator` before its first step. */
function deferredIterator(iterator: Promise<AsyncIterator<unknown>>): AsyncIterator<unknown> {
  return {
    next: () => iterator.then((it) => it.next()),
    return: (value?: unknown) =>
      iterator.then((it) => it.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined })),
  }
}
