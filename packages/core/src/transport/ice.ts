/** An ICE candidate as it travels in a `SIGNAL` or `PEER` frame. */
export interface IceCandidate {
  readonly candidate: string
  readonly sdpMid?: string | null
  readonly sdpMLineIndex?: number | null
}

/**
 * A local candidate as a signal carries it, or `null` (no more candidates). node-datachannel writes a
 * candidate as an SDP attribute line (`a=candidate:…`); browsers want it bare.
 */
export function candidateToSignal(candidate: IceCandidate | null): IceCandidate | null {
  if (!candidate?.candidate) return null
  return {
    candidate: candidate.candidate.startsWith("a=") ? candidate.candidate.slice(2) : candidate.candidate,
    sdpMid: candidate.sdpMid ?? null,
    sdpMLineIndex: candidate.sdpMLineIndex ?? null,
  }
}

/**
 * An SDP without its ICE candidate lines: the candidates travel one by one, at the time the other side can
 * use them (docs/webrtc.md, "The order of the signals").
 */
export function withoutCandidates(sdp: string): string {
  return sdp.replace(/^a=(?:candidate:|end-of-candidates).*\r?\n/gm, "")
}

/** The part of `RTCPeerConnection` that making an offer uses. */
export interface OfferingPeer {
  createOffer(): Promise<{ readonly type: string; readonly sdp?: string | undefined }>
  setLocalDescription(description: { readonly type: string; readonly sdp?: string | undefined }): Promise<void>
  readonly signalingState: string
  readonly localDescription: { readonly sdp: string } | null
}

/**
 * Makes and sets this peer's offer, and returns its SDP without candidates (they follow the answer).
 * node-datachannel has set its offer already, when its first channel was made; a browser has not.
 */
export async function localOffer(peer: OfferingPeer): Promise<string> {
  const offer = await peer.createOffer()
  if (peer.signalingState !== "have-local-offer") await peer.setLocalDescription(offer)
  const sdp = peer.localDescription?.sdp ?? offer.sdp
  if (!sdp) throw new Error("no local description")
  return withoutCandidates(sdp)
}

/**
 * The remote candidates of one peer connection: added as they come once the remote description is set,
 * and kept until then (implementations refuse a candidate before it). A candidate the peer cannot use is
 * skipped, as ICE skips an unreachable one.
 */
export function remoteCandidates(peer: { addIceCandidate(candidate: IceCandidate): Promise<void> }) {
  let described = false
  const early: IceCandidate[] = []
  return {
    add(candidate: IceCandidate): void {
      if (described) void peer.addIceCandidate(candidate).catch(() => {})
      else early.push(candidate)
    },
    /** The remote description is set: the candidates kept so far are added, in order. */
    async described(): Promise<void> {
      described = true
      for (const candidate of early.splice(0)) await peer.addIceCandidate(candidate).catch(() => {})
    },
  }
}
