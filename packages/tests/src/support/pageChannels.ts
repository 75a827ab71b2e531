import type { Page } from "playwright-core"

/** What a page saw of its data channels: their options as the browser reports them, and traffic by label. */
export interface ChannelLog {
  readonly made: Array<{
    label: string
    ordered: boolean
    maxRetransmits: number | null
    negotiated: boolean
    id: number | null
  }>
  readonly sent: Record<string, number>
  readonly received: Record<string, number>
  /** The largest `bufferedAmount` a send found its channel holding, by label. */
  readonly buffered: Record<string, number>
}

/**
 * Installed in each page before its client loads: wraps `createDataChannel` (the caller's channels and
 * both sides' negotiated lossy channel) and `ondatachannel` (the callee's announced channel) so that the
 * test can see which channel carried what. The page's client, and the channels, are the real ones.
 */
export function watchChannels(): void {
  const log: ChannelLog = { made: [], sent: {}, received: {}, buffered: {} }
  const w = window as unknown as { __channels: ChannelLog; __lossy?: RTCDataChannel }
  w.__channels = log
  const watch = (channel: RTCDataChannel) => {
    const { label } = channel
    log.made.push({
      label,
      ordered: channel.ordered,
      maxRetransmits: channel.maxRetransmits,
      negotiated: channel.negotiated,
      id: channel.id,
    })
    if (label === "switchyard-peer-latest") w.__lossy = channel
    const send = channel.send.bind(channel)
    channel.send = ((data: string) => {
      log.sent[label] = (log.sent[label] ?? 0) + 1
      log.buffered[label] = Math.max(log.buffered[label] ?? 0, channel.bufferedAmount)
      send(data)
    }) as RTCDataChannel["send"]
    channel.addEventListener("message", () => {
      log.received[label] = (log.received[label] ?? 0) + 1
    })
  }
  const proto = RTCPeerConnection.prototype
  const create = proto.createDataChannel
  proto.createDataChannel = function (this: RTCPeerConnection, ...args: Parameters<typeof create>) {
    const channel = create.apply(this, args)
    watch(channel)
    return channel
  }
  const ondatachannel = Object.getOwnPropertyDescriptor(proto, "ondatachannel")
  Object.defineProperty(proto, "ondatachannel", {
    ...ondatachannel,
    set(this: RTCPeerConnection, handler: ((event: RTCDataChannelEvent) => void) | null) {
      ondatachannel?.set?.call(
        this,
        handler &&
          ((event: RTCDataChannelEvent) => {
            watch(event.channel)
            handler.call(this, event)
          }),
      )
    },
  })
}

export const channelLog = (page: Page) =>
  page.evaluate(() => (window as unknown as { __channels: ChannelLog }).__channels)
