// Bundles src/index.js (d3 modules, CSS as text) into ../topoact_tensorboard/static/index.js.
// The output is committed so that users of the Python package need no Node.js.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: ["src/index.js"],
  outfile: "../topoact_tensorboard/static/index.js",
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: !process.argv.includes("--no-minify"),
  legalComments: "eof",
  loader: { ".css": "text" },
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
