/**
 * Copies the e2e story's screenshots chosen for the README into media/readme/ and draws the
 * step picture (a strip of the recovery, captioned) with the same headless Chromium.
 *   node out/test/e2e/story.js && node out/test/e2e/readmeImages.js
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBrowser } from '../../tools/peers/browser';
import { repoRoot } from '../../tools/peers/repo';

const shots = path.join(repoRoot, 'test-output', 'e2e');
const media = path.join(repoRoot, 'media', 'readme');
const copies: Record<string, string> = {
  '04-forward.png': 'connected.png',
};
const strip: [string, string][] = [
  ['03-echo.png', '1. A remote terminal: export V=e2e-$RANDOM'],
  ['05-nat-drop.png', '2. The NAT reboots (forgets every flow): loss found in ~1 s'],
  ['06-recovered.png', '3. The NAT is back: reconnected within a second'],
  ['07-kept.png', '4. Same shell (session keeper): the line typed during the drop ran once'],
];

async function main(): Promise<void> {
  fs.mkdirSync(media, { recursive: true });
  for (const [from, to] of Object.entries(copies)) fs.copyFileSync(path.join(shots, from), path.join(media, to));
  const cells = strip
    .map(([file, caption]) => {
      const data = fs.readFileSync(path.join(shots, file)).toString('base64');
      return `<figure><img src="data:image/png;base64,${data}"><figcaption>${caption.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</figcaption></figure>`;
    })
    .join('');
  const html = `<!doctype html><html><body style="margin:0;background:#181818;font:15px system-ui,sans-serif;color:#ddd">
<div id="strip" style="display:grid;grid-template-columns:repeat(2,640px);gap:12px;padding:12px;width:1292px">${cells}</div>
<style>figure{margin:0}img{width:640px;height:400px;display:block;border:1px solid #333}figcaption{padding:6px 2px 0}</style></body></html>`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshka-readme-'));
  const browser = await openBrowser(tmp);
  try {
    await browser.page.setContent(html);
    await browser.page.locator('#strip').screenshot({ path: path.join(media, 'recovery-steps.png') });
  } finally {
    await browser.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`wrote ${[...Object.values(copies), 'recovery-steps.png'].map((f) => path.join('media', 'readme', f)).join(', ')}`);
}

void main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
