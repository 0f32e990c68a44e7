// Bundles src/index.js (d3 modules, CSS as text) into ../topoact_tensorboard/static/index.js, and the licences of
// the bundled packages into ../topoact_tensorboard/static/THIRD_PARTY_LICENSES.txt.
// The output is committed so that users of the Python package need no Node.js.
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";

/**
 * SHA-256 over what the bundle is built from: every file under src/ (sorted paths), package.json and
 * package-lock.json, each as `path NUL content NUL`. The banner carries it; tests/test_frontend_bundle.py recomputes
 * it in Python and fails when the committed bundle was not rebuilt after a change.
 */
export function sourcesHash() {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk("src");
  files.sort();
  files.push("package.json", "package-lock.json");
  const h = createHash("sha256");
  for (const f of files) {
    h.update(f + "\0");
    h.update(readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex");
}

const OUT_DIR = "../topoact_tensorboard/static";
const watch = process.argv.includes("--watch");
const options = {
  entryPoints: ["src/index.js"],
  outfile: `${OUT_DIR}/index.js`,
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: !process.argv.includes("--no-minify"),
  legalComments: "eof",
  banner: {
    js:
      "// TopoAct TensorBoard plugin (MIT). Bundles d3 modules (ISC): see THIRD_PARTY_LICENSES.txt.\n" +
      `// sources-sha256: ${sourcesHash()}`,
  },
  loader: { ".css": "text" },
  metafile: true,
  logLevel: "info",
};

/** The licence text of every npm package that ended up in the bundle. */
function writeLicenses(metafile) {
  const packages = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) packages.add(m[1]);
  }
  const parts = [...packages].sort().map((name) => {
    const dir = join("node_modules", name);
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const file = ["LICENSE", "LICENSE.md", "LICENSE.txt"].map((f) => join(dir, f)).find(existsSync);
    const text = file ? readFileSync(file, "utf8").trim() : `License: ${pkg.license}`;
    return `${name} ${pkg.version} (${pkg.license})\n\n${text}\n`;
  });
  writeFileSync(
    `${OUT_DIR}/THIRD_PARTY_LICENSES.txt`,
    `Third-party code bundled into index.js\n${"=".repeat(38)}\n\n${parts.join("\n" + "-".repeat(78) + "\n\n")}`,
  );
}

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  const result = await esbuild.build(options);
  writeLicenses(result.metafile);
}
