// openapi_lint.js — docs/openapi.json read by a real OpenAPI tool, as a
// client generator would read it: @apidevtools/swagger-parser validates the
// document against the OpenAPI 3.1 specification's schema and resolves every
// $ref. Run by tests/api/test_npm_client.c with the document's path; exits 1
// with the tool's complaints when the document is not valid OpenAPI.
'use strict';

const SwaggerParser = require('@apidevtools/swagger-parser');

(async () => {
  const path = process.argv[2];
  try {
    const api = await SwaggerParser.validate(path);
    const operations = Object.values(api.paths)
      .reduce((n, item) => n + Object.keys(item).length, 0);
    console.log(`openapi_lint: ${path}: valid OpenAPI ${api.openapi}, ${operations} operations`);
  } catch (err) {
    console.error(`openapi_lint: ${path}: ${err.message}`);
    process.exit(1);
  }
})();
