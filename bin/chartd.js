#!/usr/bin/env node
// Entry point of the `chartd` command; the code lives in dist/ (built by `npm ci` / `npm run build`).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`chartd: ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
