#!/usr/bin/env node
// The trireme command: runs the bundled command line in dist/bin (made by `npm run build`; the package ships it).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

// BullMQ only packs with msgpackr; its native addon speeds up unpacking, and probing for it costs ~17 ms a start.
if (process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED === undefined) process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED = 'true';

const entry = join(__dirname, '../dist/bin/main.cjs');
if (!existsSync(entry)) {
  process.stderr.write('trireme: dist/bin/main.cjs is missing: run `npm run build` first (a clone needs a build; the package ships one)\n');
  process.exit(2);
}
require(entry).main(process.argv).catch((err) => {
  process.stderr.write(`trireme: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
