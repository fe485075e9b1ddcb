// Boot: the session from IndexedDB, the service worker (and its update prompt), the router.
import "./style.css";
import * as store from "./store.js";
import * as outbox from "./outbox.js";
import * as api from "./api.js";
import { on } from "./events.js";
import { confirmDialog, toast } from "./ui.js";
import { t, lang, setLang, formatBytes } from "./i18n.js";
import { session, load, signOut } from "./session.js";
import { signInView } from "./views/signin.js";
import { homeView } from "./views/home.js";
import { caseView } from "./views/case.js";
import { visitView } from "./forms/visit.js";

const view = document.getElementById("view");
let leave = null; // the current screen's clean-up

async function route() {
  if (leave) leave();
  leave = null;
  document.getElementById("signout").hidden = !session.token;
  if (!session.token || session.needsSignIn) {
    leave = await signInView(view);
    return;
  }
  const [, name, id] = (location.hash || "#/").split("/");
  if (name === "case" && id) leave = await caseView(view, id);
  else if (name === "visit" && id) leave = await visitView(view, id);
  else leave = await homeView(view);
  view.focus({ preventScroll: true });
}

async function updateBar() {
  const n = await store.outboxCount();
  const badge = document.getElementById("badge");
  badge.textContent = String(n);
  badge.hidden = n === 0;
  document.getElementById("sync").setAttribute("aria-label", t("sync.button_label", { n }));
  const net = document.getElementById("net");
  const online = navigator.onLine && api.net.reachable !== false;
  net.textContent = online ? t("net.online") : t("net.offline");
  net.className = online ? "net online" : "net offline";
  const s = outbox.state;
  const status = document.getElementById("sync-status");
  status.textContent = s.running ? t("sync.running")
    : s.lastError && s.nextAt ? t("sync.retry_at", { time: new Date(s.nextAt).toLocaleTimeString(lang) })
    : s.lastSync ? t("sync.last", { time: new Date(s.lastSync).toLocaleTimeString(lang) }) : "";
}

async function updateStorage() {
  const info = await store.storageInfo();
  document.getElementById("storage").textContent = t("storage.used", {
    used: formatBytes(info.usage), quota: formatBytes(info.quota),
    persisted: info.persisted ? t("storage.persisted") : t("storage.not_persisted"),
  });
}

function translateShell() {
  document.title = t("app.title");
  document.getElementById("app-title").textContent = t("app.title");
  document.getElementById("lang").textContent = t("lang.switch");
  document.getElementById("lang").setAttribute("lang", lang === "en" ? "zh-CN" : "en");
  document.getElementById("signout").textContent = t("signout");
  document.getElementById("sync-label").textContent = t("sync.now");
  document.getElementById("update-text").textContent = t("update.ready");
  document.getElementById("update-reload").textContent = t("update.reload");
  document.querySelector(".skip").textContent = t("skip");
}

async function onSignOut() {
  const unsynced = await store.unsyncedCount();
  const message = unsynced ? t("signout.warn_unsynced", { n: unsynced }) : t("signout.confirm");
  if (!(await confirmDialog(message, t("signout.do"), t("cancel")))) return;
  await signOut();
  location.hash = "#/";
  route();
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  const banner = document.getElementById("update");
  const offer = (worker) => {
    banner.hidden = false;
    document.getElementById("update-reload").onclick = () => worker.postMessage("skip-waiting");
  };
  navigator.serviceWorker.register(new URL("sw.js", document.baseURI).href, { scope: "./" }).then((reg) => {
    if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
    reg.addEventListener("updatefound", () => {
      const worker = reg.installing;
      worker?.addEventListener("statechange", () => {
        if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
      });
    });
    // A tablet left open for days still learns of a new version.
    setInterval(() => reg.update().catch(() => {}), 60 * 60 * 1000);
  });
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (reloading || banner.hidden) return;
    reloading = true;
    location.reload();
  });
}

async function boot() {
  translateShell();
  await load();
  document.getElementById("lang").onclick = () => {
    setLang(lang === "en" ? "zh-CN" : "en");
    translateShell();
    updateBar();
    updateStorage();
    route();
  };
  document.getElementById("sync").onclick = () => {
    outbox.state.attempt = 0;
    if (!navigator.onLine) toast(t("sync.offline"));
    outbox.sync();
  };
  document.getElementById("signout").onclick = onSignOut;
  on("visits", updateBar);
  on("sync", updateBar);
  on("net", updateBar);
  on("visits", updateStorage);
  on("session", () => {
    updateBar();
    route();
  });
  window.addEventListener("online", () => {
    api.net.reachable = null;
    updateBar();
  });
  window.addEventListener("offline", updateBar);
  window.addEventListener("hashchange", route);
  registerServiceWorker();
  store.requestPersistence().finally(updateStorage);
  await updateBar();
  await route();
  outbox.start();
  window.doorstep = { store, outbox, session }; // for support staff in the browser console
}

boot();
