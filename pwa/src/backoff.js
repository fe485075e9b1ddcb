// Retry timing only: exponential, capped at five minutes, with jitter so that tablets
// coming back online together do not all knock at once.
export const BASE_MS = 2000;
export const CAP_MS = 5 * 60 * 1000;

export function delay(attempt, random = Math.random) {
  const exp = Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, attempt));
  return Math.round(exp / 2 + (random() * exp) / 2);
}
