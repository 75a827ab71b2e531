import { documentedLocation } from "./cluster/nginx.ts"

/**
 * The nginx locations the doctor's tests put between it and the server (docs/doctor.md), each the
 * documented one (docs/proxies.md#nginx) with something taken away or added.
 */
export const doctorLocations = {
  /**
   * No upgrade headers (the upgrade reaches the server as a plain GET: 426), response buffering forced on
   * and event streams gzipped: nginx's gzip holds the events, and a client that asks for gzip (a browser,
   * Node's fetch) gets nothing of the stream, not even its headers (docs/proxies.md#nginx).
   */
  refusedAndBuffered: [
    ...documentedLocation.filter((line) => !/Upgrade|Connection|proxy_buffering/.test(line)),
    "proxy_buffering on;",
    "proxy_ignore_headers X-Accel-Buffering;",
    "gzip on;",
    "gzip_types text/event-stream;",
    "gzip_proxied any;",
  ],
  /**
   * The documented location, gzipping the offer and the polls' answers (JSON and plain text) for a client
   * that asks: a client on the way through it must decode them (the command's `--proxy` fetch does).
   */
  gzipped: [...documentedLocation, "gzip on;", "gzip_types application/json text/plain;", "gzip_proxied any;"],
  /** The documented location with a 500 ms read timeout: a request held longer (a long poll, an idle WebSocket) is cut. */
  cutting: documentedLocation.map((line) =>
    line.startsWith("proxy_read_timeout") ? "proxy_read_timeout 500ms;" : line,
  ),
} satisfies Record<string, readonly string[]>
