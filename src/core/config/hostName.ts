/**
 * The host name ssh connects to, as ssh.c fixes it after reading the config: HostName
 * with `%h` expanded, then a numeric address written the way getnameinfo() writes it
 * (`2001:DB8:0:0::10` -> `2001:db8::10`, `127.1` -> `127.0.0.1`) and any other name
 * lowercased. `%h` in paths and known_hosts lookups use this form.
 */
import { isIPv6 } from 'node:net';
import { formatSource } from './configFile';
import type { Setting } from './configEval';
import { expandPercent } from './expand';

/** HostName as the first pass of ssh sees it (`%h` is the alias), before lowercasing. */
export function configuredHostName(setting: Setting | undefined, alias: string): string {
  return setting ? expandPercent(setting.text, { h: alias }, formatSource(setting.source)) : alias;
}

/**
 * resolve_canonicalize(): an address that getaddrinfo(AI_NUMERICHOST) accepts is replaced
 * by its canonical text unless that differs only in letter case (then it is kept as
 * written, not even lowercased, exactly as ssh does); a name is lowercased.
 */
export function canonicalHostName(name: string): string {
  const numeric = numericAddress(name);
  if (numeric === undefined) return name.toLowerCase();
  return numeric.toLowerCase() === name.toLowerCase() ? name : numeric;
}

function numericAddress(name: string): string | undefined {
  return inetAton(name) ?? inetNtop6(name);
}

/** glibc inet_aton(): 1 to 4 parts, each decimal, octal (leading 0) or hex (0x); the last fills the rest. */
function inetAton(name: string): string | undefined {
  const parts = name.split('.');
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    if (/^0[xX][0-9a-fA-F]+$/.test(part)) values.push(parseInt(part.slice(2), 16));
    else if (/^0[0-7]*$/.test(part)) values.push(parseInt(part, 8));
    else if (/^[1-9][0-9]*$/.test(part)) values.push(parseInt(part, 10));
    else return undefined;
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255) || last >= 2 ** (8 * (4 - values.length))) return undefined;
  const bytes = [...values];
  for (let shift = 8 * (3 - values.length); shift >= 0; shift -= 8) bytes.push(Math.floor(last / 2 ** shift) % 256);
  return bytes.join('.');
}

function ipv6Words(name: string): number[] | undefined {
  if (!isIPv6(name) || name.includes('%')) return undefined;
  const parse = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((group) => {
      if (!group.includes('.')) return [parseInt(group, 16)];
      const b = group.split('.').map(Number);
      return [b[0] * 256 + b[1], b[2] * 256 + b[3]];
    });
  };
  const gap = name.indexOf('::');
  if (gap < 0) return parse(name);
  const head = parse(name.slice(0, gap));
  const tail = parse(name.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** glibc inet_ntop() for AF_INET6: the first longest run of 2+ zero words becomes `::`. */
function inetNtop6(name: string): string | undefined {
  const words = ipv6Words(name);
  if (!words) return undefined;
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  words.forEach((w, i) => {
    if (w === 0) {
      cur = cur.base === -1 ? { base: i, len: 1 } : { base: cur.base, len: cur.len + 1 };
      if (cur.len > best.len) best = cur;
    } else {
      cur = { base: -1, len: 0 };
    }
  });
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && words[5] === 0xffff))) {
      out += `${words[6] >> 8}.${words[6] & 255}.${words[7] >> 8}.${words[7] & 255}`;
      return out;
    }
    out += words[i].toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}
