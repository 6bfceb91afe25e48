// Ask the OpenAI-compatible server about an image with the official `openai` client (npm i openai),
// streaming the answer, then print the boxes of the `grounding` field (pixels of the image sent).
//   node examples/serve-openai.mjs <model dir | http://host:port> <image> ["<prompt>"]
// With a model directory the server runs in this process (createServer on a free port of
// 127.0.0.1); with a URL it is a server started with `groundinggpt serve` (set OPENAI_API_KEY when
// it was started with --api-key).
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { createServer, loadModel } from 'groundinggpt';

const [target, image, prompt = 'Where is the dog? Answer with [x1, y1, x2, y2].'] = process.argv.slice(2);
if (!target || !image) {
  console.error('usage: node examples/serve-openai.mjs <model dir | http://host:port> <image> ["<prompt>"]');
  process.exit(2);
}

let server;
let model;
let baseURL = target.replace(/\/+$/, '');
if (!/^https?:\/\//.test(target)) {
  model = await loadModel({ model: target });
  server = createServer(model);
  baseURL = (await server.listen(0)).url;
}

try {
  const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: process.env.OPENAI_API_KEY ?? 'none' });
  const mime = path.extname(image).toLowerCase() === '.png' ? 'image/png' : 'image/jpeg';
  const stream = await client.chat.completions.create({
    model: 'groundinggpt',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: `data:${mime};base64,${fs.readFileSync(image).toString('base64')}` } },
          { type: 'text', text: prompt },
        ],
      },
    ],
    max_tokens: 128,
    stream: true,
    stream_options: { include_usage: true },
  });
  let grounding;
  let usage;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (choice?.delta?.content) process.stdout.write(choice.delta.content);
    // the extra field of the last chunk: { boxes: [{ phrase, box, normalized }], spans: [...] }
    if (choice?.delta?.grounding) grounding = choice.delta.grounding;
    if (chunk.usage) usage = chunk.usage;
  }
  process.stdout.write('\n');
  for (const { phrase, box } of grounding?.boxes ?? []) {
    console.log(`${phrase || '(no phrase)'}: x ${box.x1.toFixed(0)}..${box.x2.toFixed(0)}, y ${box.y1.toFixed(0)}..${box.y2.toFixed(0)} px`);
  }
  console.log(`${grounding?.boxes.length ?? 0} box(es); ${usage?.prompt_tokens} prompt tokens, ${usage?.completion_tokens} generated`);
} finally {
  await server?.close();
  await model?.dispose();
}
