/**
 * Every kind `trireme export KIND` writes, in one registry: each driver's deployment files (DriverKind.exports:
 * kubernetes, keda, hpa, compose, systemd) and the kinds no driver owns (prometheus-rules). A new kind is a file and
 * a line here; the CLI keeps a copy of the names for its --help (test/unit/export-kinds.test.ts keeps them equal).
 */
import type { Exporter } from '../drivers/export.js';
import { DRIVERS } from '../drivers/index.js';
import { prometheusRules } from './prometheus-rules.js';

/** Kinds that belong to no driver. */
const OWN: Record<string, Exporter> = {
  'prometheus-rules': prometheusRules,
};

/** Every export kind and its exporter: the drivers' first, in registry order, then the others. */
export const EXPORTERS: Record<string, Exporter> = {
  ...Object.fromEntries(Object.values(DRIVERS).flatMap((d) => Object.entries(d.exports ?? {}))),
  ...OWN,
};

/** The exporter of a kind, or undefined. */
export const exporterOf = (kind: string): Exporter | undefined => (Object.hasOwn(EXPORTERS, kind) ? EXPORTERS[kind] : undefined);
