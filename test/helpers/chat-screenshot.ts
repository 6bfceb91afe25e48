// Makes docs/chat-terminal.png: `groundinggpt chat` (lib/cli.js) with a rigged tiny model in a
// tmux pane, a question about an image, a follow-up and /save typed into it, the pane captured with its
// colours (capture-pane -e) and drawn as monospaced SVG text, rendered to PNG by sharp. The
// answer is rigged (test/helpers/rigged.ts): the screenshot shows the chat's interface, not the
// model's quality. Run after `npm run compile:ts`:
//   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/helpers/chat-screenshot.ts [out.png]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { mediaDir, tempDir } from './golden';
import { riggedModel } from './rigged';

const root = path.resolve(__dirname, '..', '..');
const COLS = 96;
const ROWS = 22;
// xterm's palette, a little softened for a dark background
const PALETTE = ['#2e3436', '#ef5350', '#8bc34a', '#fdd835', '#64b5f6', '#ce93d8', '#4dd0e1', '#e0e0e0'];
const BRIGHT = ['#757575', '#ff7961', '#b2ff59', '#ffff72', '#9be7ff', '#f3c5ff', '#84ffff', '#ffffff'];
const FG = '#d4d4d4';
const BG = '#1e1f22';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Style {
  fg: string;
  bold: boolean;
  dim: boolean;
}

/** One screen line with SGR escapes as SVG tspans. */
function line(text: string, style: Style): string {
  let out = '';
  let at = 0;
  const emit = (s: string) => {
    if (!s) return;
    out += `<tspan fill="${style.fg}"${style.bold ? ' font-weight="bold"' : ''}${style.dim ? ' opacity="0.65"' : ''}>${esc(s)}</tspan>`;
  };
  for (const m of text.matchAll(new RegExp('\x1b\\[([\\d;]*)m', 'g'))) {
    emit(text.slice(at, m.index));
    at = (m.index ?? 0) + m[0].length;
    const codes = m[1] === '' ? [0] : m[1].split(';').map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) Object.assign(style, { fg: FG, bold: false, dim: false });
      else if (c === 1) style.bold = true;
      else if (c === 2) style.dim = true;
      else if (c === 22) Object.assign(style, { bold: false, dim: false });
      else if (c >= 30 && c <= 37) style.fg = PALETTE[c - 30];
      else if (c >= 90 && c <= 97) style.fg = BRIGHT[c - 90];
      else if (c === 39) style.fg = FG;
      else if (c === 38 && codes[i + 1] === 5) {
        const n = codes[i + 2];
        style.fg = n < 8 ? PALETTE[n] : n < 16 ? BRIGHT[n - 8] : FG;
        i += 2;
      } else if (c === 38 && codes[i + 1] === 2) {
        style.fg = `rgb(${codes[i + 2]},${codes[i + 3]},${codes[i + 4]})`;
        i += 4;
      }
    }
  }
  emit(text.slice(at));
  return out;
}

/** The captured pane (with escapes) as a PNG of a terminal window. */
export async function terminalPng(screen: string, out: string): Promise<void> {
  const lines = screen.replace(/\n+$/, '').split('\n');
  const size = 15;
  const cw = size * 0.602;
  const lh = Math.round(size * 1.4);
  const pad = 16;
  const bar = 28;
  const width = Math.ceil(COLS * cw + 2 * pad);
  const height = bar + pad + lines.length * lh + pad;
  const style: Style = { fg: FG, bold: false, dim: false };
  const body = lines.map((l, i) => `<text x="${pad}" y="${bar + pad + (i + 1) * lh - 5}" xml:space="preserve">${line(l, style)}</text>`).join('\n');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
<rect width="100%" height="100%" rx="8" fill="${BG}"/>
<rect width="100%" height="${bar}" rx="8" fill="#2d2f33"/><rect y="${bar - 8}" width="100%" height="8" fill="#2d2f33"/>
<circle cx="18" cy="14" r="6" fill="#ff5f57"/><circle cx="38" cy="14" r="6" fill="#febc2e"/><circle cx="58" cy="14" r="6" fill="#28c840"/>
<text x="${width / 2}" y="19" fill="#9a9ca0" font-family="DejaVu Sans, sans-serif" font-size="13" text-anchor="middle">groundinggpt chat</text>
<g font-family="DejaVu Sans Mono, monospace" font-size="${size}">
${body}
</g></svg>`;
  await sharp(Buffer.from(svg)).png({ palette: true, compressionLevel: 9 }).toFile(out);
}

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? path.join(root, 'docs', 'chat-terminal.png'));
  const model = await riggedModel([' The', ' dog', ' [0.32, 0.28, 0.71, 0.93]', ' is', ' sitting', ' on', ' the', ' grass', '.']);
  const dir = tempDir();
  const image = path.join(mediaDir, 'dog_image.jpg');
  const session = `ggpt-shot-${process.pid}`;
  const socket = path.join(dir, 'tmux.sock');
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
  const screen = (escapes = false) => tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', session);
  const until = async (what: RegExp) => {
    const end = Date.now() + 60_000;
    while (!what.test(screen())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${screen()}`);
      await sleep(50);
    }
  };
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NO_COLOR;
  // short relative names on the screen: the command runs in a folder with links to the model and image
  const cmd = `cd ${JSON.stringify(dir)} && ln -s ${JSON.stringify(model)} tiny-rigged && ln -s ${JSON.stringify(image)} dog.jpg && node ${JSON.stringify(path.join(root, 'lib', 'cli.js'))} chat --model ./tiny-rigged --image dog.jpg --threads 2; sleep 60`;
  execFileSync('tmux', ['-S', socket, 'new-session', '-d', '-s', session, '-x', String(COLS), '-y', String(ROWS), cmd], { env });
  try {
    await until(/GroundingGPT chat/);
    tmux('send-keys', '-t', session, 'Where is the dog? Answer with its box.', 'Enter');
    await until(/ px/);
    tmux('send-keys', '-t', session, 'What is it doing?', 'Enter');
    await until(/( px[\s\S]*){2}/);
    tmux('send-keys', '-t', session, '/save boxes.png', 'Enter');
    await until(/drew \d+ box/);
    await sleep(300);
    // the typed command as a shell would show it, then the pane
    const pane = screen(true);
    fs.writeFileSync(path.join(dir, 'pane.txt'), pane);
    await terminalPng(`\x1b[32m$\x1b[39m groundinggpt chat --model ./tiny-rigged --image dog.jpg\n${pane}`, out);
    console.log(`wrote ${out} (${fs.statSync(out).size} bytes); pane text: ${path.join(dir, 'pane.txt')}`);
  } finally {
    spawnSync('tmux', ['-S', socket, 'kill-server']);
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
