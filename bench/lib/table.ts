/** One line of the side-by-side table: ssh-keepalive's figure, ssh's, and their ratio (ssh-keepalive / ssh). */
export interface Row {
  figure: string;
  cli: string;
  ssh: string;
  /** ssh-keepalive / ssh of the underlying numbers; undefined when one side has no figure. */
  ratio: number | undefined;
  /** Which way is better, so a reader knows whether 0.8 is good. */
  better: 'higher' | 'lower';
}

export function row(figure: string, cli: number, ssh: number, format: (x: number) => string, better: Row['better']): Row {
  return { figure, cli: format(cli), ssh: format(ssh), ratio: ssh > 0 ? cli / ssh : undefined, better };
}

export function markdownTable(rows: Row[]): string {
  const lines = ['| figure | ssh-keepalive | ssh | ratio | better |', '|---|---|---|---|---|'];
  for (const r of rows) {
    const ratio = r.ratio === undefined || !Number.isFinite(r.ratio) ? 'n/a' : r.ratio.toFixed(2);
    lines.push(`| ${r.figure} | ${r.cli} | ${r.ssh} | ${ratio} | ${r.better} |`);
  }
  return lines.join('\n');
}

export const fixed =
  (digits: number, unit = '') =>
  (x: number) =>
    `${x.toFixed(digits)}${unit}`;
