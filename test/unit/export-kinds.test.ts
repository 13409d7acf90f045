/**
 * `trireme export KIND` finds KIND's exporter in the driver registry, but `--help` must not load the registry (every
 * driver's code and schemas): the CLI keeps its own list of kinds and states the exporters' defaults in its help.
 * These keep the copies equal to what the drivers export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { EXPORT_KINDS, registerExport } from '../../src/cli/export.js';
import { DRIVERS } from '../../src/drivers/index.js';
import { EXPORTERS } from '../../src/exports/index.js';
import { UNIT_DEFAULTS } from '../../src/drivers/systemd/units.js';

test('the CLI lists the kinds of the export registry, in its order: the drivers\' first, then the others', () => {
  assert.deepEqual([...EXPORT_KINDS], Object.keys(EXPORTERS));
  const drivers = Object.values(DRIVERS).flatMap((d) => Object.keys(d.exports ?? {}));
  assert.deepEqual(EXPORT_KINDS.slice(0, drivers.length), drivers);
  assert.ok(EXPORT_KINDS.includes('prometheus-rules'));
});

test('no kind is claimed twice: by two drivers, or by a driver and the registry\'s own kinds', () => {
  const kinds = [...Object.values(DRIVERS).flatMap((d) => Object.keys(d.exports ?? {})), 'prometheus-rules'];
  assert.equal(new Set(kinds).size, kinds.length, kinds.join(', '));
});

test('export --help states the defaults the systemd exporter applies', () => {
  const program = new Command();
  registerExport(program);
  const options = program.commands.find((c) => c.name() === 'export')!.options;
  for (const [flag, value] of Object.entries(UNIT_DEFAULTS)) {
    const option = options.find((x) => x.long === `--${flag}`);
    assert.ok(option, `--${flag}`);
    assert.match(option.description, new RegExp(`\\(default: ${value}\\)$`), `--${flag}`);
  }
});
