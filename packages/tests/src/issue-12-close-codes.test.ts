import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { control } from "@switchyard/core"
import { TestContract, testHandlers } from "@switchyard/core/testing"
import { createServer, type Server } from "@switchyard/server-node"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { closeCodeIn, frameHeader, openRawWebSocket, textFrame } from "./support/rawWebSocket.ts"

/**
 * Issue 12, item 5: the documented close code and status must arrive, every time, even while the client is
 * still sending what the server refused. Each case is tried many times, as the failure was a race (the
 * connection cut right after the answer was written, so that the client's kernel got a reset before the
 * client had read the answer).
 */
describe("refusals that arrive (issue 12, item 5)", () => {
  let server: Server<TestContract>
  let url: string

  beforeEach(async () => {
    server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, { onError: () => {} })
    url = (await server.listen(0, "127.0.0.1")).url
  })
  afterEach(() => server.close())

  it("closes a WebSocket message over the cap with 1009, not 1006, every time", async () => {
    const tries = 12
    const codes: number[] = []
    const big = Buffer.alloc(3 * 1024 * 1024, 0x78)
    for (let i = 0; i < tries; i++) {
      const ws = new WebSocket(url.replace("http:", "ws:"))
      ws.on("error", () => {})
      await new Promise((resolve, reject) => {
        ws.once("open", resolve)
        ws.once("error", reject)
      })
      ws.send(control.hello(1, null, 0))
      const code = await new Promise<number>((resolve) => {
        ws.once("close", (c) => resolve(c))
        // More than the cap, and more again, so that bytes are still arriving when the server refuses.
        ws.send(big)
        ws.send(big)
      })
      codes.push(code)
    }
    expect(codes).toEqual(Array(tries).fill(1009))
  })

  it("sends the 1009 close frame when the oversized frame comes in the same read as the HELLO", async () => {
    const tries = 12
    const codes: Array<number | undefined> = []
    const payload = Buffer.alloc(64 * 1024, 0x78)
    for (let i = 0; i < tries; i++) {
      const raw = await openRawWebSocket(url)
      // One write: the HELLO (answered with a WELCOME in the same tick) and a frame announcing 3 MiB.
      raw.socket.write(
        Buffer.concat([textFrame(control.hello(1, null, 0)), frameHeader(0x1, 3 * 1024 * 1024), payload]),
      )
      let sent = 0
      const pump = setInterval(() => {
        if (raw.socket.destroyed || sent > 3 * 1024 * 1024) return clearInterval(pump)
        sent += payload.length
        raw.socket.write(payload)
      }, 1)
      await raw.closed
      clearInterval(pump)
      codes.push(closeCodeIn(raw.received()))
    }
    expect(codes).toEqual(Array(tries).fill(1009))
  })

  for (const transport of ["sse", "long-polling", "polling"]) {
    it(`answers an oversized chunked body on ${transport} with 413, not a reset, every time`, async () => {
      const tries = 6
      const outcomes: Array<number | string> = []
      for (let i = 0; i < tries; i++) outcomes.push(await postChunkedUntilAnswered(`${url}?transport=${transport}`))
      expect(outcomes).toEqual(Array(tries).fill(413))
      // A client that reads the answer only once it has sent its whole body (as curl does) must get it too:
      // its writes must not be reset.
      const written: Array<{ status: string | undefined; writeError: string | undefined }> = []
      for (let i = 0; i < tries; i++) written.push(await postChunkedThenRead(`${url}?transport=${transport}`))
      expect(written).toEqual(Array(tries).fill({ status: "413", writeError: undefined }))
    })
  }

  it("answers an oversized chunked upstream POST on an open link with 413, and the link goes on", async () => {
    const opened = await fetch(`${url}?transport=long-polling`, { method: "POST", body: control.hello(1, null, 0) })
    const { link } = (await opened.json()) as { link: string }
    for (let i = 0; i < 6; i++) expect(await postChunkedUntilAnswered(`${url}?link=${link}`)).toBe(413)
    const poll = await fetch(`${url}?transport=long-polling&link=${link}`)
    expect(poll.status).toBe(200)
    await poll.text()
  })
})

/**
 * POSTs a chunked body (no Content-Length) that keeps coming until the server answers: the status, or the
 * error the client saw instead.
 */
function postChunkedUntilAnswered(target: string): Promise<number | string> {
  const url = new URL(target)
  const chunk = Buffer.alloc(64 * 1024, 0x79)
  return new Promise((resolve) => {
    let answered = false
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: "POST" },
      (res) => {
        answered = true
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (!answered) resolve(error.code ?? error.message)
    })
    let sent = 0
    const pump = () => {
      // Up to 8 MiB, well past the 1 MiB + 64 KiB cap: still sending when the refusal comes.
      while (!answered && !req.destroyed && sent < 8 * 1024 * 1024) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once("drain", pump)
      }
      if (!answered && !req.destroyed) req.end()
    }
    pump()
  })
}

/**
 * Sends a whole chunked body of 8 MiB over a raw TCP connection, then reads what came back: the status of
 * the answer, and the error a write met, if one did (a reset when the server cut the connection).
 */
async function postChunkedThenRead(
  target: string,
): Promise<{ status: string | undefined; writeError: string | undefined }> {
  const url = new URL(target)
  // Half-open allowed: the client goes on sending after the server has ended its side, as curl does.
  const socket = connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true })
  let received = ""
  let writeError: string | undefined
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1")
  })
  socket.on("error", (error: NodeJS.ErrnoException) => {
    writeError ??= error.code ?? error.message
  })
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
  await new Promise<void>((resolve) => socket.once("connect", resolve))
  const write = (data: string | Buffer) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed) return resolve()
      socket.write(data, () => resolve())
    })
  await write(`POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nTransfer-Encoding: chunked\r\n\r\n`)
  const chunk = Buffer.concat([Buffer.from("10000\r\n"), Buffer.alloc(64 * 1024, 0x79), Buffer.from("\r\n")])
  for (let i = 0; i < 128 && !socket.destroyed; i++) await write(chunk)
  await write("0\r\n\r\n")
  socket.end()
  await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))])
  socket.destroy()
  return { status: /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1], writeError }
}
