import type { FetchLike } from "@switchyard/client-browser"
import type { ServerOffer } from "@switchyard/core"

/** The server's offer, or why it could not be read. */
export type OfferResult =
  | { readonly ok: true; readonly offer: ServerOffer; readonly ms: number }
  | { readonly ok: false; readonly status: number | undefined; readonly reason: string; readonly ms: number }

/**
 * `GET <url>?negotiate=1` (docs/negotiation.md#1-the-offer): the transports the server offers, in its
 * order of preference. It creates nothing on the server. A browser that is refused by the server's Origin
 * check, or kept from reading the answer by CORS, sees only a network error: the reason says so.
 */
export async function readOffer(url: string, fetchImpl: FetchLike): Promise<OfferResult> {
  const started = performance.now()
  const ms = () => Math.round(performance.now() - started)
  let response: Response
  try {
    response = await fetchImpl(`${url}${url.includes("?") ? "&" : "?"}negotiate=1`, { cache: "no-store" })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { ok: false, status: undefined, reason: `no answer (${message})`, ms: ms() }
  }
  if (!response.ok) {
    await response.body?.cancel()
    return { ok: false, status: response.status, reason: `HTTP ${response.status}`, ms: ms() }
  }
  try {
    const offer = (await response.json()) as ServerOffer
    if (!Array.isArray(offer.transports)) throw new Error("no transports")
    return { ok: true, offer, ms: ms() }
  } catch {
    return { ok: false, status: response.status, reason: "the answer is not a Switchyard offer", ms: ms() }
  }
}
