import { randomBytes } from "node:crypto"
import { connect, type Socket } from "node:net"

/**
 * A WebSocket spoken by hand over a TCP socket, for tests that need what no client library sends: a frame
 * header announcing more than ever comes, a message left unfinished, bytes of several frames in one write.
 */
export interface RawWebSocket {
  readonly socket: Socket
  /** Everything the server sent after the 101, as raw bytes. */
  readonly received: () => Buffer
  /** Resolves when the TCP connection is closed, with the time it closed. */
  readonly closed: Promise<number>
}

/** Upgrades a TCP connection to `url` (http: or ws:) from `localAddress` (any 127.x.y.z on Linux). */
export async function openRawWebSocket(url: string, localAddress = "127.0.0.1"): Promise<RawWebSocket> {
  const target = new URL(url)
  const socket = connect({ host: target.hostname, port: Number(target.port), localAddress })
  socket.on("error", () => {})
  let closedAt: (at: number) => void = () => {}
  const closed = new Promise<number>((resolve) => {
    closedAt = resolve
  })
  socket.once("close", () => closedAt(Date.now()))
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("error", reject)
  })
  socket.write(
    `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n` +
      "Sec-WebSocket-Version: 13\r\n\r\n",
  )
  let buffered = Buffer.alloc(0)
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      const end = buffered.indexOf("\r\n\r\n")
      if (end === -1) return
      socket.off("data", onData)
      const head = buffered.subarray(0, end).toString()
      if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`))
      buffered = buffered.subarray(end + 4)
      resolve()
    }
    socket.on("data", onData)
    socket.once("close", () => reject(new Error("closed during the upgrade")))
  })
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
  })
  return { socket, received: () => buffered, closed }
}

/** The header of a masked client frame whose payload is `length` bytes (the payload is sent unmasked-zero). */
export function frameHeader(opcode: number, length: number, fin = true): Buffer {
  const first = (fin ? 0x80 : 0) | opcode
  // A zero mask: the payload goes as it is, which is all the server checks here.
  const mask = Buffer.alloc(4)
  if (length < 126) return Buffer.concat([Buffer.from([first, 0x80 | length]), mask])
  if (length < 65_536) {
    const head = Buffer.from([first, 0x80 | 126, 0, 0])
    head.writeUInt16BE(length, 2)
    return Buffer.concat([head, mask])
  }
  const head = Buffer.alloc(10)
  head[0] = first
  head[1] = 0x80 | 127
  head.writeBigUInt64BE(BigInt(length), 2)
  return Buffer.concat([head, mask])
}

/** A whole masked text frame. */
export function textFrame(text: string, fin = true): Buffer {
  const payload = Buffer.from(text)
  return Buffer.concat([frameHeader(0x1, payload.length, fin), payload])
}

/** The close code of the first close frame in what the server sent, if one came. */
export function closeCodeIn(bytes: Buffer): number | undefined {
  let at = 0
  while (at + 2 <= bytes.length) {
    const opcode = (bytes[at] as number) & 0x0f
    let length = (bytes[at + 1] as number) & 0x7f
    let start = at + 2
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2)
      start += 2
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at + 2))
      start += 8
    }
    if (opcode === 0x8) return length >= 2 && start + 2 <= bytes.length ? bytes.readUInt16BE(start) : undefined
    at = start + length
  }
  return undefined
}
