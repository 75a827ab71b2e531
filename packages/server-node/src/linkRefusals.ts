import { closeCodeOf, control, type ErrorCode, type Link } from "@switchyard/core"

/**
 * Refusing a link: the BYE and close that turn it away, and the links whose HELLO was refused a new
 * session, kept until their answer goes `refusalDelayMs` later. A client that loops on refused HELLOs so
 * gets one answer per connection and delay, and its refusals cost the server little
 * (docs/limits.md#sessions); the connection keeps counting toward `maxConnectionsPerIp` meanwhile.
 */
export class LinkRefusals {
  /** Links whose HELLO was refused a new session, with the timer of their answer. */
  private readonly refusing = new Map<Link, ReturnType<typeof setTimeout>>()

  constructor(private readonly limits: { readonly refusalDelayMs: number }) {}

  /** Whether `link`'s HELLO was refused a new session and waits for its answer. */
  has(link: Link): boolean {
    return this.refusing.has(link)
  }

  /** Refuses `link` after `refusalDelayMs` (at once without a delay). */
  later(link: Link, code: ErrorCode, message: string): void {
    const fire = () => {
      this.refusing.delete(link)
      refuseLink(link, code, message)
    }
    const delay = this.limits.refusalDelayMs
    if (!(delay > 0)) return fire()
    const timer = setTimeout(fire, delay)
    timer.unref()
    this.refusing.set(link, timer)
  }

  /** `link` closed: its answer is not sent. */
  drop(link: Link): void {
    clearTimeout(this.refusing.get(link))
    this.refusing.delete(link)
  }

  /** Answers every link waiting for its refusal now, with `code` instead (server shutdown). */
  refuseAll(code: ErrorCode, message: string): void {
    for (const [link, timer] of [...this.refusing]) {
      clearTimeout(timer)
      this.refusing.delete(link)
      refuseLink(link, code, message)
    }
  }
}

/** The WebSocket close code for "try again later" (RFC 6455 registry). */
export const TRY_AGAIN_LATER = 1013

/** Turns `link` away: a BYE with `code`, then the close. */
export function refuseLink(link: Link, code: ErrorCode, message: string, closeCode = closeCodeOf(code)): void {
  link.send(control.bye(code, message))
  link.close(closeCode, code)
}
