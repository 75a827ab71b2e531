// Baseline for the WebRTC row: a bare node-datachannel data channel, Node to Node, echoing JSON the way
// `ws.mjs` does (parse, re-serialise, send back; replies matched by `n`). No envelope, no validation, no
// session: what the data channel itself costs, as raw `ws` is for the WebSocket rows. The offer, answer
// and candidates go over a WebSocket that serves only for signalling; timed calls never touch it.
// Both peers are node-datachannel's W3C polyfill on a native peer bound to 127.0.0.1, as in
// `switchyardWebrtc.mjs`; the channel is reliable and ordered, like Switchyard's session channel.
import { createServer } from "node:http"
import { localOffer, remoteCandidates } from "@switchyard/core"
import WebSocket, { WebSocketServer } from "ws"
import { LoopbackPeerConnection, withRetries } from "../lib/webrtc.mjs"

export const name = "datachannel"
export const label = "raw node-datachannel (JSON echo)"

const loopbackPeer = () => new LoopbackPeerConnection({ iceServers: [] })

/** node-datachannel writes candidates as SDP lines (`a=candidate:…`). */
const bare = (c) => ({ candidate: c.candidate.replace(/^a=/, ""), sdpMid: c.sdpMid ?? "0" })

function close(pc, channel) {
  try {
    channel?.close()
    pc.close()
  } catch {
    // Already closed.
  }
}

export async function startServer() {
  const http = createServer((_request, response) => response.writeHead(426).end())
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false })
  const open = new Set()
  wss.on("connection", (socket) => {
    socket.on("error", () => socket.terminate())
    const pc = loopbackPeer()
    const entry = { pc, channel: undefined }
    open.add(entry)
    const queue = remoteCandidates(pc)
    pc.onicecandidate = (event) => {
      if (event.candidate) socket.send(JSON.stringify({ candidate: bare(event.candidate) }))
    }
    pc.ondatachannel = ({ channel }) => {
      entry.channel = channel
      channel.onmessage = (event) => channel.send(JSON.stringify(JSON.parse(event.data)))
    }
    const onSignal = async (message) => {
      if (message.candidate) return queue.add(message.candidate)
      await pc.setRemoteDescription({ type: "offer", sdp: message.offer })
      const answer = await pc.createAnswer()
      await pc.setLocalDescription(answer)
      socket.send(JSON.stringify({ answer: pc.localDescription?.sdp ?? answer.sdp }))
      await queue.described()
    }
    // A failed answer ends the signalling socket; the client then reports that its channel never opened.
    socket.on("message", (data) => void onSignal(JSON.parse(data)).catch(() => socket.terminate()))
    socket.on("close", () => {
      open.delete(entry)
      close(pc, entry.channel)
    })
  })
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve))
  return {
    url: `ws://127.0.0.1:${http.address().port}`,
    async close() {
      for (const { pc, channel } of open) close(pc, channel)
      for (const socket of wss.clients) socket.terminate()
      wss.close()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}

/** A client whose channel is open; one that is not within 10 s is closed and another tried. */
export function connectClient(url) {
  return withRetries("datachannel", () => connectOnce(url))
}

async function connectOnce(url) {
  const socket = new WebSocket(url, { perMessageDeflate: false })
  await new Promise((resolve, reject) => {
    socket.once("open", resolve)
    socket.once("error", reject)
  })
  const pc = loopbackPeer()
  // createOffer waits for a channel to exist.
  const channel = pc.createDataChannel("echo", { ordered: true })
  const pending = new Map()
  channel.onmessage = (event) => {
    const reply = JSON.parse(event.data)
    const resolve = pending.get(reply.n)
    pending.delete(reply.n)
    resolve?.(reply)
  }
  const queue = remoteCandidates(pc)
  // As webrtcTransport does (docs/webrtc.md, "The order of the signals"): the offer goes without
  // candidates and this side's follow the answer, so that the server cannot connect to this peer before
  // it knows the server's fingerprint (otherwise DTLS sometimes fails with "unknown CA").
  let answered = false
  const local = []
  pc.onicecandidate = (event) => {
    if (!event.candidate) return
    if (answered) socket.send(JSON.stringify({ candidate: bare(event.candidate) }))
    else local.push(bare(event.candidate))
  }
  let fail
  const opened = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("channel not open within 10 s")), 10_000)
    fail = (error) => {
      clearTimeout(timer)
      reject(error)
    }
    channel.onopen = () => {
      clearTimeout(timer)
      resolve()
    }
  })
  const onSignal = async (message) => {
    if (message.candidate) return queue.add(message.candidate)
    await pc.setRemoteDescription({ type: "answer", sdp: message.answer })
    answered = true
    await queue.described()
    for (const candidate of local.splice(0)) socket.send(JSON.stringify({ candidate }))
  }
  socket.on("message", (data) => void onSignal(JSON.parse(data)).catch(fail))
  socket.send(JSON.stringify({ offer: await localOffer(pc) }))
  try {
    await opened
  } catch (error) {
    close(pc, channel)
    socket.close()
    throw error
  }
  return {
    call(payload) {
      return new Promise((resolve) => {
        pending.set(payload.n, resolve)
        channel.send(JSON.stringify(payload))
      })
    },
    async close() {
      close(pc, channel)
      socket.close()
    },
  }
}
