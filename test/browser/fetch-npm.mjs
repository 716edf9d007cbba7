// fetch-npm.mjs VERSION INTEGRITY DEST downloads npm's own package from the
// npm registry (npm_config_registry, default registry.npmjs.org), checks it
// against INTEGRITY (the registry's sha512, pinned in the Dockerfile) and
// writes it to DEST. The Dockerfile's packages stage then runs `npm ci`
// with it: Debian's npm package would install some 350 packages of its own
// first, for a stage whose only product is node_modules.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';

const [version, integrity, dest] = process.argv.slice(2);
const registry = (process.env.npm_config_registry || 'https://registry.npmjs.org').replace(/\/$/, '');
const url = `${registry}/npm/-/npm-${version}.tgz`;
const res = await fetch(url);
if (!res.ok) {
  console.error(`fetch-npm: ${url}: ${res.status} ${res.statusText}`);
  process.exit(1);
}
const data = Buffer.from(await res.arrayBuffer());
const got = `sha512-${createHash('sha512').update(data).digest('base64')}`;
if (got !== integrity) {
  console.error(`fetch-npm: ${url} is ${got}, not the pinned ${integrity}`);
  process.exit(1);
}
await writeFile(dest, data);
console.log(`fetch-npm: npm ${version} (${data.length} bytes, ${integrity.slice(0, 19)}…)`);
