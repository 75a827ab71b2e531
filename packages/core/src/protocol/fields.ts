/** The fields frames are made of, as the decoder checks them: bounds shared by every frame type. */

/** Longest channel (procedure, stream, topic) name and topic key, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 128
/** Longest topic key, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 256
/** Largest credit one STREAM or CREDIT frame may grant. */
export const MAX_CREDIT = 1 << 20

export const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0
/** `-0` is refused: the encoder writes every count as `${n}`, which never gives "-0". */
export const isCount = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && (v > 0 || Object.is(v, 0))
export const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_NAME_LENGTH
export const isKey = (v: unknown): v is string => typeof v === "string" && v.length <= MAX_KEY_LENGTH
export const isCredit = (v: unknown): v is number => isSeq(v) && v <= MAX_CREDIT
