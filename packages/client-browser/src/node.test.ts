import http from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { nodeFetch } from "./node.ts"

let server: http.Server
let base: string
/** The client port of each request, to see keep-alive at work. */
let ports: number[]
let streams: http.ServerResponse[]
/** What became of each answer to /huge-error. */
let errorAnswers: Array<{ written: number; finished: boolean }>

beforeEach(async () => {
  ports = []
  streams = []
  errorAnswers = []
  server = http.createServer((request, response) => {
    ports.push(request.socket.remotePort ?? 0)
    const chunks: Buffer[] = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      if (request.url === "/echo") {
        response.writeHead(201, { "content-type": "application/json", "x-multi": ["a", "b"] })
        const body = Buffer.concat(chunks).toString()
        return response.end(JSON.stringify({ method: request.method, headers: request.headers, body }))
      }
      if (request.url === "/empty") return response.writeHead(204).end()
      if (request.url === "/stream") {
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.write("data: one\n\n")
        return streams.push(response)
      }
      if (request.url === "/huge-error") {
        response.writeHead(503, { "content-type": "text/html" })
        // More than any socket buffer holds: the server sees the client hang up before the end.
        let written = 0
        const pump = () => {
          while (written < 64 * 1024 * 1024 && !response.destroyed) {
            written += 65_536
            if (!response.write(Buffer.alloc(65_536, 120))) return void response.once("drain", pump)
          }
          response.end()
        }
        response.on("close", () => errorAnswers.push({ written, finished: response.writableFinished }))
        return pump()
      }
      if (request.url === "/hang") return
      response.writeHead(404).end("no")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterEach(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

describe("nodeFetch", () => {
  it("sends the method, headers and body, and gives back status, headers and body", async () => {
    const fetch = nodeFetch()
    const response = await fetch(`${base}/echo`, {
      method: "POST",
      headers: { "Content-Type": "text/plain", "X-Test": "1" },
      body: "héllo",
    })
    expect(response.status).toBe(201)
    expect(response.ok).toBe(true)
    expect(response.headers.get("x-multi")).toBe("a, b")
    const echoed = (await response.json()) as { method: string; headers: Record<string, string>; body: string }
    expect(echoed.method).toBe("POST")
    expect(echoed.body).toBe("héllo")
    expect(echoed.headers["content-type"]).toBe("text/plain")
    expect(echoed.headers["x-test"]).toBe("1")
    expect(echoed.headers["content-length"]).toBe(String(Buffer.byteLength("héllo")))
  })

  it("accepts Headers and byte bodies, and answers 204 with no body", async () => {
    const fetch = nodeFetch()
    const echoed = await fetch(`${base}/echo`, {
      method: "PUT",
      headers: new Headers({ "x-a": "b" }),
      body: new Uint8Array([104, 105]),
    }).then((r) => r.json() as Promise<{ headers: Record<string, string>; body: string }>)
    expect(echoed.body).toBe("hi")
    expect(echoed.headers["x-a"]).toBe("b")
    const empty = await fetch(`${base}/empty`, { method: "DELETE" })
    expect(empty.status).toBe(204)
    expect(empty.body).toBeNull()
    const missing = await fetch(`${base}/nowhere`)
    expect(missing.status).toBe(404)
    expect(await missing.text()).toBe("no")
    // An error's body past 4 KiB (a proxy's error page): not downloaded, the connection closed, reading fails.
    const huge = await fetch(`${base}/huge-error`)
    expect(huge.status).toBe(503)
    await expect(huge.text()).rejects.toThrow("nodeFetch reads at most 4096 bytes of an error's body")
    await vi.waitFor(() => expect(errorAnswers).toHaveLength(1))
    expect(errorAnswers[0]?.finished).toBe(false)
    expect(errorAnswers[0]?.written).toBeLessThan(16 * 1024 * 1024)
  })

  it("keeps the connection alive between requests", async () => {
    const fetch = nodeFetch()
    for (let i = 0; i < 3; i++) await (await fetch(`${base}/echo`, { method: "POST", body: "x" })).text()
    expect(ports).toHaveLength(3)
    expect(new Set(ports).size).toBe(1)
  })

  it("streams an event stream as it arrives, and aborting ends it", async () => {
    const fetch = nodeFetch()
    const abort = new AbortController()
    const response = await fetch(`${base}/stream`, { signal: abort.signal })
    expect(response.headers.get("content-type")).toBe("text/event-stream")
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    expect(decoder.decode((await reader.read()).value)).toBe("data: one\n\n")
    streams[0]?.write("data: two\n\n")
    expect(decoder.decode((await reader.read()).value)).toBe("data: two\n\n")
    abort.abort()
    await expect(reader.read()).rejects.toThrow()
  })

  it("rejects with an AbortError when aborted before or while waiting", async () => {
    const fetch = nodeFetch()
    const before = new AbortController()
    before.abort()
    await expect(fetch(`${base}/echo`, { signal: before.signal })).rejects.toMatchObject({ name: "AbortError" })
    const during = new AbortController()
    const pending = fetch(`${base}/hang`, { signal: during.signal })
    setTimeout(() => during.abort(), 20)
    await expect(pending).rejects.toMatchObject({ name: "AbortError" })
  })

  it("rejects with a TypeError when the connection fails, and on URLs it cannot fetch", async () => {
    const fetch = nodeFetch()
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow(TypeError)
    await expect(fetch("not a url")).rejects.toThrow(TypeError)
    await expect(fetch("ftp://127.0.0.1/")).rejects.toThrow(TypeError)
  })

  it("gives a read body once, as text, JSON, bytes or a stream, like fetch's Response", async () => {
    const fetch = nodeFetch()
    const post = () => fetch(`${base}/echo`, { method: "POST", body: "x" })
    const first = await post()
    expect(first).toBeInstanceOf(Response)
    const copy = first.clone()
    expect(first.bodyUsed).toBe(false)
    expect(((await first.json()) as { body: string }).body).toBe("x")
    expect(first.bodyUsed).toBe(true)
    await expect(first.text()).rejects.toThrow(TypeError)
    expect(() => first.clone()).toThrow(TypeError)
    expect(JSON.parse(new TextDecoder().decode(await copy.arrayBuffer())).method).toBe("POST")
    const streamed = await post()
    const reader = (streamed.body as ReadableStream<Uint8Array>).getReader()
    const chunk = await reader.read()
    expect(JSON.parse(new TextDecoder().decode(chunk.value)).body).toBe("x")
    expect((await reader.read()).done).toBe(true)
    expect(streamed.bodyUsed).toBe(true)
  })
})
