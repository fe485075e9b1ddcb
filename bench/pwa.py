"""The tablet app's speed and size (issue 5 "Speed and size"), printed as a table.

    python -m bench.pwa

- gzipped JavaScript of the built app shell (pwa/dist: the app, its photo worker and the
  service worker) against 150 KiB, and HTML + CSS against 50 KiB;
- Lighthouse (npm, from pwa/node_modules) on the mobile profile against Debian's Chromium:
  performance and accessibility of /app/ as a new tablet first opens it, against 90;
- a 12-megapixel camera JPEG downscaled on the device to a long edge of 2048 px by the
  app's own photo worker (decode, resample, encode, SHA-256) in headless Chromium,
  median of 5, against 1 s.

The app is served by Doorstep itself (waitress on 127.0.0.1, an empty SQLite database).
Needs the build (`make run` or `make bench` do it). Nothing here asserts.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import statistics
import subprocess
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "pwa" / "dist"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = "--headless --no-sandbox --disable-gpu"
TARGET = {"js_kib": 150, "html_css_kib": 50, "lighthouse": 90, "downscale_ms": 1000}


def gz_kib(paths) -> float:
    return sum(len(gzip.compress(p.read_bytes(), 9)) for p in paths) / 1024


def sizes() -> dict:
    files = [p for p in DIST.rglob("*") if p.is_file()]
    return {"js_kib": gz_kib(p for p in files if p.suffix == ".js"),
            "html_css_kib": gz_kib(p for p in files if p.suffix in (".html", ".css"))}


class Server:
    """Doorstep on a free loopback port, in this process, on a throw-away database."""

    def __enter__(self):
        from waitress.server import create_server

        from server import create_app
        from server.core.migrate import upgrade

        self._folder = tempfile.TemporaryDirectory()
        url = f"sqlite:///{self._folder.name}/bench.sqlite"
        upgrade(url)
        self.app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "PHOTO_STORE": self._folder.name + "/photos"})
        self._server = create_server(self.app, host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=self._server.run, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        return self

    def __exit__(self, *exc):
        self._server.close()
        self.app.extensions["doorstep_db"].engine.dispose()
        self._folder.cleanup()


def lighthouse(url: str) -> dict:
    binary = ROOT / "pwa" / "node_modules" / ".bin" / "lighthouse"
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [str(binary), url, "--only-categories=performance,accessibility", "--output=json",
             "--output-path=stdout", "--quiet", f"--chrome-flags={CHROME_FLAGS} --user-data-dir={profile}"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "CHROME_PATH": CHROMIUM})
    if out.returncode != 0:
        raise RuntimeError(f"lighthouse failed: {out.stderr[-2000:]}")
    report = json.loads(out.stdout)
    cats = report["categories"]
    audits = report["audits"]
    return {"performance": round(cats["performance"]["score"] * 100), "accessibility": round(cats["accessibility"]["score"] * 100),
            "fcp_ms": audits["first-contentful-paint"]["numericValue"], "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
            "form_factor": report["configSettings"]["formFactor"]}


def twelve_megapixels() -> bytes:
    """A 4000×3000 camera JPEG (photo-like texture, EXIF orientation 6, time and GPS)."""
    import random

    from PIL import Image

    rnd = random.Random(5)
    small = Image.frombytes("RGB", (40, 30), bytes(rnd.randrange(256) for _ in range(40 * 30 * 3)))
    img = small.resize((4000, 3000), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def downscale(url: str, runs: int = 5) -> dict:
    from playwright.sync_api import sync_playwright

    worker = next((DIST / "assets").glob("photo-worker-*.js")).name
    photo = twelve_megapixels()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_FLAGS.split())
        page = browser.new_page()
        page.route("**/bench-photo.jpg", lambda route: route.fulfill(body=photo, content_type="image/jpeg"))
        page.goto(url + "/app/manifest.webmanifest")  # same origin as the app, nothing else running
        times = page.evaluate("""async ([worker, runs]) => {
            const blob = await (await fetch("/app/bench-photo.jpg")).blob();
            const w = new Worker("/app/assets/" + worker, {type: "module"});
            const once = (id) => new Promise((resolve, reject) => {
                w.onmessage = (e) => e.data.ok ? resolve(e.data) : reject(new Error(e.data.error));
                w.postMessage({id, blob, maxEdge: 2048});
            });
            await once(0);  // warm-up: the worker's module loads once per app start
            const out = [];
            for (let i = 1; i <= runs; i++) {
                const t0 = performance.now();
                const r = await once(i);
                out.push({ms: performance.now() - t0, width: r.width, height: r.height, bytes: r.blob.size});
            }
            return out;
        }""", [worker, runs])
        browser.close()
    return {"downscale_ms": statistics.median(t["ms"] for t in times), "max_ms": max(t["ms"] for t in times),
            "size": f"{times[0]['width']}×{times[0]['height']}", "kib": times[0]["bytes"] / 1024,
            "input_kib": len(photo) / 1024}


def run() -> dict:
    if not (DIST / "index.html").is_file():
        raise SystemExit("pwa/dist is missing: build the tablet app first (make bench does; or cd pwa && npm run build)")
    figures = sizes()
    with Server() as server:
        figures.update(lighthouse(server.url + "/app/"))
        figures.update(downscale(server.url))
    return figures


def print_table(f: dict) -> None:
    rows = [
        ("JavaScript, gzipped (KiB)", f"{f['js_kib']:.1f}", f"< {TARGET['js_kib']}", f["js_kib"] < TARGET["js_kib"]),
        ("HTML + CSS, gzipped (KiB)", f"{f['html_css_kib']:.1f}", f"< {TARGET['html_css_kib']}", f["html_css_kib"] < TARGET["html_css_kib"]),
        (f"Lighthouse performance ({f['form_factor']})", str(f["performance"]), f"≥ {TARGET['lighthouse']}", f["performance"] >= TARGET["lighthouse"]),
        (f"Lighthouse accessibility ({f['form_factor']})", str(f["accessibility"]), f"≥ {TARGET['lighthouse']}", f["accessibility"] >= TARGET["lighthouse"]),
        ("  first / largest contentful paint (ms)", f"{f['fcp_ms']:.0f} / {f['lcp_ms']:.0f}", "", None),
        (f"12 MP → {f['size']} on the device, median (ms)", f"{f['downscale_ms']:.0f}", f"< {TARGET['downscale_ms']}", f["downscale_ms"] < TARGET["downscale_ms"]),
        ("  slowest of 5 (ms); JPEG in → out (KiB)", f"{f['max_ms']:.0f}; {f['input_kib']:.0f} → {f['kib']:.0f}", "", None),
    ]
    print(f"\n{'tablet app':<44}  {'this run':>14}  {'target':>8}  ok")
    print("-" * 74)
    for label, value, target, ok in rows:
        print(f"{label:<44}  {value:>14}  {target:>8}  {'' if ok is None else 'yes' if ok else 'NO'}")


def main() -> None:
    print_table(run())


if __name__ == "__main__":
    main()
