/**
 * A checkpoint directory as one lazy map `name -> TensorEntry`, whatever its format: safetensors
 * or PyTorch zip files, single or sharded through `*.index.json` (`{ weight_map: { name: file } }`).
 * Only headers (and data.pkl) are read when opening; tensor data is read on demand.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConversionError } from '../errors';
import { openSafetensors } from './safetensors';
import { FilePool, type SourceGate, type TensorEntry } from './tensor';
import { openTorchCheckpoint } from './torch';

export interface SourceFile {
  /** File name relative to the checkpoint directory. */
  name: string;
  bytes: number;
}

export interface Checkpoint {
  dir: string;
  /** The files the tensors come from (index file first when sharded), sorted by name. */
  files: SourceFile[];
  tensors: Map<string, TensorEntry>;
  /** The files' reader (with a SourceGate: files still downloading, docs/PULL.md). */
  pool: FilePool;
  close(): Promise<void>;
}

export type WeightFormat = 'safetensors' | 'pytorch';

const LAYOUTS: Record<WeightFormat, { index: string; single: string }> = {
  safetensors: { index: 'model.safetensors.index.json', single: 'model.safetensors' },
  pytorch: { index: 'pytorch_model.bin.index.json', single: 'pytorch_model.bin' },
};

function formatOf(file: string): WeightFormat {
  return file.endsWith('.safetensors') ? 'safetensors' : 'pytorch';
}

/**
 * Opens the weights of `dir`: `model.safetensors[.index.json]` or `pytorch_model.bin[.index.json]`
 * (`prefer` decides when both exist; default safetensors). `dir` may also be a single weight file.
 */
export async function openCheckpoint(dir: string, options: { prefer?: WeightFormat; gate?: SourceGate } = {}): Promise<Checkpoint> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    throw new ConversionError(`${dir}: no such checkpoint directory or file`, { file: dir, cause: err });
  }
  const pool = new FilePool(options.gate);
  const exists = (p: string) => pool.exists(p);
  const tensors = new Map<string, TensorEntry>();
  const files: SourceFile[] = [];
  const baseDir = stat.isDirectory() ? dir : path.dirname(dir);
  const addFile = async (file: string) => files.push({ name: path.relative(baseDir, file), bytes: await pool.size(file) });
  const load = async (file: string, expected?: Set<string>) => {
    if (!exists(file)) throw new ConversionError(`${file}: missing checkpoint file`, { file });
    await addFile(file);
    const entries = formatOf(file) === 'safetensors' ? await openSafetensors(file, pool) : await openTorchCheckpoint(file, pool);
    const names = new Set<string>();
    for (const e of entries) {
      const prev = tensors.get(e.name);
      if (prev) throw new ConversionError(`${file}: tensor ${e.name} is also in ${prev.file}`, { file, tensor: e.name });
      tensors.set(e.name, e);
      names.add(e.name);
    }
    if (expected) {
      for (const n of expected) {
        if (!names.has(n)) throw new ConversionError(`${file}: tensor ${n} listed in the index is missing from this shard`, { file, tensor: n });
      }
    }
  };

  try {
    if (!stat.isDirectory()) {
      await load(dir);
    } else {
      const order: WeightFormat[] = options.prefer === 'pytorch' ? ['pytorch', 'safetensors'] : ['safetensors', 'pytorch'];
      const found = order.find((f) => exists(path.join(dir, LAYOUTS[f].index)) || exists(path.join(dir, LAYOUTS[f].single)));
      if (!found) {
        const looked = order.flatMap((f) => [LAYOUTS[f].single, LAYOUTS[f].index]).join(', ');
        throw new ConversionError(`${dir}: no weights found (looked for ${looked})`, { file: dir });
      }
      const indexFile = path.join(dir, LAYOUTS[found].index);
      if (exists(indexFile)) {
        let index: { weight_map?: Record<string, unknown> };
        try {
          index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as typeof index;
        } catch (err) {
          throw new ConversionError(`${indexFile}: not valid JSON`, { file: indexFile, cause: err });
        }
        const map = index.weight_map;
        if (!map || typeof map !== 'object') throw new ConversionError(`${indexFile}: no weight_map`, { file: indexFile });
        await addFile(indexFile);
        const byShard = new Map<string, Set<string>>();
        for (const [name, shard] of Object.entries(map)) {
          if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
            throw new ConversionError(`${indexFile}: bad shard name for tensor ${name}`, { file: indexFile, tensor: name });
          }
          if (!byShard.has(shard)) byShard.set(shard, new Set());
          byShard.get(shard)?.add(name);
        }
        for (const shard of [...byShard.keys()].sort()) await load(path.join(dir, shard), byShard.get(shard));
      } else {
        await load(path.join(dir, LAYOUTS[found].single));
      }
    }
  } catch (err) {
    await pool.close();
    throw err;
  }
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { dir: baseDir, files, tensors, pool, close: () => pool.close() };
}
