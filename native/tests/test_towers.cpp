// test_towers.cpp - towers on demand through the C API (docs/ARCHITECTURE.md "Towers on
// demand") on the tiny model: nothing resident after a default load; an abort part-way through a
// tower's read (from progress or from the abort function) leaves it unloaded; encodes on two
// contexts of one model in two threads, while a third thread releases and reloads the towers,
// all give the features of a single encode; ggpt_context_memory follows. Exit code 0 = pass.
//   build/cmake/test_towers <llm.gguf> <encoders.gguf>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "groundinggpt.h"

#include "check.h"

namespace {

struct Counter {
    int calls = 0, stop_at = 0;
};
bool stop_after(float, void * user) {
    auto * c = (Counter *)user;
    return ++c->calls < c->stop_at;
}
bool abort_after(void * user) {
    auto * c = (Counter *)user;
    return ++c->calls >= c->stop_at;
}

ggpt_context * context(ggpt_model * m) {
    ggpt_context_params cp = ggpt_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    ggpt_context * ctx = nullptr;
    char err[512];
    CHECK(ggpt_context_init(m, &cp, &ctx, err, sizeof err) == GGPT_OK, "context: %s", err);
    return ctx;
}

std::vector<float> encode(ggpt_context * ctx, const ggpt_model_info & info, const std::vector<uint8_t> & rgb, int w,
                          int h) {
    std::vector<float> out((size_t)info.media_n_tokens[GGPT_MEDIA_IMAGE] * info.n_embd);
    const ggpt_image_u8 img{rgb.data(), w, h, 3 * w};
    const ggpt_status st = ggpt_encode_image(ctx, &img, out.data(), nullptr);
    CHECK(st == GGPT_OK, "encode: %s", ggpt_context_last_error(ctx));
    return out;
}

}  // namespace

int main(int argc, char ** argv) {
    if (argc < 3) {
        std::printf("usage: test_towers <llm.gguf> <encoders.gguf>\n");
        return 2;
    }
    ggpt_model_params mp = ggpt_model_default_params();
    mp.llm_path = argv[1];
    mp.encoders_path = argv[2];
    CHECK(mp.towers == 0, "the default reads no tower at load");
    ggpt_model * m = nullptr;
    char err[1024];
    if (ggpt_model_load(&mp, &m, err, sizeof err) != GGPT_OK) {
        std::printf("load: %s\n", err);
        return 2;
    }
    ggpt_model_info info;
    ggpt_model_get_info(m, &info);
    CHECK(ggpt_model_towers_resident(m) == 0, "nothing resident after load (%u)", ggpt_model_towers_resident(m));
    ggpt_context * ctx = context(m);
    ggpt_memory_info mem;
    CHECK(ggpt_context_memory(ctx, &mem) == GGPT_OK, "memory");
    CHECK(mem.towers[0] == 0 && mem.towers[1] == 0 && mem.towers[2] == 0, "no tower bytes");
    // (the LLM's weights in place count as they are read: test/towers.test.ts)
    CHECK(mem.llm_weights >= 0 && mem.kv_cache > 0 && mem.llm_compute > 0, "LLM parts counted");

    // aborted by the progress callback, then by the abort function, part-way through the read
    for (int how = 0; how < 2; ++how) {
        Counter c;
        c.stop_at = 3;
        ggpt_encode_params p = ggpt_encode_default_params();
        if (how == 0) p.progress = stop_after, p.progress_user = &c;
        else p.abort = abort_after, p.abort_user = &c;
        const ggpt_status st = ggpt_model_load_towers(m, 1u << GGPT_MEDIA_VIDEO, &p, err, sizeof err);
        CHECK(st == GGPT_ERR_ABORTED, "%s: aborted (%d: %s)", how ? "abort" : "progress", (int)st, err);
        CHECK(std::strstr(err, "video tower aborted") != nullptr, "message: %s", err);
        CHECK(ggpt_model_towers_resident(m) == 0, "the video tower is not resident after the abort");
        ggpt_context_memory(ctx, &mem);
        CHECK(mem.towers[GGPT_MEDIA_VIDEO] == 0, "no video bytes after the abort");
    }
    CHECK(ggpt_model_load_towers(m, 1u << GGPT_MEDIA_VIDEO, nullptr, err, sizeof err) == GGPT_OK, "load: %s", err);
    CHECK(ggpt_model_towers_resident(m) == (1u << GGPT_MEDIA_VIDEO), "video resident");
    ggpt_model_release_towers(m, GGPT_TOWERS_ALL);
    CHECK(ggpt_model_towers_resident(m) == 0, "released");

    // reference features: the first encode reads the image tower itself
    const int w = 40, h = 30;
    std::vector<uint8_t> rgb((size_t)w * h * 3);
    for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = (uint8_t)(i * 37 % 251);
    const std::vector<float> ref = encode(ctx, info, rgb, w, h);
    CHECK(ggpt_model_towers_resident(m) == (1u << GGPT_MEDIA_IMAGE), "the encode read the image tower only");
    ggpt_context_memory(ctx, &mem);
    CHECK(mem.towers[GGPT_MEDIA_IMAGE] > 0 && mem.tower_compute > 0, "image weights and compute buffers counted");
    ggpt_context_release_tower_buffers(ctx);
    ggpt_context_memory(ctx, &mem);
    CHECK(mem.tower_compute == 0, "compute buffers released");

    // two contexts encoding at once while the towers are released and read again under them
    ggpt_context * ctx2 = context(m);
    std::atomic<bool> done{false};
    std::atomic<int> differ{0}, runs{0};
    auto worker = [&](ggpt_context * c) {
        for (int i = 0; i < 6; ++i) {
            const std::vector<float> f = encode(c, info, rgb, w, h);
            runs++;
            if (f.size() != ref.size() || std::memcmp(f.data(), ref.data(), f.size() * sizeof(float)) != 0) differ++;
        }
    };
    std::thread churn([&] {
        while (!done) {
            ggpt_model_release_towers(m, GGPT_TOWERS_ALL);
            ggpt_model_load_towers(m, 1u << GGPT_MEDIA_IMAGE, nullptr, nullptr, 0);
            std::this_thread::yield();
        }
    });
    std::thread a(worker, ctx), b(worker, ctx2);
    a.join();
    b.join();
    done = true;
    churn.join();
    CHECK(runs == 12 && differ == 0, "%d encodes, %d differ from the single encode", runs.load(), differ.load());

    ggpt_context_free(ctx2);
    ggpt_context_free(ctx);
    ggpt_model_free(m);
    if (failures == 0) std::printf("test_towers: ok\n");
    return failures == 0 ? 0 : 1;
}
