/**
 * A promise held until `open()` is called: what a test keeps a layer's build, a mutation or a stream
 * waiting on, then lets go of at the moment it chooses.
 *
 * @example
 * const { opened: gate, open } = latch()
 * const layer = Layer.effect(Users, Effect.andThen(Effect.promise(() => gate), build))
 * open()
 */
export function latch(): { readonly opened: Promise<void>; readonly open: () => void } {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}
