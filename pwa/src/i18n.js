// zh-CN by default, English on request; the choice is kept on the device.
import zh from "./i18n/zh-CN.json";
import en from "./i18n/en.json";

const CATALOGUES = { "zh-CN": zh, en };
const KEY = "doorstep.lang";
export let lang = CATALOGUES[localStorage.getItem(KEY)] ? localStorage.getItem(KEY) : "zh-CN";

export function setLang(value) {
  lang = CATALOGUES[value] ? value : "zh-CN";
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang;
}

// t("sync.waiting", {n: 3}) — "{n}" placeholders; a missing key shows itself.
export function t(key, params = {}) {
  const text = CATALOGUES[lang][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? params[name] : `{${name}}`));
}

// The label of a code from the wire ("relation.spouse" → "配偶"), or the code itself.
export function label(group, code) {
  if (code === null || code === undefined || code === "") return "";
  const key = `${group}.${code}`;
  const text = CATALOGUES[lang][key] ?? en[key];
  return text ?? String(code);
}

export function formatTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "?";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

document.documentElement.lang = lang;
