// GB 11643-1999 national ID numbers: 17 digits and an ISO 7064 MOD 11-2 check character.
// The birth date and sex inside a valid number fill the member's fields.
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";

export function checkDigit(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i];
  return CHECK[sum % 11];
}

// {birth_date: "YYYY-MM-DD", sex: "M"|"F"} or {error: i18n key}.
export function parseIdNumber(raw, today = new Date()) {
  const value = String(raw ?? "").trim().toUpperCase();
  if (!/^\d{17}[\dX]$/.test(value)) return { error: "id.format" };
  const y = Number(value.slice(6, 10)), m = Number(value.slice(10, 12)), d = Number(value.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return { error: "id.date" };
  if (y < 1900 || date > today) return { error: "id.range" };
  if (checkDigit(value.slice(0, 17)) !== value[17]) return { error: "id.check" };
  return { value, birth_date: `${value.slice(6, 10)}-${value.slice(10, 12)}-${value.slice(12, 14)}`, sex: Number(value[16]) % 2 ? "M" : "F" };
}
