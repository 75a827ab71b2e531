import { unref } from "@switchyard/core"

/**
 * The part of `RTCPeerConnection` whose state a link watches. Every member is optional: an implementation
 * without `connectionState` (older Firefox) is watched through `iceConnectionState` alone.
 */
export interface WatchablePeer {
  readonly connectionState?: string
  readonly iceConnectionState?: string
  onconnectionstatechange?: ((event: never) => void) | null
  oniceconnectionstatechange?: ((event: never) => void) | null
}

/**
 * Calls `lost` once, when the peer connection under a link can no longer carry it: its connection or ICE
 * state is `failed` or `closed`, or it stays `disconnected` for `disconnectedTimeoutMs`. A data channel is
 * not told: when the path goes silent (a network that fails, a server peer that went away and whose
 * goodbye was lost), Chromium keeps the channel `open` and only the peer connection's state changes
 * (`disconnected` about 5 s later, `failed` about 16 s later). Returns a function that stops watching.
 */
export function watchPeer(
  peer: WatchablePeer,
  lost: (reason: string) => void,
  disconnectedTimeoutMs: number,
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined
  let done = false
  const clear = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }
  const stop = () => {
    done = true
    clear()
    peer.onconnectionstatechange = null
    peer.oniceconnectionstatechange = null
  }
  const lose = (reason: string) => {
    if (done) return
    stop()
    lost(reason)
  }
  const check = () => {
    if (done) return
    const states = [peer.connectionState, peer.iceConnectionState]
    const ended = states.find((state) => state === "failed" || state === "closed")
    if (ended !== undefined) return lose(`the peer connection ${ended === "failed" ? "failed" : "closed"}`)
    // Disconnected can pass (a moment without packets); past the bound, the session is better off below.
    if (!states.includes("disconnected")) return clear()
    if (timer !== undefined) return
    timer = setTimeout(
      () => lose(`the peer connection stayed disconnected for ${disconnectedTimeoutMs} ms`),
      disconnectedTimeoutMs,
    )
    unref(timer)
  }
  peer.onconnectionstatechange = check
  peer.oniceconnectionstatechange = check
  return stop
}
