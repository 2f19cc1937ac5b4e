// Check Flux scripts with the real Flux parser and semantic (type) checker.
//
// stdin: a JSON array of Flux scripts.  stdout: a JSON array, one entry per script:
//   {"valid": bool, "semantic": bool, "diagnostics": [{"message", "line", "character", "severity"}]}
// "valid" is Flux.is_valid() (parse + semantic analysis: types, builtin signatures)
// AND no error-severity diagnostic from the language server (run on invalid scripts to
// explain them, or on all of them with FLUXCHECK_LSP=all). Exit status 0 when the
// checker ran (whatever the verdicts), 2 when it could not run at all.
import { loadFlux } from "./load.mjs";

// the wasm logs through console.*: keep stdout for our JSON only
for (const k of ["log", "info", "debug", "warn"]) console[k] = (...a) => process.stderr.write(a.join(" ") + "\n");

async function readStdin() {
  const parts = [];
  for await (const chunk of process.stdin) parts.push(chunk);
  return Buffer.concat(parts).toString("utf8");
}

async function main() {
  const scripts = JSON.parse(await readStdin());
  if (!Array.isArray(scripts)) throw new Error("stdin must be a JSON array of strings");
  const flux = await loadFlux();
  const lsp = new flux.Lsp();
  const waiting = new Map();
  lsp.onMessage((raw) => {
    const msg = JSON.parse(raw);
    if (msg.method === "textDocument/publishDiagnostics") {
      const done = waiting.get(msg.params.uri);
      if (done) { waiting.delete(msg.params.uri); done(msg.params.diagnostics); }
    }
  });
  lsp.run().catch((e) => { console.error("flux-lsp stopped:", e); process.exit(2); });
  const send = (o) => lsp.send(JSON.stringify({ jsonrpc: "2.0", ...o }));
  await send({ id: 1, method: "initialize", params: { capabilities: {}, processId: null, rootUri: null } });
  await send({ method: "initialized", params: {} });
  // The verdict is Flux.is_valid(): parse + semantic analysis (types, builtin function
  // signatures), ~7 ms a script. The language server (~170 ms a script) explains the
  // failures; FLUXCHECK_LSP=all runs it on every script and counts its errors too.
  const lspAll = process.env.FLUXCHECK_LSP === "all";
  const semantic = scripts.map((text) => {
    const f = new flux.Flux(text);
    try { return f.is_valid(); } finally { f.free(); }
  });
  const pending = scripts.map((text, i) => {
    if (semantic[i] && !lspAll) return Promise.resolve([]);
    const uri = `file:///onsflux/q${i}.flux`;
    return new Promise((resolve) => {
      waiting.set(uri, resolve);
      setTimeout(() => { if (waiting.delete(uri)) resolve(null); }, 60000);
      send({ method: "textDocument/didOpen",
             params: { textDocument: { uri, languageId: "flux", version: 1, text } } });
    });
  });
  const all = await Promise.all(pending);
  const out = [];
  for (let i = 0; i < scripts.length; i++) {
    const diags = all[i];
    if (diags === null) throw new Error("flux-lsp published no diagnostics for script " + i);
    const diagnostics = diags.map((d) => ({ message: d.message, line: d.range.start.line + 1,
      character: d.range.start.character + 1, severity: d.severity }));
    const errors = diagnostics.filter((d) => d.severity === 1);
    out.push({ valid: semantic[i] && errors.length === 0, semantic: semantic[i], diagnostics });
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}

main().catch((e) => { console.error("fluxcheck failed:", e && e.stack || e); process.exit(2); });
