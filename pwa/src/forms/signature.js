// A signature drawn with a finger or stylus on a canvas, kept as a PNG.
import { h } from "../ui.js";
import { t } from "../i18n.js";

export function signaturePad({ label: text, testid, onsave }) {
  const canvas = h("canvas", { width: 900, height: 260, class: "pad", "data-testid": testid, role: "img", "aria-label": text });
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 4;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.strokeStyle = "#111";
  let drawing = false, strokes = 0;
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    canvas.setPointerCapture?.(e.pointerId);
    ctx.beginPath();
    ctx.moveTo(...point(e));
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    ctx.lineTo(...point(e));
    ctx.stroke();
    strokes++;
  });
  const end = () => (drawing = false);
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  const error = h("p", { class: "field-error", role: "alert" });
  const clear = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    strokes = 0;
    error.textContent = "";
  };
  const save = h("button", { type: "button", class: "primary", "data-testid": `${testid}-save`, onclick: async () => {
    if (!strokes) {
      error.textContent = t("sign.empty");
      return;
    }
    save.disabled = true;
    try {
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      await onsave(blob);
    } finally {
      save.disabled = false;
    }
  } }, t("sign.save"));
  return h("div", { class: "signature" }, h("p", { class: "muted" }, text), canvas, error,
    h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: clear }, t("sign.clear")), save));
}
