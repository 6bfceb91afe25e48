// test_vocab.cpp - our SentencePiece tokenizer (core/vocab.cpp) against libllama's llama_tokenize
// on the same GGUF vocabulary: identical on ordinary text (a table plus random strings), and the
// cases where they differ on purpose behave as SentencePiece does. Exit code 0 = pass.
//   node scripts/build.mjs --tests && build/cmake/test_vocab <llm.gguf>   (or GROUNDINGGPT_TEST_LLM)
// The golden ids themselves are checked by test/prompt.test.ts.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "groundinggpt.h"
#include "core/model.h"
#include "llama.h"

#include "check.h"

static std::vector<int32_t> ours(const ggpt_model * m, const std::string & s, bool media) {
    std::vector<int32_t> out(s.size() + 2);
    const int32_t n = ggpt_tokenize(m, s.data(), s.size(), false, media, out.data(), (int32_t)out.size());
    out.resize(n < 0 ? 0 : (size_t)n);
    return out;
}

static std::vector<int32_t> libllama(const ggpt_model * m, const std::string & s) {
    std::vector<int32_t> out(s.size() + 8);
    const int32_t n =
        llama_tokenize(m->vocab, s.data(), (int32_t)s.size(), out.data(), (int32_t)out.size(), false, false);
    out.resize(n < 0 ? 0 : (size_t)n);
    return out;
}

static std::string show(const std::vector<int32_t> & v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
}

int main(int argc, char ** argv) {
    const char * path = argc > 1 ? argv[1] : std::getenv("GROUNDINGGPT_TEST_LLM");
    if (!path) {
        std::printf("SKIP test_vocab: pass an LLM GGUF (argument or GROUNDINGGPT_TEST_LLM)\n");
        return 0;
    }
    ggpt_model_params mp = ggpt_model_default_params();
    mp.llm_path = path;
    ggpt_model * m = nullptr;
    char err[512];
    if (ggpt_model_load(&mp, &m, err, sizeof err) != GGPT_OK) {
        std::printf("FAIL cannot load %s: %s\n", path, err);
        return 1;
    }

    // ordinary text: the two tokenizers agree
    const char * table[] = {
        "Hello world",
        " leading space",
        "two  spaces\tand tab\nnew line",
        "Numbers 12345 and 3.14",
        "\xc3\xbcn\xc3\xaf"
        "c\xc3\xb6"
        "d\xc3\xa9 \xe2\x80\x93 \xe2\x80\x9cquotes\xe2\x80\x9d \xf0\x9f\x98\x80",
        "###Human: hi###Assistant:",
        "trailing space ",
        "   ",
        "\n",
        "a",
        "[0.12, 0.34, 0.56, 0.78]",
        "{0.10, 0.25}",
        "x_px = x*S - (S-W)//2",
        "\xe4\xb8\xad\xe6\x96\x87",
        "tab\tsep\tvalues",
    };
    for (const char * s : table) {
        const auto a = ours(m, s, false), b = libllama(m, s);
        CHECK(a == b, "'%s': ours %s, libllama %s", s, show(a).c_str(), show(b).c_str());
    }
    std::mt19937 rng(1234);
    const std::vector<std::string> alphabet = {"a",
                                               "e",
                                               "t",
                                               "h",
                                               "s",
                                               "n",
                                               "o",
                                               " ",
                                               " ",
                                               "  ",
                                               "\t",
                                               "\n",
                                               ".",
                                               ",",
                                               "#",
                                               "[",
                                               "]",
                                               "0",
                                               "1",
                                               "5",
                                               "\xc3\xa9",
                                               "\xe4\xb8\xad",
                                               "\xf0\x9f\x98\x80",
                                               "-",
                                               "'",
                                               "T"};
    int differ = 0;
    for (int k = 0; k < 2000; k++) {
        std::string s;
        const int len = 1 + (int)(rng() % 40);
        for (int i = 0; i < len; i++) s += alphabet[rng() % alphabet.size()];
        if (ours(m, s, false) != libllama(m, s)) {
            if (differ++ < 5) std::printf("differ on random string '%s'\n", s.c_str());
        }
    }
    CHECK(differ == 0, "%d of 2000 random strings tokenise differently", differ);

    // where we differ from libllama on purpose (SentencePiece / HF semantics)
    CHECK(ours(m, "", false).empty(), "an empty chunk gives no tokens (libllama gives %s)",
          show(libllama(m, "")).c_str());
    const int32_t im_start = m->media.start[GGPT_MEDIA_IMAGE];
    if (im_start >= 0) {
        for (int32_t id : ours(m, "see <im_start> here", false))
            CHECK(id != im_start, "parse_media=false never yields a media token");
        const auto split = ours(m, "see <im_start> here", true);
        CHECK(split.size() >= 3, "media token split");
        bool found = false;
        for (int32_t id : split) found |= id == im_start;
        CHECK(found, "parse_media=true yields the media token");
    }
    // malformed UTF-8 becomes U+FFFD, as SentencePiece's normaliser does
    CHECK(ours(m,
               "a\xff"
               "b",
               false) == ours(m,
                              "a\xef\xbf\xbd"
                              "b",
                              false),
          "malformed UTF-8 -> U+FFFD");
    // detokenize(tokenize(x)) == x for valid text
    for (const char * s : table) {
        const auto ids = ours(m, s, false);
        char buf[512];
        const int32_t n = ggpt_detokenize(m, ids.data(), (int32_t)ids.size(), true, buf, sizeof buf);
        CHECK(n >= 0 && std::string(buf, (size_t)n) == s, "round trip of '%s' gives '%.*s'", s, n, buf);
    }

    ggpt_model_free(m);
    if (failures == 0) std::printf("test_vocab: ok\n");
    return failures == 0 ? 0 : 1;
}
