// Load the flux-lsp WebAssembly build in plain node (no bundler, no experimental flags).
// The package's ES module imports the .wasm file directly, which node cannot do; we
// rewrite that one import into a setter, instantiate the wasm ourselves and hand it over.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "node_modules", "@influxdata", "flux-lsp-browser");

export async function loadFlux() {
  let src = readFileSync(join(pkg, "flux-lsp-browser_bg.js"), "utf8");
  const importLine = "import * as wasm from './flux-lsp-browser_bg.wasm';";
  if (!src.startsWith(importLine)) throw new Error("unexpected flux-lsp-browser layout: " + pkg);
  src = src.replace(importLine, "let wasm;\nexport function __onsflux_set_wasm(w) { wasm = w; " +
    "cachedInt32Memory0 = new Int32Array(wasm.memory.buffer); " +
    "cachedUint8Memory0 = new Uint8Array(wasm.memory.buffer); }");
  src = src.replace(/\ncachedInt32Memory0 = new Int32Array\(wasm\.memory\.buffer\);\s*\ncachedUint8Memory0 = new Uint8Array\(wasm\.memory\.buffer\);\s*$/, "\n");
  src = src.replace("(0, module.require)('util')", "(await import('node:util'))");
  const dir = mkdtempSync(join(tmpdir(), "fluxcheck-"));
  const file = join(dir, "bg.mjs");
  writeFileSync(file, src);
  let bg;
  try {
    bg = await import(pathToFileURL(file).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });  // imported: the copy is no longer needed
  }
  const module = new WebAssembly.Module(readFileSync(join(pkg, "flux-lsp-browser_bg.wasm")));
  const instance = new WebAssembly.Instance(module, { "./flux-lsp-browser_bg.js": bg });
  bg.__onsflux_set_wasm(instance.exports);
  return bg;
}
