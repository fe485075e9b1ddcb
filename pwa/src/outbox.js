// What waits to be sent, and sending it: for each finished visit, its photos first (HEAD
// skips what the server has), then the visit. A visit leaves the outbox only on the
// server's 2xx; a 401 stops everything and asks for a sign-in (the outbox is untouched);
// network and server failures retry with exponential backoff, and at once when the
// network comes back. Then the assignments are refreshed with the sync cursor.
import * as api from "./api.js";
import * as store from "./store.js";
import { delay } from "./backoff.js";
import { emit } from "./events.js";
import { namedImages } from "./forms/model.js";
import { session, tokenRefused } from "./session.js";

const REFRESH_MS = 10 * 60 * 1000;
export const state = { running: false, attempt: 0, nextAt: null, lastError: null, lastSync: null };
let timer = null;
let again = false;

function schedule(ms) {
  clearTimeout(timer);
  state.nextAt = Date.now() + ms;
  timer = setTimeout(() => sync(), ms);
}

export function start() {
  window.addEventListener("online", () => {
    state.attempt = 0;
    sync();
  });
  // New assignments arrive while the app stays open, and when the tablet wakes up.
  setInterval(() => {
    if (navigator.onLine && state.nextAt === null) sync();
  }, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.nextAt === null) sync();
  });
  // A send interrupted by a crash or a closed tab is simply sent again.
  store.db.visits.where("status").equals("uploading").modify({ status: "waiting" }).then(() => sync());
}

export async function sync() {
  if (!session.token || session.needsSignIn) return;
  if (state.running) {
    again = true;
    return;
  }
  state.running = true;
  state.nextAt = null;
  clearTimeout(timer);
  emit("sync");
  try {
    do {
      again = false;
      for (const visit of await store.outbox()) {
        if (visit.status === "error") continue; // waits for the investigator to correct it
        await send(visit);
      }
      await refreshAssignments();
    } while (again);
    await store.pruneSynced();
    state.attempt = 0;
    state.lastError = null;
    state.lastSync = new Date().toISOString();
  } catch (error) {
    if (!(error instanceof api.ApiError)) throw error;
    state.lastError = error.code;
    if (error.unauthorized) tokenRefused(error.code);
    else schedule(delay(state.attempt++));
  } finally {
    state.running = false;
    emit("sync");
  }
}

async function send(visit) {
  await store.updateVisit(visit.id, (v) => {
    v.status = "uploading";
  });
  try {
    for (const sha256 of namedImages(visit.body)) {
      const image = await store.getImage(sha256);
      if (image?.uploaded) continue;
      if (!(await api.hasPhoto(sha256))) {
        if (!image) throw new api.ApiError(422, { type: "/problems/photo-lost", detail: sha256 });
        await api.putPhoto(sha256, image.blob);
      }
      await store.markUploaded(sha256);
    }
    const answer = await api.putVisit(visit.id, visit.wire);
    await store.updateVisit(visit.id, (v) => {
      v.answer = answer;
      v.error = null;
      // The server lacks a photo it should have (a store lost it): send it again next time.
      v.status = answer.missing_photos.length ? "waiting" : "synced";
      if (v.status === "synced") v.synced_at = new Date().toISOString();
    });
    if (answer.missing_photos.length) {
      for (const sha256 of answer.missing_photos) await store.db.images.update(sha256, { uploaded: false });
      throw new api.ApiError(503, { type: "/problems/missing-photos" });
    }
  } catch (error) {
    if (!(error instanceof api.ApiError)) throw error;
    const retry = error.retryable || error.unauthorized;
    await store.updateVisit(visit.id, (v) => {
      v.status = retry ? "waiting" : error.code === "visit-conflict" ? "conflict" : "error";
      v.error = { code: error.code, status: error.status, detail: error.problem.detail || null, errors: error.problem.errors || null };
    });
    if (retry) throw error;
  }
}

async function refreshAssignments() {
  let since = await store.getMeta("cursor");
  for (let page = 0; page < 100; page++) {
    const answer = await api.assignments(since);
    await store.applyAssignments(answer.cases, answer.removed);
    since = answer.cursor;
    await store.setMeta("cursor", since);
    if (!answer.more) break;
  }
}

// The investigator finished the visit: freeze the body that will be sent (a resend must be
// byte-for-byte the same visit) and put it in the outbox.
export async function finish(id, wire) {
  await store.updateVisit(id, (v) => {
    v.wire = wire;
    v.status = "waiting";
    v.error = null;
    v.finished_at = new Date().toISOString();
  });
  state.attempt = 0;
  sync();
}
