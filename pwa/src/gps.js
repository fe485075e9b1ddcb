// The tablet's position with its accuracy in metres: watched while a visit is open, the
// investigator accepts a fix (or waits for a better one). Points are {lat, lon, accuracy_m}.
import { emit } from "./events.js";

let watch = null;
export let current = null; // the latest fix
export let problem = null; // "denied" | "unavailable" | null

export function start() {
  if (watch !== null || !navigator.geolocation) {
    if (!navigator.geolocation) problem = "unavailable";
    return;
  }
  watch = navigator.geolocation.watchPosition(
    (pos) => {
      problem = null;
      current = {
        lat: Math.round(pos.coords.latitude * 1e7) / 1e7,
        lon: Math.round(pos.coords.longitude * 1e7) / 1e7,
        accuracy_m: Math.round(pos.coords.accuracy * 10) / 10,
      };
      emit("gps", current);
    },
    (error) => {
      problem = error.code === 1 ? "denied" : "unavailable";
      emit("gps", null);
    },
    { enableHighAccuracy: true, maximumAge: 10000, timeout: 60000 },
  );
}

export function stop() {
  if (watch !== null) navigator.geolocation.clearWatch(watch);
  watch = null;
}
