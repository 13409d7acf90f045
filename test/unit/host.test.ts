/** A replica's container id, read from the bind mount of its /etc/hostname (a line Docker 20.10 wrote). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerId } from '../../src/system/host.js';

test('the container id comes from the /etc/hostname mount; a host (or a host running containers) has none', () => {
  const inContainer = [
    '94 77 254:0 /var/lib/docker/containers/1c70949ad1d5af7dc604383743b087d5b9fa892f82359bc204c30207930be395/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw',
    '95 77 254:0 /var/lib/docker/containers/1c70949ad1d5af7dc604383743b087d5b9fa892f82359bc204c30207930be395/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534',
  ].join('\n');
  assert.equal(containerId(inContainer), '1c70949ad1d5af7dc604383743b087d5b9fa892f82359bc204c30207930be395');
  // A Docker host has containers' shm mounted in its own namespace: that is not being in one.
  const dockerHost = '312 29 0:91 / /var/lib/docker/containers/1c70949ad1d5af7dc604383743b087d5b9fa892f82359bc204c30207930be395/mounts/shm rw,nosuid - tmpfs shm rw,size=65536k';
  assert.equal(containerId(dockerHost), undefined);
  assert.equal(containerId(''), undefined);
});
