// The HTTP side of bench/serve.mjs: one streamed OpenAI chat completion read by a hand-written
// server-sent-events parser over node:http, the same code for every server that is measured, and
// small helpers (free port, GET/POST, a process's peak RSS, quantiles).
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function get(port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

export function post(port, p, json) {
  return http.request({
    host: '127.0.0.1',
    port,
    path: p,
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) },
  });
}

/** Peak and current resident set of a process, MiB. */
export function procMemory(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1] || NaN);
    return { hwmMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return { hwmMiB: NaN, rssMiB: NaN };
  }
}

/**
 * POSTs a streamed chat completion and reads its server-sent events. Resolves with the request's
 * times (ms since it was sent), its token counts and where they came from; rejects on HTTP errors
 * or an error event.
 */
export function chatStream(srv, body) {
  const json = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let ttftMs = NaN;
    let chunks = 0;
    let usage = null;
    let finish = null;
    let done = false;
    let text = '';
    const req = post(srv.port, '/v1/chat/completions', json);
    req.on('error', reject);
    req.on('response', (res) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => reject(new Error(`${srv.kind}: HTTP ${res.statusCode}: ${b.slice(0, 600)}`)));
        return;
      }
      let buf = '';
      const onEvent = (data) => {
        if (data === '[DONE]') {
          done = true;
          return;
        }
        const ev = JSON.parse(data);
        if (ev.error) throw new Error(`${srv.kind}: error event: ${JSON.stringify(ev.error).slice(0, 600)}`);
        if (ev.usage) usage = ev.usage;
        const c = ev.choices?.[0];
        if (!c) return;
        const content = c.delta?.content;
        if (typeof content === 'string' && content.length > 0) {
          if (Number.isNaN(ttftMs)) ttftMs = performance.now() - t0;
          chunks++;
          text += content;
        }
        if (c.finish_reason) finish = c.finish_reason;
      };
      res.on('data', (d) => {
        buf += d;
        let i;
        // events end with a blank line; each "data:" line of an event is one JSON object here
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const event = buf.slice(0, i);
          buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
          const data = event
            .split(/\r?\n/)
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).replace(/^ /, ''))
            .join('\n');
          if (!data) continue;
          try {
            onEvent(data);
          } catch (e) {
            req.destroy();
            reject(e);
            return;
          }
        }
      });
      res.on('end', () => {
        const latencyMs = performance.now() - t0;
        if (!done) return reject(new Error(`${srv.kind}: stream ended without [DONE]`));
        const tokens = usage?.completion_tokens ?? chunks;
        const first = Number.isNaN(ttftMs) ? latencyMs : ttftMs;
        resolve({
          ttftMs: first,
          latencyMs,
          tokens,
          // this answer's own pace after its first token (its share of the shared decode steps)
          streamTokPerS: tokens > 1 && latencyMs > first ? ((tokens - 1) / (latencyMs - first)) * 1000 : NaN,
          tokensFrom: usage ? 'usage' : 'chunks',
          promptTokens: usage?.prompt_tokens ?? NaN,
          chunks,
          finish,
          chars: text.length,
        });
      });
    });
    req.end(json);
  });
}

export function quantile(values, q) {
  const v = [...values].filter(Number.isFinite).sort((x, y) => x - y);
  if (!v.length) return NaN;
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  return v[lo] + (v[Math.min(lo + 1, v.length - 1)] - v[lo]) * (pos - lo);
}
