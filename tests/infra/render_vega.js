// Draw every plot of a `dvc plots show` page to SVG with the libraries inlined in the page itself,
// the way a browser without network access would: no script is fetched. Usage: node render_vega.js PAGE
const fs = require("fs");
const vm = require("vm");

const page = fs.readFileSync(process.argv[2], "utf8");
const libraries = [...page.matchAll(/<script>\n([\s\S]*?)\n<\/script>/g)].map((m) => m[1]);
const specs = [...page.matchAll(/var spec = (\{[\s\S]*?\});\s*vegaEmbed/g)].map((m) => JSON.parse(m[1]));
const sandbox = { console, setTimeout, clearTimeout, setInterval, clearInterval, structuredClone,
  URL, TextEncoder, TextDecoder, queueMicrotask };
sandbox.self = sandbox;
sandbox.globalThis = sandbox;
vm.createContext(sandbox);
for (const code of libraries) vm.runInContext(code, sandbox);

(async () => {
  if (!sandbox.vega || !sandbox.vegaLite || !sandbox.vegaEmbed) throw new Error("libraries missing");
  for (const spec of specs) {
    const compiled = sandbox.vegaLite.compile(spec).spec;
    const view = new sandbox.vega.View(sandbox.vega.parse(compiled), { renderer: "none" });
    process.stdout.write((await view.toSVG()) + "\n");
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
