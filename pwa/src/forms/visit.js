// The home visit form (DESIGN.md "The survey"). Every change is written to IndexedDB at
// once; photos and signatures are stored with the visit in one transaction.
import { h, replace, toast, confirmDialog } from "../ui.js";
import { t, label, formatTime } from "../i18n.js";
import * as store from "../store.js";
import * as gps from "../gps.js";
import { on } from "../events.js";
import { distanceM } from "../geo.js";
import { parseIdNumber } from "../idnumber.js";
import { processPhoto, hashBlob } from "../camera.js";
import { finish } from "../outbox.js";
import { signaturePad } from "./signature.js";
import { statusChip, errorText } from "../views/status.js";
import * as M from "./model.js";

const MAX_DISTANCE_M = 300; // policy default: farther from the registered location is flagged
const MAX_ACCURACY_M = 50; // policy default: a worse fix is flagged

export async function visitView(root, id) {
  const visit = await store.getVisit(id);
  if (!visit) {
    replace(root, h("p", {}, t("visit.missing")), h("a", { href: "#/" }, t("back")));
    return;
  }
  const c = await store.getCase(visit.case_id);
  const model = visit.body;
  const editable = visit.status === "draft" || visit.status === "error";
  const urls = [];
  const offs = [];
  let chain = Promise.resolve();

  // Writes are queued in order; the indicator says when the last one is on the device.
  const saved = h("p", { class: "saved muted", "data-testid": "saved", "data-pending": "0", "aria-live": "off" });
  let pending = 0;
  const save = () => {
    pending++;
    saved.dataset.pending = String(pending);
    chain = chain.then(() => store.updateVisit(id, (v) => {
      v.body = model;
    })).then(() => {
      pending--;
      saved.dataset.pending = String(pending);
      if (!pending) saved.textContent = t("visit.saved", { time: new Date().toLocaleTimeString() });
    });
    return chain;
  };

  // ---- values by path ("members.0.name") ----
  const parts = (path) => path.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const get = (path) => parts(path).reduce((o, k) => (o == null ? undefined : o[k]), model);
  const set = (path, value) => {
    const keys = parts(path);
    const last = keys.pop();
    keys.reduce((o, k) => o[k], model)[last] = value;
  };
  const idOf = (path) => "f-" + path.replaceAll(".", "-");

  function field(text, control, path, hint) {
    return h("div", { class: "field" }, h("label", { for: control.id }, text), control,
      hint ? h("p", { class: "hint" }, hint) : null,
      h("p", { class: "field-error", id: `${idOf(path)}-error`, "aria-live": "polite" }));
  }
  function input(path, attrs = {}) {
    return h("input", { id: idOf(path), "data-path": path, value: get(path) ?? "", "aria-describedby": `${idOf(path)}-error`, ...attrs });
  }
  function textarea(path, attrs = {}) {
    const el = h("textarea", { id: idOf(path), "data-path": path, rows: 3, ...attrs });
    el.value = get(path) ?? "";
    return el;
  }
  function select(path, options, group, blank = true) {
    const el = h("select", { id: idOf(path), "data-path": path },
      blank ? h("option", { value: "" }, "—") : null,
      options.map((o) => (Array.isArray(o) ? h("option", { value: o[0] }, o[1]) : h("option", { value: o }, label(group, o)))));
    el.value = get(path) ?? "";
    return el;
  }
  function checkbox(path, text) {
    return h("label", { class: "check" }, h("input", { type: "checkbox", id: idOf(path), "data-path": path, "data-kind": "bool", checked: !!get(path) }), " ", text);
  }
  const removeButton = (list, index, redraw, what) => h("button", { type: "button", class: "secondary small",
    "aria-label": t("remove_what", { what }), onclick: () => {
      model[list].splice(index, 1);
      save();
      redraw();
    } }, t("remove"));

  // ---- images ----
  async function thumb(sha256, alt) {
    const image = await store.getImage(sha256);
    if (!image) return h("span", { class: "muted" }, t("photo.not_on_device"));
    const url = URL.createObjectURL(image.blob);
    urls.push(url);
    const signature = image.kind === "signature";
    return h("img", { src: url, alt, class: signature ? "thumb sig" : "thumb", width: 160, height: signature ? 46 : 120, loading: "lazy" });
  }
  async function storeImage(image, attach) {
    await store.addImage(id, image, (v) => {
      attach(model);
      v.body = model;
    });
  }
  function photoButtons(kind, onfile, testid = kind) {
    const busy = h("span", { class: "muted", hidden: true, role: "status" }, t("photo.processing"));
    const handle = async (event) => {
      const files = [...event.target.files];
      event.target.value = ""; // the same file again must fire change again
      if (!files.length) return;
      busy.hidden = false;
      try {
        for (const file of files) {
          const photo = await processPhoto(file, model.location || gps.current);
          await onfile(photo);
        }
      } catch (error) {
        toast(t("photo.failed", { detail: error.message }));
      } finally {
        busy.hidden = true;
      }
    };
    const cam = h("input", { type: "file", accept: "image/*", capture: "environment", class: "visually-hidden",
      id: `cam-${testid}`, "data-testid": `camera-${testid}`, onchange: handle });
    const pick = h("input", { type: "file", accept: "image/*", multiple: true, class: "visually-hidden",
      id: `file-${testid}`, "data-testid": `file-${testid}`, onchange: handle });
    return h("div", { class: "actions" }, cam, h("label", { for: cam.id, class: "button" }, t("photo.take")),
      pick, h("label", { for: pick.id, class: "button secondary" }, t("photo.from_file")), busy);
  }

  // ---- sections ----
  const sections = {};
  function section(key, build) {
    const el = h("section", { class: "card", id: `s-${key}`, "aria-labelledby": `s-${key}-h` });
    sections[key] = async () => {
      replace(el, h("h2", { id: `s-${key}-h` }, t(`visit.s.${key}`)), await build());
      if (!editable) el.querySelectorAll("input, select, textarea, button").forEach((x) => (x.disabled = true));
    };
    return el;
  }

  const gpsBox = h("div", { class: "gps", "data-testid": "gps", "aria-live": "polite" });
  function drawGps() {
    const registered = c?.household?.location;
    const fix = gps.current;
    const loc = model.location;
    const far = loc && registered ? distanceM(loc, registered) : null;
    replace(gpsBox,
      h("p", {}, t("gps.current"), ": ", fix ? h("strong", { "data-testid": "gps-accuracy" }, t("gps.accuracy", { m: Math.round(fix.accuracy_m) }))
        : gps.problem === "denied" ? t("gps.denied") : gps.problem ? t("gps.unavailable") : t("gps.waiting")),
      fix && fix.accuracy_m > MAX_ACCURACY_M ? h("p", { class: "warn" }, t("gps.poor", { m: MAX_ACCURACY_M })) : null,
      h("p", {}, t("gps.recorded"), ": ", loc ? h("strong", { "data-testid": "gps-recorded" },
        `${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)} · ${t("gps.accuracy", { m: Math.round(loc.accuracy_m ?? 0) })}`) : t("gps.none")),
      far !== null && far > MAX_DISTANCE_M ? h("p", { class: "warn", "data-testid": "gps-far" }, t("gps.far", { m: Math.round(far) })) : null,
      editable ? h("button", { type: "button", class: "secondary", disabled: !fix, "data-testid": "gps-accept", onclick: () => {
        model.location = { ...gps.current };
        save();
        drawGps();
      } }, fix && fix.accuracy_m > MAX_ACCURACY_M ? t("gps.accept_anyway") : t("gps.accept")) : null);
  }

  const header = section("header", () => [
    h("p", {}, t("visit.case"), ": ", h("strong", {}, c?.household?.head_name || ""), " ", c?.number || "", " · ", c?.household?.address || ""),
    h("div", { class: "grid" },
      field(t("visit.kind"), select("kind", ["initial", "revisit", "recheck"], "kind", false), "kind"),
      h("div", { class: "field" }, h("span", { class: "label" }, t("visit.started")), h("p", {}, formatTime(model.started_at)))),
    h("fieldset", {}, h("legend", {}, t("visit.investigators")),
      h("div", { class: "grid" }, model.investigators.map((_, i) => field(t("visit.investigator_n", { n: i + 1 }),
        input(`investigators.${i}`, { readonly: i === 0 || null, autocapitalize: "none" }), `investigators.${i}`))),
      model.investigators.length < 6 ? h("button", { type: "button", class: "secondary", onclick: () => {
        model.investigators.push("");
        save();
        sections.header();
      } }, t("visit.add_investigator")) : null),
    h("h3", {}, t("gps.title")), gpsBox,
  ]);

  const members = section("members", () => [
    model.members.map((m, i) => h("fieldset", { class: "member", "data-testid": "member" },
      h("legend", {}, t("member.n", { n: i + 1 }), m.name ? ` · ${m.name}` : ""),
      h("div", { class: "grid" },
        field(t("member.name"), input(`members.${i}.name`, { autocomplete: "off" }), `members.${i}.name`),
        field(t("member.id_number"), input(`members.${i}.id_number`, { autocomplete: "off", inputmode: "text", maxlength: 18 }), `members.${i}.id_number`, t("member.id_hint")),
        field(t("member.relation"), select(`members.${i}.relation`, M.RELATIONS, "relation"), `members.${i}.relation`),
        field(t("member.sex"), select(`members.${i}.sex`, ["F", "M"], "sex"), `members.${i}.sex`),
        field(t("member.birth_date"), input(`members.${i}.birth_date`, { type: "date" }), `members.${i}.birth_date`),
        field(t("member.hukou_type"), select(`members.${i}.hukou_type`, M.HUKOU, "hukou"), `members.${i}.hukou_type`),
        field(t("member.education"), select(`members.${i}.education`, M.EDUCATION, "education"), `members.${i}.education`),
        field(t("member.health"), select(`members.${i}.health`, M.HEALTH, "health"), `members.${i}.health`),
        field(t("member.disability_grade"), select(`members.${i}.disability_grade`, [1, 2, 3, 4].map((g) => [String(g), t("member.grade", { g })])), `members.${i}.disability_grade`),
        field(t("member.labour_ability"), select(`members.${i}.labour_ability`, M.LABOUR, "labour"), `members.${i}.labour_ability`),
        field(t("member.work_status"), select(`members.${i}.work_status`, M.WORK, "work"), `members.${i}.work_status`),
        field(t("member.special_identity"), input(`members.${i}.special_identity`), `members.${i}.special_identity`),
        field(t("member.class"), select(`members.${i}.class`, [["A", t("member.class_a")], ["B", t("member.class_b")]]), `members.${i}.class`)),
      h("div", { class: "actions" }, checkbox(`members.${i}.student`, t("member.student")),
        checkbox(`members.${i}.counted`, t("member.counted")),
        removeButton("members", i, () => {
          // Income rows follow their member: later members move up, the removed one's rows need a new owner.
          for (const item of model.income) {
            const k = Number(item.member);
            if (k === i) item.member = "";
            else if (k > i) item.member = k - 1;
          }
          sections.members();
          sections.income();
        }, m.name || t("member.n", { n: i + 1 }))))),
    h("button", { type: "button", class: "secondary", "data-testid": "add-member", onclick: () => {
      model.members.push(M.newMember());
      save();
      sections.members();
      sections.income();
    } }, t("member.add")),
  ]);

  const pciBox = h("div", { class: "pci", "data-testid": "pci", "aria-live": "polite" });
  function drawPci() {
    const p = M.runningPci(model);
    replace(pciBox, h("p", {}, t("pci.counted", { amount: p.counted }), " · ", t("pci.excluded", { amount: p.excluded })),
      h("p", { class: "big" }, t("pci.value", { members: p.members, pci: p.pci ?? "—" })));
  }
  const memberOptions = () => model.members.map((m, i) => [String(i), m.name || t("member.n", { n: i + 1 })]);
  const incomeKinds = () => [
    h("optgroup", { label: t("income.counted") }, M.COUNTED_INCOME.map((k) => h("option", { value: k }, label("income", k)))),
    h("optgroup", { label: t("income.excluded") }, M.EXCLUDED_INCOME.map((k) => h("option", { value: k }, label("income", k)))),
  ];
  const income = section("income", () => {
    drawPci();
    return [
      model.income.map((item, i) => {
        const kind = h("select", { id: idOf(`income.${i}.kind`), "data-path": `income.${i}.kind` }, incomeKinds());
        kind.value = item.kind;
        const who = select(`income.${i}.member`, memberOptions(), null, false);
        who.value = String(item.member ?? "");
        return h("div", { class: "row", "data-testid": "income" },
          field(t("income.member"), who, `income.${i}.member`),
          field(t("income.kind"), kind, `income.${i}.kind`),
          field(t("money.monthly"), input(`income.${i}.monthly_amount`, { inputmode: "decimal", placeholder: "0.00" }), `income.${i}.monthly_amount`),
          removeButton("income", i, () => sections.income(), label("income", item.kind)));
      }),
      h("button", { type: "button", class: "secondary", "data-testid": "add-income", disabled: !model.members.length || null, onclick: () => {
        model.income.push(M.newIncome());
        save();
        sections.income();
      } }, t("income.add")),
      pciBox,
    ];
  });

  const expenditure = section("expenditure", () => [
    model.expenditure.map((item, i) => h("div", { class: "row", "data-testid": "expenditure" },
      field(t("expenditure.kind"), select(`expenditure.${i}.kind`, M.EXPENDITURE, "expenditure", false), `expenditure.${i}.kind`),
      field(t("money.monthly"), input(`expenditure.${i}.monthly_amount`, { inputmode: "decimal", placeholder: "0.00" }), `expenditure.${i}.monthly_amount`),
      removeButton("expenditure", i, () => sections.expenditure(), label("expenditure", item.kind)))),
    h("button", { type: "button", class: "secondary", "data-testid": "add-expenditure", onclick: () => {
      model.expenditure.push(M.newExpenditure());
      save();
      sections.expenditure();
    } }, t("expenditure.add")),
  ]);

  const housing = section("housing", () => h("div", { class: "grid" },
    field(t("housing.tenure"), select("housing.tenure", M.TENURES, "tenure"), "housing.tenure"),
    field(t("housing.area"), input("housing.area_m2", { inputmode: "decimal" }), "housing.area_m2"),
    field(t("housing.condition"), select("housing.condition", M.CONDITIONS, "condition"), "housing.condition")));

  const assets = section("assets", async () => [
    await Promise.all(model.assets.map(async (a, i) => h("fieldset", { class: "asset", "data-testid": "asset" },
      h("legend", {}, t("asset.n", { n: i + 1 })),
      h("div", { class: "grid" },
        field(t("asset.category"), select(`assets.${i}.category`, M.ASSET_CATEGORIES, "asset", false), `assets.${i}.category`),
        field(t("asset.description"), input(`assets.${i}.description`), `assets.${i}.description`),
        field(t("asset.value"), input(`assets.${i}.value`, { inputmode: "decimal" }), `assets.${i}.value`),
        field(t("asset.count"), input(`assets.${i}.count`, { inputmode: "numeric" }), `assets.${i}.count`)),
      h("div", { class: "actions" }, checkbox(`assets.${i}.disqualifying`, t("asset.disqualifying")),
        a.category === "vehicle" ? checkbox(`assets.${i}.disability_mobility`, t("asset.disability_mobility")) : null),
      h("div", { class: "thumbs" }, await Promise.all(a.photos.map((sha) => thumb(sha, t("asset.photo"))))),
      editable ? photoButtons("asset", async (photo) => {
        await storeImage({ ...photo, kind: "asset" }, (body) => {
          body.assets[i].photos.push(photo.sha256);
          body.photos.push({ sha256: photo.sha256, kind: "asset", taken_at: photo.taken_at, location: photo.location });
        });
        sections.assets();
        sections.photos();
      }, `asset-${i}`) : null,
      removeButton("assets", i, () => sections.assets(), label("asset", a.category))))),
    h("button", { type: "button", class: "secondary", "data-testid": "add-asset", onclick: () => {
      model.assets.push(M.newAsset());
      save();
      sections.assets();
    } }, t("asset.add")),
  ]);

  const photos = section("photos", async () => [
    h("p", { class: "hint" }, t("photo.required", { kinds: M.REQUIRED_PHOTO_KINDS.map((k) => label("photo", k)).join("、") })),
    h("div", { class: "thumbs", "data-testid": "photos" }, await Promise.all(model.photos.map(async (p, i) => h("figure", { "data-testid": "photo", "data-kind": p.kind },
      await thumb(p.sha256, label("photo", p.kind)),
      h("figcaption", {}, h("strong", {}, label("photo", p.kind)), h("br"), formatTime(p.taken_at), h("br"),
        p.location ? t("gps.accuracy", { m: Math.round(p.location.accuracy_m ?? 0) }) : t("gps.none")),
      editable && p.kind !== "asset" ? removeButton("photos", i, () => {
        if (!M.namedImages(model).includes(p.sha256)) store.db.images.delete(p.sha256);
        sections.photos();
      }, label("photo", p.kind)) : null)))),
    editable ? h("div", { class: "photo-kinds" }, M.PHOTO_KINDS.filter((k) => k !== "asset").map((kind) => h("div", { class: "photo-kind" },
      h("h3", {}, label("photo", kind), " (", model.photos.filter((p) => p.kind === kind).length, ")"),
      photoButtons(kind, async (photo) => {
        await storeImage({ ...photo, kind }, (body) => body.photos.push({ sha256: photo.sha256, kind, taken_at: photo.taken_at, location: photo.location }));
        sections.photos();
      })))) : null,
  ]);

  const testimonies = section("testimonies", async () => [
    h("p", { class: "hint" }, t("testimony.hint", { n: M.MIN_TESTIMONIES })),
    await Promise.all(model.testimonies.map(async (tm, i) => h("fieldset", { class: "testimony", "data-testid": "testimony" },
      h("legend", {}, t("testimony.n", { n: i + 1 })),
      h("div", { class: "grid" },
        field(t("testimony.witness_name"), input(`testimonies.${i}.witness_name`), `testimonies.${i}.witness_name`),
        field(t("testimony.role"), select(`testimonies.${i}.role`, M.WITNESS_ROLES, "witness", false), `testimonies.${i}.role`),
        field(t("testimony.contact"), input(`testimonies.${i}.contact`, { inputmode: "tel" }), `testimonies.${i}.contact`)),
      M.ANSWER_TEXTS.map((k) => field(t(`answer.${k}`), textarea(`testimonies.${i}.answers.${k}`, { rows: 2 }), `testimonies.${i}.answers.${k}`)),
      h("fieldset", { class: "radios" }, h("legend", {}, t("answer.matches_declaration")),
        M.YES_NO_UNSURE.map((v) => h("label", { class: "check" }, h("input", { type: "radio", name: `match-${i}`, value: v,
          "data-path": `testimonies.${i}.answers.matches_declaration`, checked: tm.answers.matches_declaration === v,
          "data-testid": `match-${i}-${v}` }), " ", label("yesno", v)))),
      field(t("testimony.statement"), textarea(`testimonies.${i}.statement`), `testimonies.${i}.statement`),
      h("p", { class: "muted" }, formatTime(tm.at), " · ", tm.location ? t("gps.accuracy", { m: Math.round(tm.location.accuracy_m ?? 0) }) : t("gps.none")),
      tm.signature ? h("div", {}, h("p", {}, t("testimony.signed")), await thumb(tm.signature, t("testimony.signature")),
        editable ? h("button", { type: "button", class: "secondary small", onclick: () => {
          tm.signature = null;
          save();
          sections.testimonies();
        } }, t("sign.again")) : null)
        : editable ? signaturePad({ label: t("testimony.sign_here"), testid: `testimony-${i}-pad`, onsave: async (blob) => {
          const sha256 = await hashBlob(blob);
          await storeImage({ sha256, blob, type: "image/png", kind: "signature" }, (body) => (body.testimonies[i].signature = sha256));
          sections.testimonies();
        } }) : null,
      removeButton("testimonies", i, () => sections.testimonies(), tm.witness_name || t("testimony.n", { n: i + 1 }))))),
    h("button", { type: "button", class: "secondary", "data-testid": "add-testimony", onclick: () => {
      model.testimonies.push({ ...M.newTestimony(), at: M.isoLocal(), location: model.location || gps.current });
      save();
      sections.testimonies();
    } }, t("testimony.add")),
  ]);

  const signRole = h("select", { id: "sign-role" }, M.SIGNATURE_ROLES_LIST.map((r) => h("option", { value: r }, label("signature", r))));
  const signName = h("input", { id: "sign-name", autocomplete: "off" });
  const signatures = section("signatures", async () => [
    h("ul", { class: "signatures" }, await Promise.all(model.signatures.map(async (s, i) => h("li", { "data-testid": "signature" },
      await thumb(s.image, t("signature.of", { name: s.name })), " ", label("signature", s.role), " · ",
      field(t("signature.name"), input(`signatures.${i}.name`), `signatures.${i}.name`),
      removeButton("signatures", i, () => sections.signatures(), s.name))))),
    editable ? h("div", { class: "card inner" }, h("h3", {}, t("signature.add")),
      h("div", { class: "grid" }, h("div", { class: "field" }, h("label", { for: "sign-role" }, t("signature.role")), signRole),
        h("div", { class: "field" }, h("label", { for: "sign-name" }, t("signature.name")), signName)),
      signaturePad({ label: t("signature.sign_here"), testid: "signature-pad", onsave: async (blob) => {
        if (!signName.value.trim()) {
          toast(t("signature.name_first"));
          signName.focus();
          return;
        }
        const sha256 = await hashBlob(blob);
        const entry = { role: signRole.value, name: signName.value.trim(), image: sha256 };
        await storeImage({ sha256, blob, type: "image/png", kind: "signature" }, (body) => body.signatures.push(entry));
        signName.value = "";
        sections.signatures();
      } })) : null,
  ]);

  const conclusion = section("conclusion", () => [
    field(t("visit.conclusion"), textarea("conclusion", { rows: 4 }), "conclusion"),
    field(t("visit.notes"), textarea("notes", { rows: 3 }), "notes"),
  ]);

  const problems = h("div", { id: "problems", "data-testid": "problems", tabindex: "-1" });
  function showProblems(result) {
    root.querySelectorAll(".field-error").forEach((el) => (el.textContent = ""));
    root.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    const errors = Object.entries(result.errors);
    for (const [path, key] of errors) {
      const el = document.getElementById(`${idOf(path)}-error`);
      if (el) el.textContent = t(key);
      document.getElementById(idOf(path))?.setAttribute("aria-invalid", "true");
    }
    const warn = (w) => (Array.isArray(w) ? t(w[0], { ...w[1], kinds: (w[1].kinds || []).map((k) => label("photo", k)).join("、") }) : t(w));
    replace(problems,
      errors.length ? h("div", { class: "errors", role: "alert" }, h("p", {}, t("visit.has_errors", { n: errors.length })),
        h("ul", {}, errors.map(([path, key]) => h("li", {}, h("a", { href: `#${idOf(path)}`, onclick: (e) => {
          e.preventDefault();
          document.getElementById(idOf(path))?.focus();
        } }, t(`where.${path.split(".")[0]}`), path.match(/\.(\d+)\./) ? ` ${Number(path.match(/\.(\d+)\./)[1]) + 1}` : "",
          " · ", root.querySelector(`label[for="${idOf(path)}"]`)?.textContent || "", ": ", t(key)))))) : null,
      result.warnings.length ? h("div", { class: "warnings" }, h("p", {}, t("visit.warnings")), h("ul", {}, result.warnings.map((w) => h("li", {}, warn(w))))) : null);
    return warn;
  }

  async function onFinish() {
    const result = M.check(model);
    const warn = showProblems(result);
    if (Object.keys(result.errors).length) {
      problems.focus();
      return;
    }
    if (result.warnings.length) {
      const ok = await confirmDialog(t("visit.confirm_warnings", { list: result.warnings.map(warn).join("；") }), t("visit.finish"), t("visit.keep_editing"));
      if (!ok) return;
    }
    await chain;
    const wire = M.wireBody(model, M.isoLocal());
    model.ended_at = wire.ended_at;
    await save();
    const partner = model.investigators.slice(1).find((s) => s.trim());
    if (partner) await store.setMeta("partner", partner.trim());
    await finish(id, wire);
    toast(t("visit.finished"));
    location.hash = "#/";
  }

  // ---- every change is saved at once ----
  function onChange(event) {
    const el = event.target;
    const path = el.dataset?.path;
    if (!path || !editable) return;
    let value = el.dataset.kind === "bool" ? el.checked : el.value;
    if (el.type === "radio" && !el.checked) return;
    set(path, value);
    document.getElementById(`${idOf(path)}-error`)?.replaceChildren();
    el.removeAttribute("aria-invalid");
    const m = /^members\.(\d+)\.id_number$/.exec(path);
    if (m && value.trim().length === 18) {
      const parsed = parseIdNumber(value);
      const err = document.getElementById(`${idOf(path)}-error`);
      if (parsed.error) {
        err.textContent = t(parsed.error);
        el.setAttribute("aria-invalid", "true");
      } else {
        // GB 11643: the birth date and sex inside the number fill the member's fields.
        set(`members.${m[1]}.birth_date`, parsed.birth_date);
        set(`members.${m[1]}.sex`, parsed.sex);
        document.getElementById(idOf(`members.${m[1]}.birth_date`)).value = parsed.birth_date;
        document.getElementById(idOf(`members.${m[1]}.sex`)).value = parsed.sex;
      }
    }
    if (/^(income|members)\./.test(path)) drawPci();
    save();
  }
  function onBlur(event) {
    const el = event.target;
    const path = el.dataset?.path;
    if (!path || !editable || !el.value) return;
    const errors = M.check(model).errors;
    if (errors[path]) {
      document.getElementById(`${idOf(path)}-error`).textContent = t(errors[path]);
      el.setAttribute("aria-invalid", "true");
    }
  }

  const form = h("form", { class: "visit", novalidate: true, onsubmit: (e) => e.preventDefault() },
    header, members, income, expenditure, housing, assets, photos, testimonies, signatures, conclusion);
  form.addEventListener("input", onChange);
  form.addEventListener("change", onChange);
  form.addEventListener("focusout", onBlur);

  const nav = h("nav", { class: "jump", "aria-label": t("visit.sections") },
    Object.keys(sections).map((k) => h("a", { href: `#s-${k}`, onclick: (e) => {
      e.preventDefault();
      document.getElementById(`s-${k}`).scrollIntoView();
    } }, t(`visit.s.${k}`))));

  replace(root,
    h("p", {}, h("a", { href: `#/case/${visit.case_id}` }, "← ", t("back"))),
    h("h1", {}, t("visit.title"), " ", statusChip(visit)),
    errorText(visit) ? h("p", { class: "error", role: "alert" }, errorText(visit)) : null,
    !editable ? h("p", { class: "notice" }, t("visit.readonly")) : null,
    nav, form, problems, editable ? saved : null,
    editable ? h("div", { class: "actions finish" },
      h("button", { type: "button", class: "primary big", "data-testid": "finish", onclick: onFinish }, t("visit.finish"))) : null);
  for (const draw of Object.values(sections)) await draw();
  drawGps();

  if (editable) {
    gps.start();
    offs.push(on("gps", (fix) => {
      // The first good fix is recorded at once; the investigator may accept a later one.
      if (fix && !model.location && fix.accuracy_m <= MAX_ACCURACY_M) {
        model.location = { ...fix };
        save();
      }
      drawGps();
    }));
  }
  return () => {
    offs.forEach((off) => off());
    gps.stop();
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}
