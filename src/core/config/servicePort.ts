/**
 * OpenSSH's a2port(): a port is a number from 0 to 65535 or a TCP service name from the
 * services database (`Port ssh`). Node has no getservbyname(), so the file is read here,
 * once; where it is missing, only numbers are accepted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let services: Map<string, number> | undefined;

function servicesFile(): string {
  return process.platform === 'win32' ? path.join(process.env.SystemRoot ?? 'C:\\Windows', 'System32', 'drivers', 'etc', 'services') : '/etc/services';
}

/** "name port/proto alias ... # comment" lines, tcp only; the first entry for a name wins, as in getservbyname(). */
export function parseServices(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const words = line.replace(/#.*/, '').trim().split(/\s+/);
    const m = /^(\d+)\/tcp$/i.exec(words[1] ?? '');
    if (!m) continue;
    for (const name of [words[0], ...words.slice(2)]) if (name && !out.has(name)) out.set(name, Number(m[1]));
  }
  return out;
}

function tcpServices(): Map<string, number> {
  if (!services) {
    try {
      services = parseServices(fs.readFileSync(servicesFile(), 'utf8'));
    } catch {
      services = new Map();
    }
  }
  return services;
}

/** The port `text` names, or undefined (a2port() returning -1). */
export function portFromText(text: string): number | undefined {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n <= 65535 ? n : undefined;
  }
  return tcpServices().get(text);
}
