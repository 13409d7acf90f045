/** The body of `trireme export`. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { basename, join, relative } from 'node:path';
import { kubernetesManifests } from '../../drivers/kubernetes/manifests.js';
import { hpaObjects, kedaObjects } from '../../drivers/kubernetes/autoscalers.js';
import { composeFile } from '../../drivers/compose/compose-file.js';
import { systemdUnits } from '../../drivers/systemd/units.js';
import type { ExportFile } from '../../drivers/export.js';
import { oversizedPools } from '../../core/host-fit.js';
import { project, UsageError, type GlobalOpts } from '../common.js';
import { EXPORT_KINDS, type ExportCli } from '../export.js';

export async function runExport(g: GlobalOpts, kind: string, o: ExportCli): Promise<void> {
  if (!(EXPORT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`export: unknown kind "${kind}"; use one of: ${EXPORT_KINDS.join(', ')}`);
  // Deployment files come from the config alone: no task code runs.
  const p = await project(g, { tasks: false });
  const k8sNs = p.config.drivers.kubernetes?.namespace;
  const opts = {
    configPath: o.configPath ?? (kind === 'systemd' ? `${o.workdir}/trireme.yml` : '/app/trireme.yml'),
    image: o.image,
    controllerImage: o.controllerImage,
    namespace: o.namespace ?? (typeof k8sNs === 'string' ? k8sNs : 'trireme'),
    source: basename(p.configPath ?? 'trireme.yml'),
    configText: p.configPath ? await readFile(p.configPath, 'utf8') : '',
  };
  const files: ExportFile[] = kind === 'kubernetes' ? kubernetesManifests(p, opts)
    : kind === 'keda' ? kedaObjects(p, opts)
      : kind === 'hpa' ? hpaObjects(p, opts)
        : kind === 'compose' ? composeFile(p, opts)
          : systemdUnits(p, { ...opts, prefix: o.prefix, user: o.user, workdir: o.workdir });
  const warnings = [...new Set(files.flatMap((f) => f.warnings ?? []))];
  // Compose runs every pool on this machine's engine: say before `docker compose up` what it would refuse.
  if (kind === 'compose') {
    const host = { cpu: availableParallelism(), memory: totalmem() };
    warnings.push(...oversizedPools(p.config.pools, host, (r) => (r === 'cpu'
      ? "Docker refuses to start a container whose cpus limit is above the host's CPUs"
      : 'its memory limit cannot be met here')).map((x) => x.message));
  }
  for (const w of warnings) process.stderr.write(`trireme: warning: ${w}\n`);
  if (!o.out) {
    // YAML files make one stream of documents (what `| kubectl apply -f -` reads); each says which file it is.
    const yaml = files.every((f) => /\.ya?ml$/.test(f.path));
    process.stdout.write(files.map((f) => `# ---- ${f.path}\n${f.content}`).join(yaml ? '---\n' : '\n'));
    return;
  }
  await mkdir(o.out, { recursive: true });
  for (const f of files) await writeFile(join(o.out, f.path), f.content);
  process.stderr.write(`trireme: wrote ${files.map((f) => relative(process.cwd(), join(o.out!, f.path))).join(', ')}\n`);
}
