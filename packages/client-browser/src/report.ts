/** Hands an error thrown by an application callback to the platform (`reportError`, else the console). */
export function report(error: unknown): void {
  const reportError = (globalThis as { reportError?: (e: unknown) => void }).reportError
  if (reportError) reportError(error)
  else console.error(error)
}

export function noop(): void {}
