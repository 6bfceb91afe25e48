// vocab.h - the LLM tokenizer as upstream's slow LlamaTokenizer (legacy) runs it: HF added-token
// splitting around SentencePiece BPE with byte fallback.
//
// Why not llama_tokenize: libllama's SPM session merges into any vocabulary entry (control, byte
// and user-defined pieces included) and carves user-defined tokens out of the text even with
// parse_special=false, where SentencePiece merges only into normal (and unused) pieces and never
// sees HF's added tokens. It also turns an empty chunk into a lone "▁". For ordinary text the two
// agree; this implementation follows SentencePiece in every case (native/tests/test_vocab.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct llama_vocab;

namespace ggpt {

struct Vocab {
    enum Kind : uint8_t { NORMAL, UNUSED, BYTE, CONTROL, UNKNOWN, USER_DEFINED };

    int32_t n_vocab = 0;
    int32_t unk = -1;
    bool add_space_prefix = true;   // SentencePiece add_dummy_prefix
    std::vector<std::string> text;  // piece text as stored ("▁the", "<0x0A>", "<s>")
    std::vector<float> score;
    std::vector<Kind> kind;
    std::vector<bool> skip_on_decode;                      // control/unknown/media: dropped by detokenize
    int32_t byte_token[256];                               // "<0xXX>" pieces (-1 when absent)
    std::vector<int16_t> byte_value;                       // byte of a BYTE piece, else -1
    std::unordered_map<std::string, int32_t> merge_piece;  // NORMAL/UNUSED pieces by text

    // HF added tokens the text is split at before SentencePiece sees it (upstream's tokens_trie):
    // the nine media tokens (lstrip/rstrip: whitespace on both sides is removed) and the
    // SentencePiece control/unknown pieces "<s>", "</s>", "<unk>" (no stripping).
    struct Added {
        std::string text;
        int32_t id;
        bool strip;
    };
    std::vector<Added> added;
    bool added_first[256];  // first bytes of the added tokens (fast scan)

    // Builds the tables from libllama's vocabulary. media_ids: the nine media token ids.
    void init(const llama_vocab * v, bool add_space_prefix, const int32_t * media_ids, int n_media);

    // SentencePiece encoding of one chunk (identity normaliser, dummy prefix, ' ' -> "▁", BPE by
    // piece score, byte fallback). An empty chunk gives no tokens.
    void encode_chunk(std::string_view text, std::vector<int32_t> & out) const;

    // Upstream tokenisation of a whole text: optional BOS, then (when split_added) split at the
    // added tokens as described above, every non-empty chunk through encode_chunk.
    void tokenize(std::string_view text, bool add_bos, int32_t bos, bool split_added, std::vector<int32_t> & out) const;

    // Text of one token as SentencePiece decodes it ("▁" -> ' ', byte pieces -> the byte);
    // control/unknown/media tokens give "" (skip_special_tokens=True).
    void append_piece(int32_t token, std::string & out) const;
};

// Python str.isspace() for one code point (the whitespace str.strip() removes).
bool is_py_space(uint32_t cp);
// Number of bytes of the trailing incomplete UTF-8 sequence of s (0 when s ends on a boundary).
size_t utf8_incomplete_tail(std::string_view s);

}  // namespace ggpt
