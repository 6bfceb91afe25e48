/**
 * The server's metrics in Prometheus' text exposition format (version 0.0.4), served by
 * `GET /metrics`; the names are listed in docs/SERVE.md "Metrics". A few counters, gauges and
 * histograms do not justify a dependency (prom-client), so they are written here.
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  // label values escape backslash, double quote and newline (the exposition format's rules)
  return `{${keys.map((k) => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function num(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(12)));
}

interface Metric {
  render(): string;
}

/** A monotonic counter, optionally split by labels. */
export class Counter implements Metric {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    /** Split by labels: nothing is written before the first increment. Else 0 is. */
    readonly labelled = false,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  /** The value for these labels (0 when never incremented). */
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }

  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    if (this.#values.size === 0 && !this.labelled) s += `${this.name} 0\n`;
    for (const [k, v] of this.#values) s += `${this.name}${k} ${num(v)}\n`;
    return s;
  }
}

/** A gauge read when the metrics are rendered. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number,
  ) {}

  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${num(this.read())}\n`;
  }
}

/** Seconds: from 5 ms to 10 minutes (a 7B image prefill on a CPU takes tens of seconds). */
export const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** A histogram with cumulative buckets, `_sum` and `_count`. */
export class Histogram implements Metric {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = SECONDS_BUCKETS,
  ) {
    this.#counts = new Array<number>(buckets.length).fill(0);
  }

  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.#counts[i]++;
    this.#sum += v;
    this.#count++;
  }

  get count(): number {
    return this.#count;
  }

  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    this.buckets.forEach((b, i) => {
      s += `${this.name}_bucket{le="${num(b)}"} ${this.#counts[i]}\n`;
    });
    s += `${this.name}_bucket{le="+Inf"} ${this.#count}\n${this.name}_sum ${num(this.#sum)}\n${this.name}_count ${this.#count}\n`;
    return s;
  }
}

/** What the server measures (docs/SERVE.md "Metrics"). */
export class ServerMetrics {
  readonly requests = new Counter('groundinggpt_requests_total', 'HTTP requests answered, by route and status', true);
  readonly aborted = new Counter(
    'groundinggpt_requests_aborted_total',
    'Requests whose model call was cancelled, by reason (disconnect, timeout, shutdown)',
    true,
  );
  readonly promptTokens = new Counter('groundinggpt_prompt_tokens_total', 'Prompt positions evaluated (media rows included)');
  readonly reusedTokens = new Counter('groundinggpt_prompt_tokens_reused_total', 'Prompt positions reused from the KV cache');
  readonly generatedTokens = new Counter('groundinggpt_generated_tokens_total', 'Tokens generated');
  readonly mediaDecode = new Histogram('groundinggpt_media_decode_seconds', 'Decoding the media of a request (sharp, ffmpeg)');
  readonly encode = new Histogram(
    'groundinggpt_encode_seconds',
    'Running the towers for a request (requests whose features all came from the cache are not counted)',
  );
  readonly prefill = new Histogram('groundinggpt_prefill_seconds', 'Evaluating the prompt of a request');
  readonly decode = new Histogram('groundinggpt_decode_seconds', 'Generating the answer of a request');
  readonly firstToken = new Histogram('groundinggpt_time_to_first_token_seconds', 'From the arrival of a request to its first generated token');
  readonly duration = new Histogram('groundinggpt_request_duration_seconds', 'From the arrival of a model request to its last byte');
  readonly #gauges: Gauge[];

  constructor(read: { queueDepth: () => number; active: () => number; slots: () => number; loaded: () => number }) {
    this.#gauges = [
      new Gauge(
        'groundinggpt_queue_depth',
        'Accepted model requests waiting for a sequence slot (their media being fetched or decoded included)',
        read.queueDepth,
      ),
      new Gauge('groundinggpt_active_sequences', 'Model calls running (at most the parallel setting)', read.active),
      new Gauge('groundinggpt_sequence_slots', 'The parallel setting: model calls the server runs at once', read.slots),
      new Gauge('groundinggpt_model_loaded', '1 once the model is loaded, else 0', read.loaded),
    ];
  }

  /** The text served by GET /metrics. */
  render(): string {
    const all: Metric[] = [
      this.requests,
      this.aborted,
      ...this.#gauges,
      this.promptTokens,
      this.reusedTokens,
      this.generatedTokens,
      this.mediaDecode,
      this.encode,
      this.prefill,
      this.decode,
      this.firstToken,
      this.duration,
    ];
    return all.map((m) => m.render()).join('');
  }
}
