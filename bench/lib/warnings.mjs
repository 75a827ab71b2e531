// Imported first by the child processes: prints each kind of process warning once per process instead
// of every time, so that a warning repeated per request (a MaxListenersExceededWarning, say) shows that
// it happened without flooding the log.
const seen = new Set()
process.removeAllListeners("warning")
process.on("warning", (warning) => {
  if (seen.has(warning.name)) return
  seen.add(warning.name)
  console.error(
    `(pid ${process.pid}, ${process.argv.slice(2).join(" ")}) ${warning.name}: ${warning.message} [shown once per process]`,
  )
})
