// A visit's sync state, as a small labelled chip.
import { h } from "../ui.js";
import { t } from "../i18n.js";

export function statusChip(visit) {
  const parts = [t(`status.${visit.status}`)];
  if (visit.status === "synced" && visit.answer) parts.push(" · ", t(`server_state.${visit.answer.state}`));
  return h("span", { class: `chip ${visit.status}`, "data-testid": "visit-status", "data-status": visit.status }, parts);
}

export function errorText(visit) {
  const e = visit.error;
  if (!e) return null;
  if (visit.status === "conflict") return t("error.conflict");
  if (e.code === "offline") return t("error.offline");
  if (e.status === 401) return t("error.signin");
  const fields = e.errors ? Object.entries(e.errors).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ") : "";
  return t("error.server", { detail: [e.detail, fields].filter(Boolean).join(" — ") || e.code });
}
