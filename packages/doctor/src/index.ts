// `@switchyard/doctor`: tries every transport from here to a Switchyard server and says what got in the
// way (docs/doctor.md). The probe and its judgement are shared by the command (cli.ts, `switchyard-doctor`)
// and the docs site's page (`@switchyard/doctor/page`); neither is part of the client's bundle.
export {
  type DoctorOptions,
  type DoctorPlatform,
  type DoctorReport,
  defaultTimings,
  runDoctor,
  type WebRtcProbe,
} from "./doctor.ts"
export {
  type Finding,
  type FindingKind,
  findingAnchors,
  statusOf,
  type TransportRow,
  type Verdict,
} from "./findings.ts"
export { type OfferResult, readOffer } from "./offer.ts"
export { type LinkEnd, type LinkProbe, type ProbeTimings, probeLink } from "./probe.ts"
export { doctorDocs, formatReport } from "./text.ts"
