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
  const stop = () => {
    clearTimeout(timer)
    peer.onconnectionstatechange = peer.oniceconnectionstatechange = null
  }
  const lose = (reason: string) => {
    stop()
    lost(`the peer connection ${reason}`)
  }
  const check = () => {
    const states = `${peer.connectionState} ${peer.iceConnectionState}`
    if (/failed|closed/.test(states)) lose("failed")
    // Disconnected can pass (a moment without packets); past the bound, the session is better off below.
    else if (!states.includes("disconnected")) timer = void clearTimeout(timer)
    else if (timer === undefined) {
      timer = setTimeout(lose, disconnectedTimeoutMs, "stayed disconnected")
      unref(timer)
    }
  }
  peer.onconnectionstatechange = peer.oniceconnectionstatechange = check
  return stop
}
