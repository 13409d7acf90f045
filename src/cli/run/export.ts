/** The body of `trireme export`: finds the kind's exporter in the export registry and writes or prints its files. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { exporterOf } from '../../exports/index.js';
import { project, UsageError, type GlobalOpts } from '../common.js';
import { EXPORT_KINDS, type ExportCli } from '../export.js';

export async function runExport(g: GlobalOpts, kind: string, o: ExportCli): Promise<void> {
  const exporter = exporterOf(kind);
  if (!exporter) throw new UsageError(`export: unknown kind "${kind}"; use one of: ${EXPORT_KINDS.join(', ')}`);
  // Deployment files come from the config alone: no task code runs.
  const p = await project(g, { tasks: false });
  const files = exporter(p, {
    configPath: o.configPath,
    image: o.image,
    controllerImage: o.controllerImage,
    namespace: o.namespace,
    prefix: o.prefix,
    user: o.user,
    workdir: o.workdir,
    source: basename(p.configPath ?? 'trireme.yml'),
    configText: p.configPath ? await readFile(p.configPath, 'utf8') : '',
  });
  for (const w of new Set(files.flatMap((f) => f.warnings ?? []))) process.stderr.write(`trireme: warning: ${w}\n`);
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
