// One assigned case: the household, its members from the application, previous visits,
// the office's reasons for a re-visit; start or continue the visit.
import { h, replace } from "../ui.js";
import { t, label, formatTime } from "../i18n.js";
import * as store from "../store.js";
import { session } from "../session.js";
import { newBody } from "../forms/model.js";
import { statusChip } from "./status.js";

export async function caseView(root, id) {
  const c = await store.getCase(id);
  if (!c) {
    replace(root, h("p", {}, t("case.missing")), h("a", { href: "#/" }, t("back")));
    return;
  }
  const visits = await store.visitsOfCase(id);
  const open = visits.find((v) => v.status === "draft" || v.status === "error");
  const sending = visits.find((v) => v.status === "waiting" || v.status === "uploading");
  const hh = c.household || {};
  async function startVisit() {
    const partner = await store.getMeta("partner", "");
    const visit = { id: crypto.randomUUID(), case_id: c.id, status: "draft", case_label: hh.head_name,
      body: newBody(c, session.user.username, partner, await store.deviceId()) };
    await store.saveVisit(visit);
    location.hash = `#/visit/${visit.id}`;
  }
  replace(root,
    h("p", {}, h("a", { href: "#/" }, "← ", t("back"))),
    h("h1", {}, hh.head_name, " ", h("small", {}, c.number)),
    h("p", {}, hh.address, hh.phone ? ` · ${hh.phone}` : ""),
    h("p", {}, label("case_state", c.state), c.deadlines?.investigation_due ? ` · ${t("case.due", { date: c.deadlines.investigation_due })}` : ""),
    (c.returned_reasons || []).length ? h("section", { class: "card notice", "data-testid": "returned" },
      h("h2", {}, t("case.returned")),
      c.returned_reasons.map((r) => h("div", {}, h("p", { class: "muted" }, formatTime(r.returned_at)),
        h("ul", {}, (r.reasons || []).map((x) => h("li", {}, typeof x === "string" ? x : x.text || x.reason || x.code || JSON.stringify(x))))))) : null,
    h("section", { class: "card" }, h("h2", {}, t("case.members")),
      h("table", {}, h("thead", {}, h("tr", {}, ["name", "relation", "sex", "birth_date", "health", "labour_ability"].map((k) => h("th", { scope: "col" }, t(`member.${k}`))))),
        h("tbody", {}, (hh.members || []).map((m) => h("tr", {}, h("td", {}, m.name), h("td", {}, label("relation", m.relation)),
          h("td", {}, label("sex", m.sex)), h("td", {}, m.birth_date || ""), h("td", {}, label("health", m.health)),
          h("td", {}, label("labour", m.labour_ability))))))),
    h("section", { class: "card" }, h("h2", {}, t("case.previous")),
      (c.previous_visits || []).length ? h("ul", {}, c.previous_visits.map((v) => h("li", {}, label("kind", v.kind), " · ",
        formatTime(v.started_at), " · ", label("server_state", v.state), v.conclusion ? h("p", { class: "muted" }, v.conclusion) : null)))
        : h("p", { class: "muted" }, t("case.no_previous"))),
    visits.length ? h("section", { class: "card" }, h("h2", {}, t("case.device_visits")),
      h("ul", {}, visits.map((v) => h("li", {}, h("a", { href: `#/visit/${v.id}` }, formatTime(v.body.started_at)), " ", statusChip(v))))) : null,
    h("p", {}, open ? h("a", { class: "button primary", href: `#/visit/${open.id}` }, t("case.continue"))
      : sending ? h("span", { class: "muted" }, t("case.sending"))
      : !["investigating", "returned", "recheck"].includes(c.state) ? h("span", { class: "muted" }, t("case.not_visitable"))
      : h("button", { type: "button", class: "primary", "data-testid": "start-visit", onclick: startVisit }, t("case.start"))));
}
