import type { IncomingMessage } from "node:http"
import { BlockList, isIP } from "node:net"

/**
 * The address a request comes from, as every per-address limit counts it (docs/limits.md#the-clients-address):
 * the socket's peer, or, when that peer is a trusted proxy, the address that proxy put in
 * `X-Forwarded-For`. The header is read from the right, one hop per trusted proxy, and never further:
 * everything left of the first address that is not a trusted proxy was written by the client and can say
 * anything.
 */
export class ClientAddresses {
  private readonly trusted: BlockList | undefined

  /** `trustedProxies`: addresses (`"10.0.0.7"`, `"::1"`) and subnets (`"10.0.0.0/8"`, `"fd00::/8"`). */
  constructor(trustedProxies: readonly string[] = []) {
    if (trustedProxies.length === 0) return
    const list = new BlockList()
    for (const entry of trustedProxies) addTrusted(list, entry)
    this.trusted = list
  }

  /** The client's address of `request`; `undefined` when the request came over no socket (relayed). */
  of(request: IncomingMessage): string | undefined {
    const peer = plain(request.socket.remoteAddress)
    if (peer === undefined || !this.trusted) return peer
    const header = request.headers["x-forwarded-for"]
    if (header === undefined) return peer
    const hops = (Array.isArray(header) ? header.join(",") : header).split(",")
    let address = peer
    while (this.isTrusted(address)) {
      const next = hops.pop()
      if (next === undefined) break
      const hop = plain(withoutPort(next.trim()))
      // A proxy we trust wrote something that is not an address: count the proxy itself.
      if (hop === undefined || isIP(hop) === 0) break
      address = hop
    }
    return address
  }

  private isTrusted(address: string): boolean {
    return this.trusted?.check(address, isIP(address) === 6 ? "ipv6" : "ipv4") ?? false
  }
}

/**
 * The key an address is counted under: an IPv4 address as it is, an IPv6 address by its first
 * `ipv6PrefixBits` bits (a host is usually given a whole /64, so counting single IPv6 addresses would
 * let one host pass every per-address bound).
 *
 * @example addressKey("2001:db8:1:2:aaaa::1", 64) // "2001:db8:1:2::/64"
 */
export function addressKey(address: string | undefined, ipv6PrefixBits: number): string {
  if (address === undefined) return "unknown"
  address = plain(address) ?? address
  if (isIP(address) !== 6 || ipv6PrefixBits >= 128) return address
  const groups = expand(address)
  if (!groups) return address
  const bits = Math.max(0, Math.floor(ipv6PrefixBits))
  const kept = groups.map((group, i) => {
    const from = i * 16
    if (from + 16 <= bits) return group
    if (from >= bits) return 0
    return group & (0xffff << (16 - (bits - from)))
  })
  return `${kept.map((g) => g.toString(16)).join(":")}/${bits}`
}

/**
 * A hop as some proxies write it, with the client's port (`203.0.113.9:51234`, `[2001:db8::1]:443`, as
 * Azure Application Gateway does) or an IPv6 address in brackets, as the address alone. Without this, every
 * client behind such a proxy would be counted as the proxy, and share one address's bounds.
 */
function withoutPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(hop)
  if (bracketed?.[1]) return bracketed[1]
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(hop)
  return v4?.[1] ?? hop
}

/** An IPv4 address written as IPv6 (`::ffff:127.0.0.1`, as a dual-stack socket reports it) as IPv4. */
function plain(address: string | undefined): string | undefined {
  if (address === undefined) return undefined
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 part and a zone id allowed). */
function expand(address: string): number[] | undefined {
  let text = address.split("%")[0] ?? address
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split(".").map(Number)
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = "", tail] = text.split("::")
  const left = head === "" ? [] : head.split(":")
  const right = tail === undefined || tail === "" ? [] : tail.split(":")
  const missing = 8 - left.length - right.length
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined
  const groups = [...left, ...Array<string>(missing).fill("0"), ...right].map((g) => Number.parseInt(g, 16))
  return groups.some((g) => Number.isNaN(g)) ? undefined : groups
}

function addTrusted(list: BlockList, entry: string): void {
  const [address = "", prefix] = entry.trim().split("/")
  const type = isIP(address) === 6 ? "ipv6" : isIP(address) === 4 ? "ipv4" : undefined
  if (type === undefined) throw new TypeError(`switchyard: trustedProxies: ${entry} is not an address or a subnet`)
  if (prefix === undefined) return list.addAddress(address, type)
  const bits = Number(prefix)
  if (!Number.isInteger(bits) || bits < 0 || bits > (type === "ipv6" ? 128 : 32)) {
    throw new TypeError(`switchyard: trustedProxies: ${entry} has no valid prefix length`)
  }
  list.addSubnet(address, bits, type)
}
