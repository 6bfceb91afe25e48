// A conversation about one image: the image is encoded once, earlier turns stay in the KV cache.
//   node examples/chat.mjs <model dir> <image>
import { loadModel } from 'groundinggpt';

const [dir, image] = process.argv.slice(2);
if (!dir || !image) {
  console.error('usage: node examples/chat.mjs <model dir> <image>');
  process.exit(2);
}

const model = await loadModel({ model: dir });
try {
  const chat = model.createChat({ image });
  for (const question of ['What is in this picture?', 'Where is the largest object? Answer with [x1, y1, x2, y2].']) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 120_000); // give up on a turn after two minutes
    const r = await chat.send(question, { signal: ac.signal, maxTokens: 128 });
    clearTimeout(timer);
    console.log(`> ${question}\n${r.text}  (${r.timings.reusedTokens} positions reused)`);
  }
  console.log(`${chat.history.length} turns`);
} finally {
  await model.dispose();
}
