import type { IncomingMessage } from "node:http"
import { addressKey } from "./clientAddress.ts"
import type { ServerLimits } from "./limits.ts"

/** Why bytes were refused: the sender's address holds its share, or the server holds all it allows. */
export type IncompleteRefusal = "address" | "server"

/**
 * The bytes the server holds of what is still being received: HTTP request bodies being read and
 * WebSocket messages not finished yet, per client address (as every per-address bound counts it: behind
 * trusted proxies, IPv6 by prefix) and in all (`maxIncompleteBytesPerIp`, `maxIncompleteBytes`). Every reader takes its bytes here before it keeps them and gives them back when
 * it is done with them, so that unfinished bodies and messages cannot use more memory than the two bounds,
 * whatever the number of connections holding them.
 *
 * @example
 * ```ts
 * function onChunk(incomplete: IncompleteBytes, address: string, chunk: Uint8Array): string | undefined {
 *   const refused = incomplete.take(address, chunk.length)
 *   return refused && incomplete.refusalMessage(refused) // answered SERVER_BUSY with this message
 * }
 * ```
 */
export class IncompleteBytes {
  private readonly perAddress = new Map<string, number>()
  private total = 0

  constructor(
    private readonly limits: Pick<ServerLimits, "maxIncompleteBytesPerIp" | "maxIncompleteBytes" | "ipv6PrefixBits">,
    /** The client's address of a request (the server's `ConnectionGate.clientAddress`). */
    private readonly clientAddress: (request: IncomingMessage) => string | undefined = (request) =>
      request.socket.remoteAddress,
  ) {}

  /** The address a request's body is counted for; `undefined` for a request relayed from another node. */
  addressOf(request: IncomingMessage): string | undefined {
    return this.clientAddress(request)
  }

  /** Bytes held now, in all or for one address. */
  held(address?: string): number {
    return address === undefined ? this.total : (this.perAddress.get(this.keyOf(address)) ?? 0)
  }

  /**
   * Takes `bytes` for `address` (`undefined`: a request relayed from another node, which counts in the
   * total only). Returns why it cannot, or `undefined` when they are taken.
   */
  take(address: string | undefined, bytes: number): IncompleteRefusal | undefined {
    if (bytes <= 0) return undefined
    if (this.total + bytes > this.limits.maxIncompleteBytes) return "server"
    if (address !== undefined) {
      const key = this.keyOf(address)
      const held = this.perAddress.get(key) ?? 0
      if (held + bytes > this.limits.maxIncompleteBytesPerIp) return "address"
      this.perAddress.set(key, held + bytes)
    }
    this.total += bytes
    return undefined
  }

  /** Gives back bytes taken for `address`. */
  give(address: string | undefined, bytes: number): void {
    if (bytes <= 0) return
    this.total = Math.max(0, this.total - bytes)
    if (address === undefined) return
    const key = this.keyOf(address)
    const left = (this.perAddress.get(key) ?? 0) - bytes
    if (left > 0) this.perAddress.set(key, left)
    else this.perAddress.delete(key)
  }

  private keyOf(address: string): string {
    return addressKey(address, this.limits.ipv6PrefixBits)
  }

  /** The message of a `SERVER_BUSY` refusal. */
  refusalMessage(refusal: IncompleteRefusal): string {
    return refusal === "address"
      ? `this address already sends ${this.limits.maxIncompleteBytesPerIp} bytes of unfinished bodies and messages; try again later`
      : `the server already holds ${this.limits.maxIncompleteBytes} bytes of unfinished bodies and messages; try again later`
  }
}
