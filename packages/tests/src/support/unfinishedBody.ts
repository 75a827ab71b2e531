import { connect, type Socket } from "node:net"

/** A POST whose body is started and left unfinished, over a raw TCP connection. */
export interface UnfinishedBody {
  readonly socket: Socket
  /** When the request was sent. */
  readonly startedAt: number
  /** The answer's status and body `code`, once it came (or `undefined` if the connection ended first). */
  readonly answer: Promise<{ status: number; code: string | undefined; at: number } | undefined>
  /** When the server ended its side of the connection (its FIN, or a reset). */
  readonly ended: Promise<number>
  /**
   * When the connection was closed altogether: after the server's FIN, the client sends a byte every 50 ms,
   * which the server's kernel answers with a reset once the server has let the connection go.
   */
  readonly closed: Promise<number>
  /** Sends `bytes` more of the body. */
  send(bytes: number): Promise<void>
}

/**
 * Sends the headers of a POST announcing `declared` bytes (`Content-Length`) and any `headers`, then
 * `bytes` of its body, from `localAddress`. The client side never ends by itself: it keeps its side open
 * after the server ends its own, as a client still sending would.
 */
export async function unfinishedBody(
  target: string,
  declared: number,
  bytes: number,
  localAddress = "127.0.0.1",
  headers: Record<string, string> = {},
): Promise<UnfinishedBody> {
  const url = new URL(target)
  const socket = connect({ host: url.hostname, port: Number(url.port), localAddress, allowHalfOpen: true })
  let received = ""
  const at = () => Date.now()
  const ended = new Promise<number>((resolve) => {
    socket.once("end", () => resolve(at()))
    socket.once("close", () => resolve(at()))
  })
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(at())))
  socket.once("end", () => {
    const probe = setInterval(() => {
      if (socket.destroyed) return clearInterval(probe)
      socket.write("a")
    }, 50)
  })
  const answer = new Promise<{ status: number; code: string | undefined; at: number } | undefined>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1")
      const head = received.indexOf("\r\n\r\n")
      if (head === -1) return
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1])
      const length = Number(/content-length: (\d+)/i.exec(received.slice(0, head))?.[1] ?? 0)
      if (received.length < head + 4 + length) return
      const body = received.slice(head + 4, head + 4 + length)
      resolve({ status, code: /"code":"([A-Z_]+)"/.exec(body)?.[1], at: at() })
    })
    socket.once("close", () => resolve(undefined))
  })
  socket.on("error", () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("error", reject)
  })
  const startedAt = at()
  const send = (n: number) =>
    new Promise<void>((resolve) => {
      if (n <= 0 || socket.destroyed || !socket.writable) return resolve()
      socket.write(Buffer.alloc(n, 0x61), () => resolve())
    })
  socket.write(
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${declared}\r\n${Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("")}\r\n`,
  )
  await send(bytes)
  return { socket, startedAt, answer, ended, closed, send }
}
