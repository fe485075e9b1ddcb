// Who is signed in on this device: the bearer token and the user, kept in IndexedDB.
import * as api from "./api.js";
import * as store from "./store.js";
import { emit } from "./events.js";

export const session = { token: null, user: null, needsSignIn: null };

export async function load() {
  session.token = await store.getMeta("token");
  session.user = await store.getMeta("user");
  api.setToken(session.token);
}

// The user who last worked on this device; signing in as someone else wipes it first.
export const previousUser = () => store.getMeta("user");

export async function signIn(username, password) {
  const ua = navigator.userAgent.match(/\(([^;)]+)/)?.[1] || "tablet";
  const answer = await api.signIn(username.trim(), password, `Doorstep app (${ua})`.slice(0, 100));
  const before = await store.getMeta("user");
  if (before && before.username !== answer.user.username) await store.wipe();
  await store.setMeta("token", answer.token);
  await store.setMeta("user", answer.user);
  await store.setMeta("expires_at", answer.expires_at);
  session.token = answer.token;
  session.user = answer.user;
  session.needsSignIn = null;
  api.setToken(answer.token);
  emit("session");
  return answer;
}

// The server no longer takes the token (revoked, expired): ask for a sign-in, keep the data.
export function tokenRefused(code) {
  session.needsSignIn = code || "unauthorized";
  emit("session");
}

// Sign out: tell the server (if it can be reached) and wipe everything on the device.
export async function signOut() {
  try {
    if (session.token && !session.needsSignIn) await api.signOut();
  } catch {
    /* offline or already revoked: the device is wiped all the same */
  }
  await store.wipe();
  session.token = session.user = session.needsSignIn = null;
  api.setToken(null);
  emit("session");
}
