/** Hands an error thrown by an application callback to the platform (`reportError`, else the console). */
export function report(error: unknown): void {
  const reportError = (globalThis as { reportError?: (e: unknown) => void }).reportError
  if (reportError) reportError(error)
  else console.error(error)
}

export function noop(): void {}

/** An iterator that waits for `iterator` before its first step. */
export function deferredIterator(iterator: Promise<AsyncIterator<unknown>>): AsyncIterator<unknown> {
  return {
    next: () => iterator.then((it) => it.next()),
    return: (value?: unknown) =>
      iterator.then((it) => it.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined })),
  }
}

export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === "function"
}
