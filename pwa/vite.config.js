// The app is served by Flask at /app/. After the build, `serviceWorker()` writes dist/sw.js
// from src/sw.js with the list of files to precache and a cache name made of the build's
// hash, so a new deployment gets a new cache and the old one is dropped on activation.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { defineConfig } from "vite";

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function serviceWorker() {
  let outDir;
  return {
    name: "doorstep-service-worker",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const files = filesUnder(outDir)
        .map((path) => relative(outDir, path).split("\\").join("/"))
        .filter((name) => name !== "sw.js" && !name.endsWith(".map"))
        .sort();
      const hash = createHash("sha256");
      for (const name of files) hash.update(name).update(readFileSync(join(outDir, name)));
      const build = hash.digest("hex").slice(0, 12);
      const precache = ["./", ...files.filter((name) => name !== "index.html")];
      const source = readFileSync("src/sw.js", "utf8")
        .replace("__BUILD__", build)
        .replace("__PRECACHE__", JSON.stringify(precache));
      writeFileSync(join(outDir, "sw.js"), source);
      writeFileSync(join(outDir, "build.json"), JSON.stringify({ build, files: precache }) + "\n");
    },
  };
}

export default defineConfig({
  base: "/app/",
  build: {
    target: "es2020",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  worker: { format: "es" },
  plugins: [serviceWorker()],
});
