// Today's assigned cases, searchable, and the outbox with each visit's state.
import { h, replace } from "../ui.js";
import { t, label, formatTime } from "../i18n.js";
import * as store from "../store.js";
import { on } from "../events.js";
import { session } from "../session.js";
import { statusChip, errorText } from "./status.js";

let query = "";
const VISITABLE = ["investigating", "returned", "recheck"];
const waiting = (c) => (VISITABLE.includes(c.state) ? 1 : 0);
const today = () => new Date().toLocaleDateString("sv"); // YYYY-MM-DD, the tablet's own day
const due = (c) => (waiting(c) ? c.deadlines?.investigation_due || c.deadlines?.next_recheck_due : null);

export async function homeView(root) {
  const search = h("input", { id: "search", type: "search", value: query, placeholder: t("cases.search_hint"),
    "aria-label": t("cases.search"), autocomplete: "off" });
  const list = h("ul", { class: "cases", "data-testid": "cases" });
  const outboxList = h("div", { "data-testid": "outbox" });

  async function draw() {
    const [cases, visits] = await Promise.all([store.listCases(), store.listVisits()]);
    const byCase = new Map();
    for (const v of visits) byCase.set(v.case_id, [...(byCase.get(v.case_id) || []), v]);
    const q = query.trim().toLowerCase();
    const shown = cases
      .filter((c) => !q || [c.number, c.household?.head_name, c.household?.address, ...(c.household?.members || []).map((m) => m.name)]
        .some((s) => String(s || "").toLowerCase().includes(q)))
      // Cases waiting for a visit first, soonest deadline first; the team's other cases after.
      .sort((a, b) => waiting(b) - waiting(a) || String(due(a) || "9").localeCompare(String(due(b) || "9")) || a.number.localeCompare(b.number));
    replace(list, shown.length ? shown.map((c) => h("li", {},
      h("a", { href: `#/case/${c.id}`, class: waiting(c) ? "case" : "case other", "data-case": c.id },
        h("span", { class: "who" }, c.household?.head_name || "?"),
        h("span", { class: "num" }, c.number),
        h("span", { class: "addr" }, c.household?.address || ""),
        h("span", { class: "meta" }, label("case_state", c.state), c.returned_reasons?.length ? ` · ${t("case.revisit")}` : "",
          due(c) ? ` · ${t("case.due", { date: due(c) })}` : "",
          due(c) && due(c) < today() ? h("strong", { class: "overdue" }, " · ", t("case.overdue")) : null),
        (byCase.get(c.id) || []).map(statusChip)))) : h("li", { class: "empty" }, cases.length ? t("cases.none_match") : t("cases.none")));
    const pending = visits.filter((v) => v.status !== "draft").sort((a, b) => (b.finished_at || "").localeCompare(a.finished_at || ""));
    const caseOf = new Map(cases.map((c) => [c.id, c]));
    replace(outboxList, pending.length ? h("ul", { class: "outbox" }, pending.map((v) => h("li", { "data-visit": v.id },
      h("a", { href: `#/visit/${v.id}` }, caseOf.get(v.case_id)?.household?.head_name || v.case_label || v.case_id.slice(0, 8)),
      " ", statusChip(v), " ", h("span", { class: "muted" }, formatTime(v.finished_at)),
      errorText(v) ? h("p", { class: "error" }, errorText(v)) : null))) : h("p", { class: "muted" }, t("outbox.empty")));
  }

  search.addEventListener("input", () => {
    query = search.value;
    draw();
  });
  replace(root,
    h("h1", {}, t("cases.title", { name: session.user?.display_name || session.user?.username || "" })),
    h("div", { class: "search" }, search),
    list,
    h("h2", {}, t("outbox.title")),
    outboxList);
  await draw();
  const offs = [on("cases", draw), on("visits", draw), on("sync", draw)];
  return () => offs.forEach((off) => off());
}
