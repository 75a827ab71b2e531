// Imported first by the child processes: prints each kind of process warning once per process instead
// of every time. Node's fetch (undici) adds an abort listener to the request's signal that is removed
// only when the request is garbage-collected, so a transport that passes one long-lived AbortSignal to
// every fetch (Switchyard's HTTP links) sets off a MaxListenersExceededWarning on every request past
// 1500 between collections: a flood in the log, not a leak (the listeners go with the requests).
const seen = new Set()
process.removeAllListeners("warning")
process.on("warning", (warning) => {
  if (seen.has(warning.name)) return
  seen.add(warning.name)
  console.error(
    `(pid ${process.pid}, ${process.argv.slice(2).join(" ")}) ${warning.name}: ${warning.message} [shown once per process]`,
  )
})
