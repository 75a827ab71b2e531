/**
 * One measured window of a fan-out run (bench/run.mjs, bench/cluster.mjs): `publisher` publishes for `ms`,
 * pauses, and `client` waits until every subscriber has every message. Returns the client's `drained`
 * report, with `failedSubscribers` set when some subscriber did not get everything in time.
 */
export async function publishFor(publisher, client, { burst, window, subscribers }, ms) {
  publisher.send({ type: "publish", burst, window })
  await publisher.next("publishing", 10_000)
  await new Promise((resolve) => setTimeout(resolve, ms))
  publisher.send({ type: "pause" })
  const { total } = await publisher.next("paused", 10_000)
  client.send({ type: "drain", total, timeoutMs: 10_000 })
  const drained = await client.next("drained", 20_000)
  if (!drained.complete) drained.failedSubscribers ||= subscribers
  return drained
}
