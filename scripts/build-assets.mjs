// Copy the browser builds of the npm packages into src/safetynet/web/static/vendor,
// where WhiteNoise serves them (county intranets often have no internet).
import { cpSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const out = join(root, "src/safetynet/web/static/vendor");
const files = {
  "bootstrap/dist/css/bootstrap.min.css": "bootstrap.min.css",
  "bootstrap/dist/js/bootstrap.bundle.min.js": "bootstrap.bundle.min.js",
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "echarts/dist/echarts.min.js": "echarts.min.js",
};
mkdirSync(out, { recursive: true });
for (const [src, dest] of Object.entries(files)) {
  const from = join(root, "node_modules", src);
  if (!existsSync(from)) {
    console.error(`missing ${from}: run npm ci`);
    process.exit(1);
  }
  cpSync(from, join(out, dest));
}
console.log(`assets: ${Object.keys(files).length} files -> ${out}`);
