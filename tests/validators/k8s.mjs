// Validates rendered Kubernetes manifests against the API schemas of a current Kubernetes (the
// kubernetes-models package, generated from the API's OpenAPI document), offline: no cluster.
// Usage: node k8s.mjs FILE...  where each FILE holds multi-document YAML (kubectl kustomize's
// output). Prints {FILE: {objects, errors}} as JSON on stdout for the invariant checker, errors
// naming every object that does not validate (or whose kind the schemas do not know), and exits 1
// when there is one.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const out = {};
let failed = false;
for (const file of process.argv.slice(2)) {
  out[file] = await check(readFileSync(file, "utf8"));
  failed ||= out[file].errors.length > 0;
}
process.stdout.write(JSON.stringify(out));
process.exitCode = failed ? 1 : 0;

async function check(text) {
  const docs = [];
  const mistakes = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      mistakes.push(`YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    docs.push(obj);
    const name = `${obj.kind}/${obj.metadata?.name}`;
    if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
      mistakes.push(`${name}: apiVersion and kind are required`);
      continue;
    }
    let models;
    try {
      models = await import(`kubernetes-models/${obj.apiVersion}`);
    } catch {
      mistakes.push(`${name}: unknown apiVersion ${obj.apiVersion}`);
      continue;
    }
    const Model = models[obj.kind];
    if (!Model) {
      mistakes.push(`${name}: ${obj.apiVersion} has no kind ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      const details = (e.errors || []).map((x) => `${x.instancePath || "/"} ${x.message}`);
      mistakes.push(`${name}: ${details.length ? details.join("; ") : e.message}`);
    }
  }
  return { objects: docs, errors: mistakes };
}
