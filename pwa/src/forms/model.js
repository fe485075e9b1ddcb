// A visit's body (the wire format of PUT /api/v1/visits/<id>) while it is being filled:
// a new one from an assigned case, the checks before it may be sent, the running PCI,
// and the clean copy that goes on the wire.
import { isMoney, toFen, fromFen, divideFen } from "../money.js";
import { parseIdNumber } from "../idnumber.js";

export const RELATIONS = ["self", "spouse", "child", "parent", "sibling", "grandparent", "grandchild", "other"];
export const HUKOU = ["rural", "urban"];
export const EDUCATION = ["none", "primary", "junior_high", "senior_high", "vocational", "college"];
export const HEALTH = ["healthy", "chronic", "serious_illness"];
export const LABOUR = ["full", "partial", "none"];
export const WORK = ["employed", "flexible", "farming", "unemployed", "retired", "student", "none"];
// M21 Art 13: these are counted; the rest are excluded from household income.
export const COUNTED_INCOME = ["wage", "business", "property", "maintenance", "pension", "unemployment", "other"];
export const EXCLUDED_INCOME = ["special_care", "family_planning_award", "scholarship", "heroism_reward", "government_assistance"];
export const EXPENDITURE = ["utilities", "medical", "education", "rent", "disability", "other"];
export const TENURES = ["owned", "rented", "other"];
export const CONDITIONS = ["good", "fair", "poor"];
export const ASSET_CATEGORIES = ["vehicle", "home", "business", "financial", "luxury", "other"];
export const WITNESS_ROLES = ["neighbour", "cadre", "grid_worker"];
export const ANSWER_TEXTS = ["lives_here", "work_and_income", "house_vehicle_business", "living_conditions"];
export const YES_NO_UNSURE = ["yes", "no", "unsure"];
export const SIGNATURE_ROLES_LIST = ["family_member", "investigator"];
export const PHOTO_KINDS = ["exterior", "interior", "kitchen", "documents", "asset", "other"];
export const REQUIRED_PHOTO_KINDS = ["exterior", "interior", "kitchen"];
export const MIN_TESTIMONIES = 2;
export const AREA = /^\d{1,6}(\.\d{1,2})?$/;

export function visitKind(c) {
  if (c.state === "recheck") return "recheck";
  if ((c.returned_reasons || []).length || c.state === "returned") return "revisit";
  return "initial";
}

export function newMember(from = {}) {
  return {
    name: from.name || "", id_number: from.id_number || "", relation: from.relation || "", sex: from.sex || "",
    birth_date: from.birth_date || "", hukou_type: from.hukou_type || "", education: from.education || "",
    health: from.health || "", disability_grade: from.disability_grade ?? "", labour_ability: from.labour_ability || "",
    work_status: from.work_status || "", student: !!from.student, special_identity: from.special_identity || "",
    class: from.class || "", counted: from.counted ?? true,
  };
}

export function newBody(c, me, partner, deviceId, now = new Date()) {
  return {
    case_id: c.id, kind: visitKind(c), started_at: isoLocal(now), ended_at: null,
    investigators: [me, partner || ""], location: null, device_id: deviceId,
    members: (c.household?.members || []).map(newMember),
    income: [], expenditure: [], housing: { tenure: "", area_m2: "", condition: "" }, assets: [],
    testimonies: [], photos: [], signatures: [], conclusion: "", notes: "",
  };
}

export const newIncome = () => ({ member: 0, kind: "wage", monthly_amount: "" });
export const newExpenditure = () => ({ kind: "medical", monthly_amount: "" });
export const newAsset = () => ({ category: "vehicle", description: "", value: "", count: 1, photos: [], disqualifying: false, disability_mobility: false });
export const newTestimony = () => ({
  witness_name: "", role: "neighbour", contact: "", statement: "", location: null, at: null, signature: null,
  answers: { lives_here: "", work_and_income: "", house_vehicle_business: "", living_conditions: "", matches_declaration: "" },
});

// ISO 8601 with the device's own offset ("2026-11-20T09:12:00+08:00").
export function isoLocal(date = new Date()) {
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  const off = -date.getTimezoneOffset();
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${off >= 0 ? "+" : "-"}${pad(off / 60)}:${pad(off % 60)}`;
}

// The household's running per-capita income: counted income ÷ counted members (DESIGN "Money").
export function runningPci(body) {
  let counted = 0, excluded = 0;
  for (const item of body.income) {
    const fen = toFen(item.monthly_amount);
    if (fen === null) continue;
    if (COUNTED_INCOME.includes(item.kind)) counted += fen;
    else excluded += fen;
  }
  const members = body.members.filter((m) => m.counted !== false).length;
  const pci = divideFen(counted, members);
  return { counted: fromFen(counted), excluded: fromFen(excluded), members, pci: pci === null ? null : fromFen(pci) };
}

// {errors: {path: i18n key}, warnings: [i18n key | [key, params]]}; errors stop a visit from
// being sent (the server would refuse it), warnings are what the office would flag.
export function check(body) {
  const errors = {};
  const bad = (path, key) => (errors[path] ||= key);
  const names = body.investigators.map((s) => s.trim()).filter(Boolean);
  if (!names.length) bad("investigators.0", "err.required");
  if (new Set(names).size !== names.length) bad("investigators.1", "err.twice");
  body.members.forEach((m, i) => {
    if (!m.name.trim()) bad(`members.${i}.name`, "err.required");
    if (m.id_number.trim()) {
      const parsed = parseIdNumber(m.id_number);
      if (parsed.error) bad(`members.${i}.id_number`, parsed.error);
    }
  });
  body.income.forEach((item, i) => {
    if (!isMoney(item.monthly_amount)) bad(`income.${i}.monthly_amount`, "err.money");
    if (!(Number(item.member) < body.members.length)) bad(`income.${i}.member`, "err.member");
  });
  body.expenditure.forEach((item, i) => {
    if (!isMoney(item.monthly_amount)) bad(`expenditure.${i}.monthly_amount`, "err.money");
  });
  if (String(body.housing.area_m2 ?? "").trim() && !AREA.test(String(body.housing.area_m2).trim())) bad("housing.area_m2", "err.area");
  body.assets.forEach((a, i) => {
    if (String(a.value ?? "").trim() && !isMoney(a.value)) bad(`assets.${i}.value`, "err.money");
    if (!/^\d{1,4}$/.test(String(a.count)) || Number(a.count) > 1000) bad(`assets.${i}.count`, "err.count");
  });
  body.testimonies.forEach((t, i) => {
    if (!t.witness_name.trim()) bad(`testimonies.${i}.witness_name`, "err.required");
  });
  body.signatures.forEach((s, i) => {
    if (!s.name.trim()) bad(`signatures.${i}.name`, "err.required");
  });

  const warnings = [];
  if (names.length < 2) warnings.push("warn.investigators");
  if (!body.location) warnings.push("warn.gps");
  if (!body.members.length) warnings.push("warn.members");
  const kinds = new Set(body.photos.map((p) => p.kind));
  const missing = REQUIRED_PHOTO_KINDS.filter((k) => !kinds.has(k));
  if (missing.length) warnings.push(["warn.photos", { kinds: missing }]);
  if (body.testimonies.length < MIN_TESTIMONIES) warnings.push(["warn.testimonies", { n: MIN_TESTIMONIES }]);
  if (body.testimonies.some((t) => t.answers.matches_declaration === "no")) warnings.push("warn.mismatch");
  if (!body.signatures.some((s) => s.role === "family_member")) warnings.push("warn.family_signature");
  if (!body.signatures.some((s) => s.role === "investigator")) warnings.push("warn.investigator_signature");
  return { errors, warnings };
}

const text = (s) => {
  const v = String(s ?? "").trim();
  return v ? v : null;
};

// The body as the server takes it: blanks become null, numbers become numbers.
export function wireBody(body, endedAt) {
  return {
    case_id: body.case_id, kind: body.kind, started_at: body.started_at, ended_at: body.ended_at || endedAt,
    investigators: body.investigators.map((s) => s.trim()).filter(Boolean),
    location: body.location, device_id: body.device_id,
    members: body.members.map((m) => ({
      name: m.name.trim(), id_number: text(m.id_number)?.toUpperCase() ?? null, relation: text(m.relation), sex: text(m.sex),
      birth_date: text(m.birth_date), hukou_type: text(m.hukou_type), education: text(m.education), health: text(m.health),
      disability_grade: text(m.disability_grade) === null ? null : Number(m.disability_grade),
      labour_ability: text(m.labour_ability), work_status: text(m.work_status), student: !!m.student,
      special_identity: text(m.special_identity), class: text(m.class), counted: m.counted !== false,
    })),
    income: body.income.map((i) => ({ member: i.member === "" || i.member === null ? null : Number(i.member), kind: i.kind, monthly_amount: i.monthly_amount.trim() })),
    expenditure: body.expenditure.map((e) => ({ kind: e.kind, monthly_amount: e.monthly_amount.trim() })),
    housing: { tenure: text(body.housing.tenure), area_m2: text(body.housing.area_m2), condition: text(body.housing.condition) },
    assets: body.assets.map((a) => ({
      category: a.category, description: text(a.description), value: text(a.value), count: Number(a.count),
      photos: a.photos, disqualifying: !!a.disqualifying, disability_mobility: !!a.disability_mobility,
    })),
    testimonies: body.testimonies.map((t) => ({
      witness_name: t.witness_name.trim(), role: t.role, contact: text(t.contact), statement: t.statement.trim(),
      answers: Object.fromEntries(Object.entries(t.answers).map(([k, v]) => [k, text(v)])),
      location: t.location, at: t.at, signature: t.signature,
    })),
    photos: body.photos.map((p) => ({ sha256: p.sha256, kind: p.kind, taken_at: p.taken_at, location: p.location })),
    signatures: body.signatures.map((s) => ({ role: s.role, name: s.name.trim(), image: s.image })),
    conclusion: body.conclusion.trim(), notes: body.notes.trim(),
  };
}

// Every image the visit names (photos, asset photos, signatures), each once.
export function namedImages(body) {
  const named = new Set(body.photos.map((p) => p.sha256));
  for (const a of body.assets) a.photos.forEach((h) => named.add(h));
  for (const t of body.testimonies) if (t.signature) named.add(t.signature);
  for (const s of body.signatures) named.add(s.image);
  return [...named];
}
