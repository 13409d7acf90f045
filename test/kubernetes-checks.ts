/**
 * What a cluster would check of an exported object, without a cluster: its OpenAPI schema (kubernetes-models,
 * offline), the restricted Pod Security Standard (the admission level a namespace labelled
 * pod-security.kubernetes.io/enforce=restricted applies), and the kubelet's `$(VAR)` expansion of env values,
 * command and args.
 *
 * The Pod Security rules are written from https://kubernetes.io/docs/concepts/security/pod-security-standards/
 * (restricted includes every baseline rule); each rule's name is its row in that page.
 */

// Each model's constructor takes its own typed shape; the parsed YAML is checked at run time by validate().
type Model = new (o: any) => { validate(): void };
const MODELS: Record<string, () => Promise<Model>> = {
  'v1/Namespace': async () => (await import('kubernetes-models/v1')).Namespace,
  'v1/Service': async () => (await import('kubernetes-models/v1')).Service,
  'v1/ServiceAccount': async () => (await import('kubernetes-models/v1')).ServiceAccount,
  'v1/ConfigMap': async () => (await import('kubernetes-models/v1')).ConfigMap,
  'v1/Secret': async () => (await import('kubernetes-models/v1')).Secret,
  'apps/v1/Deployment': async () => (await import('kubernetes-models/apps/v1')).Deployment,
  'rbac.authorization.k8s.io/v1/Role': async () => (await import('kubernetes-models/rbac.authorization.k8s.io/v1')).Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': async () => (await import('kubernetes-models/rbac.authorization.k8s.io/v1')).RoleBinding,
  'autoscaling/v2/HorizontalPodAutoscaler': async () => (await import('kubernetes-models/autoscaling/v2')).HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': async () => (await import('@kubernetes-models/keda/keda.sh/v1alpha1')).ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': async () => (await import('@kubernetes-models/keda/keda.sh/v1alpha1')).TriggerAuthentication,
};

export interface KubeObject { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any }

/** Throws with the schema's complaint when the object is not valid for its apiVersion and kind. */
export async function validateObject(o: KubeObject): Promise<void> {
  const key = `${o.apiVersion}/${o.kind}`;
  const model = MODELS[key];
  if (!model) throw new Error(`no schema for ${key}`);
  const Model = await model();
  new Model(o).validate();
}

type Container = Record<string, any>;
type PodSpec = Record<string, any>;

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const SELINUX_TYPES = new Set(['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

const containersOf = (pod: PodSpec): Container[] => [...pod.containers ?? [], ...pod.initContainers ?? [], ...pod.ephemeralContainers ?? []];

/** Each rule: its name and the problems it finds in a pod (its spec and, for AppArmor's annotations, its metadata). */
export const RESTRICTED_RULES: [string, (pod: PodSpec, annotations: Record<string, string>) => string[]][] = [
  ['HostProcess', (pod) => [pod.securityContext, ...containersOf(pod).map((c) => c.securityContext)]
    .filter((s) => s?.windowsOptions?.hostProcess === true).map(() => 'windowsOptions.hostProcess is true')],
  ['Host Namespaces', (pod) => ['hostNetwork', 'hostPID', 'hostIPC'].filter((k) => pod[k] === true).map((k) => `${k} is true`)],
  ['Privileged Containers', (pod) => containersOf(pod).filter((c) => c.securityContext?.privileged === true).map((c) => `${c.name}: privileged`)],
  ['Capabilities (baseline)', (pod) => containersOf(pod).flatMap((c) => (c.securityContext?.capabilities?.add ?? [])
    .filter((cap: string) => !BASELINE_CAPABILITIES.has(cap)).map((cap: string) => `${c.name}: adds ${cap}`))],
  ['HostPath Volumes', (pod) => (pod.volumes ?? []).filter((v: Record<string, unknown>) => v.hostPath).map((v: { name: string }) => `volume ${v.name} is a hostPath`)],
  ['Host Ports', (pod) => containersOf(pod).flatMap((c) => (c.ports ?? []).filter((p: { hostPort?: number }) => p.hostPort).map((p: { hostPort: number }) => `${c.name}: hostPort ${p.hostPort}`))],
  ['AppArmor', (pod, annotations) => [
    ...[pod.securityContext, ...containersOf(pod).map((c) => c.securityContext)].filter((s) => s?.appArmorProfile && !['RuntimeDefault', 'Localhost'].includes(s.appArmorProfile.type)).map((s) => `appArmorProfile ${s.appArmorProfile.type}`),
    ...Object.entries(annotations).filter(([k, v]) => k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v !== 'runtime/default' && !v.startsWith('localhost/')).map(([k, v]) => `${k}: ${v}`),
  ]],
  ['SELinux', (pod) => [pod.securityContext, ...containersOf(pod).map((c) => c.securityContext)].map((s) => s?.seLinuxOptions).filter(Boolean)
    .flatMap((o) => [...(o.type && !SELINUX_TYPES.has(o.type) ? [`seLinuxOptions.type ${o.type}`] : []), ...(o.user ? ['seLinuxOptions.user is set'] : []), ...(o.role ? ['seLinuxOptions.role is set'] : [])])],
  ['/proc Mount Type', (pod) => containersOf(pod).filter((c) => c.securityContext?.procMount && c.securityContext.procMount !== 'Default').map((c) => `${c.name}: procMount ${c.securityContext.procMount}`)],
  ['Sysctls', (pod) => (pod.securityContext?.sysctls ?? []).filter((s: { name: string }) => !SAFE_SYSCTLS.has(s.name)).map((s: { name: string }) => `sysctl ${s.name}`)],
  ['Volume Types', (pod) => (pod.volumes ?? []).flatMap((v: Record<string, unknown>) => Object.keys(v).filter((k) => k !== 'name' && !RESTRICTED_VOLUMES.has(k)).map((k) => `volume ${v.name as string} is a ${k}`))],
  ['Privilege Escalation', (pod) => containersOf(pod).filter((c) => c.securityContext?.allowPrivilegeEscalation !== false).map((c) => `${c.name}: allowPrivilegeEscalation is not false`)],
  ['Running as Non-root', (pod) => {
    const podLevel = pod.securityContext?.runAsNonRoot;
    return containersOf(pod).filter((c) => (c.securityContext?.runAsNonRoot ?? podLevel) !== true).map((c) => `${c.name}: runAsNonRoot is not true`);
  }],
  ['Running as Non-root user', (pod) => [pod.securityContext, ...containersOf(pod).map((c) => c.securityContext)].filter((s) => s?.runAsUser === 0).map(() => 'runAsUser is 0')],
  ['Seccomp', (pod) => {
    const ok = (t: string | undefined) => t === 'RuntimeDefault' || t === 'Localhost';
    const podType = pod.securityContext?.seccompProfile?.type;
    const out = podType !== undefined && !ok(podType) ? [`pod seccompProfile ${podType}`] : [];
    for (const c of containersOf(pod)) {
      const type = c.securityContext?.seccompProfile?.type;
      if (type !== undefined ? !ok(type) : !ok(podType)) out.push(`${c.name}: seccompProfile is ${type ?? podType ?? 'unset'}`);
    }
    return out;
  }],
  ['Capabilities', (pod) => containersOf(pod).flatMap((c) => {
    const caps = c.securityContext?.capabilities ?? {};
    return [
      ...((caps.drop ?? []).includes('ALL') ? [] : [`${c.name}: capabilities.drop lacks ALL`]),
      ...(caps.add ?? []).filter((cap: string) => cap !== 'NET_BIND_SERVICE').map((cap: string) => `${c.name}: adds ${cap}`),
    ];
  })],
];

/** The restricted level's complaints about a pod template (`spec` and `metadata` of a Deployment's template). */
export function restrictedViolations(pod: PodSpec, annotations: Record<string, string> = {}): string[] {
  return RESTRICTED_RULES.flatMap(([rule, check]) => check(pod, annotations).map((p) => `${rule}: ${p}`));
}

/**
 * The kubelet's expansion of `$(VAR)` in env values, command and args (Kubernetes' third_party/forked/golang/expansion):
 * `$$` is one `$`, `$(NAME)` is NAME's value where it is defined and stays as written where not, and any other `$`
 * stays. Exec hooks and probes are not expanded.
 */
export function expandKubernetes(input: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== '$' || i + 1 >= input.length) { out += input[i]; continue; }
    const next = input[i + 1];
    if (next === '$') { out += '$'; i++; continue; }
    if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close === -1) { out += '$('; i++; continue; }
      const name = input.slice(i + 2, close);
      out += Object.hasOwn(vars, name) ? vars[name] : `$(${name})`;
      i = close;
      continue;
    }
    out += `$${next}`;
    i++;
  }
  return out;
}

/** A container's environment as the kubelet makes it: in order, each value expanded with the ones before it. */
export function containerEnv(container: Container, from: { fieldRef?: Record<string, string>; secret?: Record<string, string> }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expandKubernetes(e.value, env);
    else if (e.valueFrom?.fieldRef) env[e.name] = from.fieldRef?.[e.valueFrom.fieldRef.fieldPath] ?? '';
    else if (e.valueFrom?.secretKeyRef) env[e.name] = from.secret?.[e.valueFrom.secretKeyRef.key] ?? '';
  }
  return env;
}
