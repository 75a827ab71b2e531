// The root entry: the contract both sides share. The link is at `@switchyard/trpc/client`, the server at
// `@switchyard/trpc/server`, so that neither side's bundle carries the other's code.
export {
  MAX_PATH_LENGTH,
  type TrpcContract,
  type TrpcRequest,
  type TrpcSubscriptionItem,
  trpcContract,
  type WithTrpc,
  withTrpc,
} from "./contract.ts"
