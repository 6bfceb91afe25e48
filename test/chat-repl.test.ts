// `groundinggpt chat` in a real terminal: the CLI runs in a tmux pane (a pseudo-terminal, so
// readline, raw-mode Ctrl-C and colours behave as for a user) and the test types into it with
// send-keys and reads the screen with capture-pane. With a rigged tiny model whose answer repeats
// a box until maxTokens: attach an image, ask, stop the answer with Ctrl-C, ask again (a whole
// answer, its boxes listed in pixels), /save the boxes to a PNG, leave with Ctrl-D.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { mediaDir, tempDir } from './helpers/golden';
import { riggedModel } from './helpers/rigged';

const root = path.resolve(__dirname, '..');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('terminal chat under tmux', { skip: hasTmux ? false : 'tmux is not installed (apt-get install tmux; .ci/run installs it)' }, async (t) => {
  const model = await riggedModel([' Looking', ' at', ' the', ' dog', ' [0.1, 0.2, 0.5, 0.6]', ' again,'], { loop: true });
  const dir = tempDir();
  const image = path.join(mediaDir, 'dog_image.jpg');
  const png = path.join(dir, 'boxes.png');
  const session = `ggpt-chat-${process.pid}`;
  const socket = path.join(dir, 'tmux.sock');
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
  const screen = (escapes = false) => tmux('capture-pane', '-p', '-J', '-S', '-5000', ...(escapes ? ['-e'] : []), '-t', session);
  const until = async (what: RegExp, label: string, ms = 60_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const s = screen();
      if (what.test(s)) return s;
      if (Date.now() > end) throw new Error(`timed out waiting for ${label}; screen:\n${s.slice(-3000)}`);
      await sleep(20);
    }
  };
  const env = { ...process.env };
  delete env.NO_COLOR;
  const cmd = `cd ${JSON.stringify(root)} && node lib/cli.js chat --model ${JSON.stringify(model)} --threads 2 --max-tokens 600; echo "CHAT-EXIT=$?"; sleep 60`;
  execFileSync('tmux', ['-S', socket, 'new-session', '-d', '-s', session, '-x', '200', '-y', '50', cmd], { env });
  t.teardown(() => {
    spawnSync('tmux', ['-S', socket, 'kill-server']);
  });

  await until(/GroundingGPT chat \(no media\)/, 'the banner');
  tmux('send-keys', '-t', session, `/image ${image}`, 'Enter');
  await until(/attached image/, '/image');

  // ask, and stop the answer as soon as it streams; the tiny model writes its whole answer in
  // about half a second, so on a slow machine the Ctrl-C can come after the end: then try again
  // (at most 8 times; the answer after a late Ctrl-C is listed, boxes and all, then /reset keeps
  // the history from filling the tiny model's 2048 positions)
  const count = (re: RegExp) => (screen().match(re) ?? []).length;
  let stopped = '';
  for (let attempt = 0; attempt < 8 && !stopped; attempt++) {
    if (attempt > 0) {
      const cleared = count(/conversation cleared/g);
      tmux('send-keys', '-t', session, '/reset', 'Enter');
      await until(new RegExp(`(conversation cleared[^]*){${cleared + 1}}`), '/reset');
    }
    const [stops, lists] = [count(/\[stopped\]/g), count(/box 0:/g)];
    tmux('send-keys', '-t', session, 'Where is the dog?', 'Enter');
    await until(new RegExp(`(Looking[^]*){${attempt + 1}}`), 'the first streamed piece');
    tmux('send-keys', '-t', session, 'C-c');
    await until(/\[stopped\]|box 0:/, 'the answer to stop or end');
    const end = Date.now() + 60_000;
    while (count(/\[stopped\]/g) === stops && count(/box 0:/g) === lists && Date.now() < end) await sleep(20);
    if (count(/\[stopped\]/g) > stops) stopped = screen();
  }
  t.ok(stopped, 'Ctrl-C stopped an answer');
  t.notMatch(stopped, /CHAT-EXIT/, 'Ctrl-C during an answer does not leave the chat');

  // ask again: a whole answer (600 tokens), its boxes listed in pixels
  tmux('send-keys', '-t', session, 'And now?', 'Enter');
  const answered = await until(/box 0: .*\[0\.0, 169\.6, 320\.0, 508\.8\] px/, 'the listed boxes');
  t.match(answered, /Looking at the dog \[0\.1, 0\.2, 0\.5, 0\.6\]/, 'the streamed answer');
  const colored = screen(true);
  // tmux re-renders attributes one by one: bold, then cyan
  t.ok(colored.includes('\x1b[1m\x1b[36m[0.1, 0.2, 0.5, 0.6]'), 'box literals coloured on the terminal');

  tmux('send-keys', '-t', session, `/save ${png}`, 'Enter');
  await until(/drew \d+ box\(es\) on/, '/save');
  const meta = await sharp(png).metadata();
  const src = await sharp(image).metadata();
  t.equal(meta.format, 'png');
  t.same([meta.width, meta.height], [src.width, src.height], 'the picture has the size of the image');

  tmux('send-keys', '-t', session, 'C-d');
  const end = await until(/CHAT-EXIT=\d+/, 'the chat to end');
  t.match(end, /CHAT-EXIT=0/, 'Ctrl-D leaves with status 0');
  t.ok(fs.existsSync(png));
});
