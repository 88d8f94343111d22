// Renders Graphviz DOT to SVG and PNG without any system binary: Graphviz compiled to
// WebAssembly (@viz-js/viz) lays the graph out, resvg (@resvg/resvg-js) rasterises it with
// the DejaVu fonts shipped by the dejavu-fonts-ttf package. Called by mdlc/diagram.py.
//
//   node scripts/render_diagram.mjs < jobs.json      # [{"dot": "...", "svg": "a.svg", "png": "a.png"}]
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { instance } from "@viz-js/viz";
import { Resvg } from "@resvg/resvg-js";

const require = createRequire(import.meta.url);
const fontDir = join(dirname(require.resolve("dejavu-fonts-ttf/package.json")), "ttf");
const fontFiles = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"].map((f) => join(fontDir, f));

const jobs = JSON.parse(readFileSync(0, "utf8"));
const viz = await instance();
for (const job of jobs) {
  const svg = viz.renderString(job.dot, { format: "svg", engine: "dot" });
  writeFileSync(job.svg, svg);
  const png = new Resvg(svg, {
    fitTo: { mode: "zoom", value: job.zoom ?? 1.5 },
    background: "white",
    font: { fontFiles, loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  }).render().asPng();
  writeFileSync(job.png, png);
}
