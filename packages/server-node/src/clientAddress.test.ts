import type { IncomingMessage } from "node:http"
import { describe, expect, it } from "vitest"
import { addressKey, ClientAddresses } from "./clientAddress.ts"

const request = (peer: string | undefined, forwardedFor?: string | string[]) =>
  ({
    socket: { remoteAddress: peer },
    headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor },
  }) as unknown as IncomingMessage

describe("ClientAddresses", () => {
  it("is the socket's peer without trusted proxies, and never reads X-Forwarded-For then", () => {
    const addresses = new ClientAddresses()
    expect(addresses.of(request("198.51.100.7", "203.0.113.1"))).toBe("198.51.100.7")
    expect(addresses.of(request("::ffff:127.0.0.2"))).toBe("127.0.0.2")
    expect(addresses.of(request(undefined))).toBeUndefined()
  })

  it("walks X-Forwarded-For from the right while the hop is a trusted proxy, and stops at the first that is not", () => {
    const addresses = new ClientAddresses(["10.0.0.0/8", "::1"])
    expect(addresses.of(request("10.1.2.3", "203.0.113.9"))).toBe("203.0.113.9")
    expect(addresses.of(request("::1", "6.6.6.6, 203.0.113.9, 10.0.0.2"))).toBe("203.0.113.9")
    expect(addresses.of(request("10.1.2.3", ["6.6.6.6", "203.0.113.9"]))).toBe("203.0.113.9")
    // Every hop a trusted proxy: the leftmost one is the client as far as anyone can tell.
    expect(addresses.of(request("10.1.2.3", "10.0.0.9"))).toBe("10.0.0.9")
    // Not an address where the proxy's hop should be: the proxy itself is counted.
    expect(addresses.of(request("10.1.2.3", "203.0.113.9, nonsense"))).toBe("10.1.2.3")
    // An untrusted peer's header is ignored.
    expect(addresses.of(request("198.51.100.7", "203.0.113.9"))).toBe("198.51.100.7")
    expect(addresses.of(request("10.1.2.3"))).toBe("10.1.2.3")
  })

  it("reads a hop written with its port, or an IPv6 hop in brackets, as the address alone", () => {
    const addresses = new ClientAddresses(["10.0.0.0/8"])
    expect(addresses.of(request("10.1.2.3", "203.0.113.9:51234"))).toBe("203.0.113.9")
    expect(addresses.of(request("10.1.2.3", "[2001:db8::1]:443"))).toBe("2001:db8::1")
    expect(addresses.of(request("10.1.2.3", "[2001:db8::1]"))).toBe("2001:db8::1")
    expect(addresses.of(request("10.1.2.3", "6.6.6.6, 203.0.113.9:1, 10.0.0.2:8080"))).toBe("203.0.113.9")
    // A port on something that is not an address is still not an address.
    expect(addresses.of(request("10.1.2.3", "proxy.internal:80"))).toBe("10.1.2.3")
  })

  it("refuses a trusted proxy that is not an address or a subnet", () => {
    expect(() => new ClientAddresses(["proxy.internal"])).toThrow(TypeError)
    expect(() => new ClientAddresses(["10.0.0.0/33"])).toThrow(TypeError)
  })
})

describe("addressKey", () => {
  it("keeps IPv4 addresses and counts IPv6 ones by their prefix", () => {
    expect(addressKey("203.0.113.9", 64)).toBe("203.0.113.9")
    expect(addressKey("2001:db8:1:2:aaaa::1", 64)).toBe("2001:db8:1:2:0:0:0:0/64")
    expect(addressKey("2001:db8:1:2:ffff:ffff:ffff:ffff", 64)).toBe(addressKey("2001:db8:1:2::9", 64))
    expect(addressKey("2001:db8:1:3::9", 64)).not.toBe(addressKey("2001:db8:1:2::9", 64))
    expect(addressKey("2001:db8:1:2::9", 56)).toBe("2001:db8:1:0:0:0:0:0/56")
    expect(addressKey("2001:db8:1:2ff::9", 56)).toBe("2001:db8:1:200:0:0:0:0/56")
    expect(addressKey("2001:db8::9", 128)).toBe("2001:db8::9")
    expect(addressKey("::ffff:192.0.2.1", 64)).toBe("192.0.2.1")
    expect(addressKey(undefined, 64)).toBe("unknown")
  })
})
