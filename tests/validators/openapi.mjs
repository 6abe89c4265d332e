// Validates OpenAPI documents against the OpenAPI 3.1 schema with an independent validator
// (@seriousme/openapi-schema-validator), offline. Usage: node openapi.mjs FILE...
// Prints one line per file and exits 1 when one does not validate.
import { Validator } from "@seriousme/openapi-schema-validator";

let failed = false;
for (const file of process.argv.slice(2)) {
  const validator = new Validator();
  const res = await validator.validate(file);
  if (res.valid && validator.version === "3.1") {
    console.log(`${file}: valid OpenAPI ${validator.version}`);
  } else {
    failed = true;
    console.log(`${file}: INVALID (version ${validator.version}): ${JSON.stringify(res.errors)}`);
  }
}
process.exitCode = failed ? 1 : 0;
