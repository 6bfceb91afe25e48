// state.cpp - sequence snapshots (ggpt_seq_snapshot / ggpt_seq_restore): a sequence's cells and
// libllama's KV state of that sequence, so that a later process can skip evaluating a media
// prefix again (src/kvcache.ts keeps them on disk).
//
// Layout (little-endian): "GGPTSEQ1" | u32 version = 1 | u32 n_embd | u32 n_layer | u32 kv_type
// | u32 n_keep | u32 n_cells | n_cells x { u8 is_embd, i32 token, u64 embd_id, i32 row }
// | u64 n_llama | n_llama bytes of llama_state_seq_get_data.
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/context.h"
#include "core/model.h"
#include "core/task.h"
#include "llama.h"

namespace {

constexpr char kMagic[8] = {'G', 'G', 'P', 'T', 'S', 'E', 'Q', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kCellBytes = 1 + 4 + 8 + 4;

struct Writer {
    std::vector<uint8_t> & out;
    template <typename T> void put(T v) {
        const size_t at = out.size();
        out.resize(at + sizeof v);
        memcpy(out.data() + at, &v, sizeof v);
    }
};

struct Reader {
    const uint8_t * p;
    size_t left;
    template <typename T> bool get(T & v) {
        if (left < sizeof v) return false;
        memcpy(&v, p, sizeof v);
        p += sizeof v;
        left -= sizeof v;
        return true;
    }
};

bool seq_ok(const ggpt_context * ctx, int32_t seq) { return seq >= 0 && (size_t)seq < ctx->seqs.size(); }

}  // namespace

extern "C" {

int32_t ggpt_task_seq(const ggpt_task * task) { return task ? task->seq : -1; }

ggpt_status ggpt_seq_snapshot(ggpt_context * ctx, int32_t seq, int32_t n, uint8_t ** out, size_t * out_len) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    if (!out || !out_len) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "out/out_len is NULL");
    *out = nullptr;
    *out_len = 0;
    if (!seq_ok(ctx, seq)) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "sequence %d does not exist", seq);
    const ggpt::Seq & s = ctx->seqs[(size_t)seq];
    if (n <= 0 || (size_t)n > s.cells.size())
        return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "n = %d is not in [1, %zu]", n, s.cells.size());
    try {
        const size_t n_llama = llama_state_seq_get_size(ctx->lctx, seq);
        std::vector<uint8_t> buf;
        buf.reserve(64 + s.cells.size() * kCellBytes + n_llama);
        buf.insert(buf.end(), kMagic, kMagic + sizeof kMagic);
        Writer w{buf};
        w.put<uint32_t>(kVersion);
        w.put<uint32_t>((uint32_t)ctx->model->n_embd);
        w.put<uint32_t>((uint32_t)llama_model_n_layer(ctx->model->llm));
        w.put<uint32_t>((uint32_t)ctx->params.kv_type);
        w.put<uint32_t>((uint32_t)n);
        w.put<uint32_t>((uint32_t)s.cells.size());
        for (const ggpt::Cell & c : s.cells) {
            w.put<uint8_t>(c.is_embd ? 1 : 0);
            w.put<int32_t>(c.token);
            w.put<uint64_t>(c.embd_id);
            w.put<int32_t>(c.row);
        }
        w.put<uint64_t>((uint64_t)n_llama);
        const size_t at = buf.size();
        buf.resize(at + n_llama);
        if (llama_state_seq_get_data(ctx->lctx, buf.data() + at, n_llama, seq) != n_llama)
            return ctx->fail(GGPT_ERR_BACKEND, "libllama could not copy the state of sequence %d", seq);
        auto * mem = (uint8_t *)malloc(buf.size());
        if (!mem) return ctx->fail(GGPT_ERR_OUT_OF_MEMORY, "out of memory");
        memcpy(mem, buf.data(), buf.size());
        *out = mem;
        *out_len = buf.size();
        return GGPT_OK;
    } catch (const std::bad_alloc &) {
        return ctx->fail(GGPT_ERR_OUT_OF_MEMORY, "out of memory while copying a sequence");
    }
}

ggpt_status ggpt_seq_restore(ggpt_context * ctx, int32_t seq, const uint8_t * data, size_t len) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    if (!seq_ok(ctx, seq)) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "sequence %d does not exist", seq);
    ggpt::Seq & s = ctx->seqs[(size_t)seq];
    if (s.task) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "sequence %d runs a task", seq);
    if (!data && len > 0) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "data is NULL");
    // whatever happens below, the sequence starts empty
    llama_memory_seq_rm(llama_get_memory(ctx->lctx), seq, -1, -1);
    s.cells.clear();
    s.logits_i = -1;
    auto bad = [&](const char * what) { return ctx->fail(GGPT_ERR_FORMAT, "not a snapshot of this model: %s", what); };
    if (len < sizeof kMagic || memcmp(data, kMagic, sizeof kMagic) != 0) return bad("no GGPTSEQ1 header");
    Reader r{data + sizeof kMagic, len - sizeof kMagic};
    uint32_t version, n_embd, n_layer, kv_type, n_keep, n_cells;
    if (!r.get(version) || !r.get(n_embd) || !r.get(n_layer) || !r.get(kv_type) || !r.get(n_keep) || !r.get(n_cells))
        return bad("truncated header");
    if (version != kVersion) return bad("another version");
    if (n_embd != (uint32_t)ctx->model->n_embd || n_layer != (uint32_t)llama_model_n_layer(ctx->model->llm))
        return bad("another model shape");
    if (kv_type != (uint32_t)ctx->params.kv_type) return bad("another KV-cache type");
    if (n_cells == 0 || n_cells > ctx->n_ctx || n_keep == 0 || n_keep > n_cells) return bad("positions out of range");
    if (r.left / kCellBytes < n_cells) return bad("truncated cells");
    const int32_t n_vocab = ctx->model->tok.n_vocab;
    try {
        std::vector<ggpt::Cell> cells(n_cells);
        for (ggpt::Cell & c : cells) {
            uint8_t e;
            r.get(e);
            r.get(c.token);
            r.get(c.embd_id);
            r.get(c.row);
            c.is_embd = e != 0;
            if (e > 1 || (!c.is_embd && (c.token < 0 || c.token >= n_vocab)) || (c.is_embd && c.row < 0))
                return bad("a cell out of range");
        }
        uint64_t n_llama;
        if (!r.get(n_llama) || n_llama != r.left) return bad("the KV state has the wrong size");
        if (llama_state_seq_set_data(ctx->lctx, r.p, (size_t)n_llama, seq) == 0) {
            llama_memory_seq_rm(llama_get_memory(ctx->lctx), seq, -1, -1);
            return bad("libllama refused the KV state");
        }
        // libllama restored every cell of the snapshot: keep the first n_keep
        const llama_pos max_pos = llama_memory_seq_pos_max(llama_get_memory(ctx->lctx), seq);
        if (max_pos + 1 != (llama_pos)n_cells) {
            llama_memory_seq_rm(llama_get_memory(ctx->lctx), seq, -1, -1);
            return bad("the KV state does not match its cells");
        }
        llama_memory_seq_rm(llama_get_memory(ctx->lctx), seq, (llama_pos)n_keep, -1);
        cells.resize(n_keep);
        s.cells = std::move(cells);
        return GGPT_OK;
    } catch (const std::bad_alloc &) {
        llama_memory_seq_rm(llama_get_memory(ctx->lctx), seq, -1, -1);
        s.cells.clear();
        return ctx->fail(GGPT_ERR_OUT_OF_MEMORY, "out of memory while restoring a sequence");
    }
}

}  // extern "C"
