import { type ErrorCode, type SwitchyardError, switchyardError, type TransportId } from "@switchyard/core"
import { type HandlerContext, HandlerFailure } from "./handlers.ts"

/** The context handlers receive; the AbortController is made only when a handler reads `signal`. */
export class CallContext implements HandlerContext<unknown, unknown> {
  private controller: AbortController | undefined
  private abortedWith: SwitchyardError | undefined

  constructor(
    readonly sessionId: string,
    readonly transport: TransportId,
    readonly auth: unknown,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith)
    }
    return this.controller.signal
  }

  get aborted(): boolean {
    return this.abortedWith !== undefined
  }

  abort(code: ErrorCode): void {
    if (this.abortedWith !== undefined) return
    this.abortedWith = switchyardError(code, code === "CANCELLED" ? "the caller cancelled" : `the call ended (${code})`)
    this.controller?.abort(this.abortedWith)
  }

  fail(error: unknown): never {
    throw new HandlerFailure(error)
  }
}
