/** `trireme export KIND`: files from the config: deployment files (Kubernetes, KEDA, HPA, Compose, systemd) and alert rules. */
import type { Command } from 'commander';
import { action, globals, verb } from './common.js';

/**
 * The kinds of the export registry (exports/index.ts: the drivers' DriverKind.exports, then prometheus-rules), in its
 * order. A copy, so that `--help` loads no driver: a unit test keeps it equal to the registry's.
 */
export const EXPORT_KINDS = ['kubernetes', 'keda', 'hpa', 'compose', 'systemd', 'prometheus-rules'] as const;

export interface ExportCli { out?: string; image: string; controllerImage: string; namespace?: string; configPath?: string; prefix?: string; user?: string; workdir?: string }

export function registerExport(program: Command): void {
  program.command('export')
    .description('write files from the config: deployment files for kubernetes (Namespace, Deployments, controller, RBAC), keda, hpa, compose, systemd, and prometheus-rules (alerting rules; runbooks in docs/operations.md); without --out, print them (YAML as one multi-document stream, for kubectl apply -f -)')
    .argument('<kind>', EXPORT_KINDS.join(' | '))
    .option('-o, --out <dir>', 'write the files into this folder (default: print them)')
    .option('--image <image>', 'the image replicas and the controller run (kubernetes, compose): REGISTRY/NAME:TAG for a cluster (the default is warned about)', 'trireme')
    .option('--controller-image <image>', 'compose: the image serve runs (with the Docker CLI and Compose)', 'trireme-controller')
    .option('--namespace <ns>', 'kubernetes, keda, hpa: the namespace to write into (default: drivers.kubernetes.namespace, else trireme; where the config names one, only that one)')
    .option('--config-path <path>', 'the config file as replicas see it (default: /app/trireme.yml; systemd: WORKDIR/trireme.yml)')
    .option('--prefix <dir>', 'systemd: where the package is installed (default: /opt/trireme)')
    .option('--user <user>', 'systemd: the user replicas run as (default: trireme)')
    .option('--workdir <dir>', 'systemd: the project folder on worker hosts (default: /srv/trireme)')
    .action(action(async (kind: string, o: ExportCli, cmd: Command) => verb<typeof import('./run/export.js')>('export').runExport(globals(cmd), kind, o)));
}
