// Money as decimal strings on the wire and integer fen (cents) in arithmetic: never floats.
const MONEY = /^\d{1,12}(\.\d{1,2})?$/;

export function isMoney(text) {
  return MONEY.test(String(text ?? "").trim());
}

export function toFen(text) {
  const s = String(text ?? "").trim();
  if (!MONEY.test(s)) return null;
  const [yuan, frac = ""] = s.split(".");
  return Number(yuan) * 100 + Number((frac + "00").slice(0, 2));
}

export function fromFen(fen) {
  const sign = fen < 0 ? "-" : "";
  const n = Math.abs(Math.round(fen));
  return `${sign}${Math.floor(n / 100)}.${String(n % 100).padStart(2, "0")}`;
}

// Half-up division of fen by a count, as the policy rounds (to 0.01 yuan).
export function divideFen(fen, count) {
  if (!count) return null;
  return Math.floor((2 * fen + count) / (2 * count));
}
