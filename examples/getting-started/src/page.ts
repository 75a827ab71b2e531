// #region connect
import { createClient, websocketTransport } from "@switchyard/client-browser"
import { type ErrorOf, isFailure } from "@switchyard/core"
import { Calc } from "./contract.ts"

// The server that served this page carries Switchyard on `/switchyard`.
const client = createClient(Calc, {
  url: new URL("/switchyard", location.href).href,
  transports: [websocketTransport()],
})
// #endregion connect

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const state = $<HTMLSpanElement>("state")
const a = $<HTMLInputElement>("a")
const b = $<HTMLInputElement>("b")
const quotient = $<HTMLOutputElement>("quotient")
const from = $<HTMLInputElement>("from")
const ticks = $<HTMLOListElement>("ticks")

client.on("state", (now) => {
  state.textContent = now
})

// #region divide
$("divide").addEventListener("submit", async (event) => {
  event.preventDefault()
  try {
    const result = await client.rpc.divide({ a: a.valueAsNumber, b: b.valueAsNumber })
    show(`${a.value} ÷ ${b.value} = ${result}`)
  } catch (error) {
    // The declared error arrives as a value: `error.data` is typed from the contract.
    if (isFailure<ErrorOf<Calc["rpc"]["divide"]>>(error))
      show(`${error.data._tag}: cannot divide ${error.data.dividend} by zero`, "failure")
    else show(`${error}`, "failure")
  }
})
// #endregion divide

// #region countdown
$("countdown").addEventListener("submit", async (event) => {
  event.preventDefault()
  ticks.replaceChildren()
  // Each item is decoded with the contract's schema: `at` is a Date again.
  for await (const { n, at } of client.streams.countdown({ from: from.valueAsNumber })) {
    tick(`${n} (${at.toLocaleTimeString()})`)
  }
  tick("done")
})
// #endregion countdown

function show(text: string, kind = "value"): void {
  quotient.textContent = text
  quotient.className = kind
}

function tick(text: string): void {
  const li = document.createElement("li")
  li.textContent = text
  ticks.append(li)
}
