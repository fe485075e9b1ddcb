// Photos from the tablet's camera or from files: EXIF first (from the original bytes),
// then the worker downscales and hashes, so the interface never waits on a decode.
import { readExif } from "./exif.js";
import { isoLocal } from "./forms/model.js";

let worker = null;
let nextId = 1;
const pending = new Map();

function photoWorker() {
  if (!worker) {
    worker = new Worker(new URL("./photo-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (event) => {
      const job = pending.get(event.data.id);
      pending.delete(event.data.id);
      if (!job) return;
      if (event.data.ok) job.resolve(event.data);
      else job.reject(new Error(event.data.error));
    };
  }
  return worker;
}

export function downscale(blob, maxEdge = 2048) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    photoWorker().postMessage({ id, blob, maxEdge });
  });
}

function withOffset(localIso, offset) {
  if (offset) return localIso + offset;
  // No offset in the EXIF: the camera's clock is the tablet's, so its offset applies.
  const [d, t] = localIso.split("T");
  const [y, mo, da] = d.split("-").map(Number);
  const [h, mi, s] = t.split(":").map(Number);
  return isoLocal(new Date(y, mo - 1, da, h, mi, s));
}

// A file from <input type=file> → {sha256, blob, width, height, taken_at, location}.
// `fallbackLocation` is the visit's own fix, used when the photo carries no GPS.
export async function processPhoto(file, fallbackLocation = null) {
  const original = await file.arrayBuffer();
  const exif = readExif(original);
  const result = await downscale(file);
  return {
    sha256: result.sha256, blob: result.blob, type: "image/jpeg", width: result.width, height: result.height,
    taken_at: exif.taken_at ? withOffset(exif.taken_at, exif.offset) : isoLocal(new Date(file.lastModified || Date.now())),
    location: exif.location || fallbackLocation,
    exif_location: !!exif.location,
  };
}

export async function hashBlob(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
