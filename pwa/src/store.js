// IndexedDB, through Dexie: the one module that touches the device's storage.
//   meta    key/value: token, user, sync cursor, device id, last partner
//   cases   the team's assigned cases as the server sent them
//   visits  one record per visit: {id, case_id, status, error, answer, body, updated_at}
//           body is the wire format of PUT /api/v1/visits/<id>
//   images  photos and signatures by SHA-256 of the bytes kept (and uploaded)
import Dexie from "dexie";
import { emit } from "./events.js";

export const DB_NAME = "doorstep";
export const db = new Dexie(DB_NAME);
db.version(1).stores({
  meta: "&key",
  cases: "&id, number",
  visits: "&id, case_id, status, updated_at",
  images: "&sha256, visit_id",
});

// States of a visit on the device; OUTBOX ones wait to be sent.
export const OUTBOX = ["waiting", "uploading", "error"];

export async function getMeta(key, fallback = null) {
  const row = await db.meta.get(key);
  return row ? row.value : fallback;
}

export async function setMeta(key, value) {
  await db.meta.put({ key, value });
}

export async function deviceId() {
  let id = await getMeta("device_id");
  if (!id) {
    id = crypto.randomUUID();
    await setMeta("device_id", id);
  }
  return id;
}

// ---- cases ----
export async function applyAssignments(cases, removed) {
  await db.transaction("rw", db.cases, async () => {
    if (cases.length) await db.cases.bulkPut(cases);
    if (removed.length) await db.cases.bulkDelete(removed);
  });
  emit("cases");
}

export const listCases = () => db.cases.toArray();
export const getCase = (id) => db.cases.get(id);

// ---- visits ----
export const getVisit = (id) => db.visits.get(id);
export const listVisits = () => db.visits.toArray();
export const visitsOfCase = (caseId) => db.visits.where("case_id").equals(caseId).toArray();

export async function saveVisit(visit) {
  visit.updated_at = new Date().toISOString();
  await db.visits.put(visit);
  emit("visits", visit.id);
  return visit;
}

// Change a stored visit in one transaction (the record read is the one written back).
export async function updateVisit(id, change) {
  const out = await db.transaction("rw", db.visits, async () => {
    const visit = await db.visits.get(id);
    if (!visit) return null;
    change(visit);
    visit.updated_at = new Date().toISOString();
    await db.visits.put(visit);
    return visit;
  });
  emit("visits", id);
  return out;
}

export async function outboxCount() {
  return db.visits.where("status").anyOf(OUTBOX).count();
}

export async function outbox() {
  const rows = await db.visits.where("status").anyOf(OUTBOX).toArray();
  return rows.sort((a, b) => (a.finished_at || "").localeCompare(b.finished_at || ""));
}

export async function unsyncedCount() {
  return db.visits.where("status").noneOf(["synced", "conflict"]).count(); // a conflict is kept by the office
}

// ---- images ----
// A photo (or signature) and the visit that names it are written in ONE transaction: a
// crash leaves either both or neither. `attach(visit)` adds the reference to the body.
export async function addImage(visitId, image, attach) {
  const visit = await db.transaction("rw", db.visits, db.images, async () => {
    const v = await db.visits.get(visitId);
    if (!v) throw new Error("no such visit");
    await db.images.put({ ...image, visit_id: visitId, uploaded: false });
    attach(v);
    v.updated_at = new Date().toISOString();
    await db.visits.put(v);
    return v;
  });
  emit("visits", visitId);
  return visit;
}

export const getImage = (sha256) => db.images.get(sha256);

export async function markUploaded(sha256) {
  await db.images.update(sha256, { uploaded: true });
}

// Room for tomorrow's photos: the images of visits the office has had for a few days go;
// the visit's record stays (its state and flags).
export const KEEP_SYNCED_IMAGES_DAYS = 3;

export async function pruneSynced(now = Date.now()) {
  const before = new Date(now - KEEP_SYNCED_IMAGES_DAYS * 86400000).toISOString();
  const old = await db.visits.where("status").equals("synced").filter((v) => (v.synced_at || "") < before).primaryKeys();
  if (old.length) await db.images.where("visit_id").anyOf(old).delete();
}

// ---- the whole device ----
export async function wipe() {
  await db.delete();
  await db.open();
  emit("cases");
  emit("visits");
}

export async function storageInfo() {
  const out = { persisted: false, usage: null, quota: null };
  if (navigator.storage?.persisted) out.persisted = await navigator.storage.persisted();
  if (navigator.storage?.estimate) Object.assign(out, await navigator.storage.estimate());
  return out;
}

export async function requestPersistence() {
  if (!navigator.storage?.persist) return false;
  return (await navigator.storage.persisted()) || navigator.storage.persist();
}
