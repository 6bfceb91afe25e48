// vocab.cpp - upstream's tokenizer (transformers 4.34 slow LlamaTokenizer, legacy=True, over a
// SentencePiece BPE model with byte fallback), rebuilt on libllama's vocabulary tables.
#include "core/vocab.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <queue>

#include "llama.h"

namespace ggpt {

namespace {

constexpr const char * kSpace = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's escaped space
constexpr size_t kSpaceLen = 3;

// Length of the valid UTF-8 sequence at s[0..n), or 0 when it is malformed or cut short.
size_t utf8_len(const unsigned char * s, size_t n, uint32_t * cp) {
    const unsigned char c = s[0];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    // overlong forms, surrogates and values past U+10FFFF are malformed
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_cp[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

std::string_view lstrip_py(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        uint32_t cp;
        const size_t len = utf8_len((const unsigned char *)s.data() + i, s.size() - i, &cp);
        if (len == 0 || !is_py_space(cp)) break;
        i += len;
    }
    return s.substr(i);
}

std::string_view rstrip_py(std::string_view s) {
    size_t end = s.size();
    while (end > 0) {
        size_t start = end - 1;  // back to the lead byte of the last character
        while (start > 0 && end - start < 4 && ((unsigned char)s[start] & 0xC0) == 0x80) start--;
        uint32_t cp;
        const size_t len = utf8_len((const unsigned char *)s.data() + start, end - start, &cp);
        if (len != end - start || !is_py_space(cp)) break;
        end = start;
    }
    return s.substr(0, end);
}

struct Symbol {
    uint32_t off, len;  // bytes of the normalised text
    int32_t prev, next;
};

struct Candidate {
    float score;
    int32_t left, right;
    uint32_t size;
};

// SentencePiece's agenda order: higher score first, then the leftmost pair.
struct CandidateLess {
    bool operator()(const Candidate & a, const Candidate & b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

}  // namespace

bool is_py_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

size_t utf8_incomplete_tail(std::string_view s) {
    // look back at most 3 bytes for a lead byte whose sequence runs past the end
    const size_t n = s.size();
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        const unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

void Vocab::init(const llama_vocab * v, bool add_space_prefix_, const int32_t * media_ids, int n_media) {
    n_vocab = llama_vocab_n_tokens(v);
    add_space_prefix = add_space_prefix_;
    text.resize(n_vocab);
    score.resize(n_vocab);
    kind.resize(n_vocab);
    skip_on_decode.assign(n_vocab, false);
    byte_value.assign(n_vocab, -1);
    std::fill(std::begin(byte_token), std::end(byte_token), -1);
    merge_piece.clear();
    merge_piece.reserve(n_vocab);
    added.clear();
    unk = -1;

    for (int32_t id = 0; id < n_vocab; id++) {
        text[id] = llama_vocab_get_text(v, id);
        score[id] = llama_vocab_get_score(v, id);
        const int attr = llama_vocab_get_attr(v, id);
        Kind k = NORMAL;
        if (attr & LLAMA_TOKEN_ATTR_BYTE) k = BYTE;
        else if (attr & LLAMA_TOKEN_ATTR_CONTROL) k = CONTROL;
        else if (attr & LLAMA_TOKEN_ATTR_UNKNOWN) k = UNKNOWN;
        else if (attr & LLAMA_TOKEN_ATTR_USER_DEFINED) k = USER_DEFINED;
        else if (attr & LLAMA_TOKEN_ATTR_UNUSED) k = UNUSED;
        kind[id] = k;
        switch (k) {
            case NORMAL:
            case UNUSED: merge_piece.emplace(text[id], id); break;
            case BYTE: {
                unsigned b;
                if (text[id].size() == 6 && sscanf(text[id].c_str(), "<0x%02X>", &b) == 1) {
                    byte_token[b] = id;
                    byte_value[id] = (int16_t)b;
                }
                break;
            }
            case UNKNOWN:
                if (unk < 0) unk = id;
                skip_on_decode[id] = true;
                break;
            case CONTROL: skip_on_decode[id] = true; break;
            case USER_DEFINED: break;
        }
    }
    for (int i = 0; i < n_media; i++) {
        const int32_t id = media_ids[i];
        if (id < 0 || id >= n_vocab) continue;
        skip_on_decode[id] = true;
        added.push_back({text[id], id, true});
    }
    for (int32_t id = 0; id < n_vocab; id++) {
        if ((kind[id] == CONTROL || kind[id] == UNKNOWN) && !text[id].empty() &&
            std::none_of(added.begin(), added.end(), [&](const Added & a) { return a.id == id; })) {
            added.push_back({text[id], id, false});
        }
    }
    std::fill(std::begin(added_first), std::end(added_first), false);
    for (const Added & a : added) added_first[(unsigned char)a.text[0]] = true;
    // longest first, so a scan that takes the first match takes the longest (HF's trie)
    std::stable_sort(added.begin(), added.end(),
                     [](const Added & a, const Added & b) { return a.text.size() > b.text.size(); });
}

void Vocab::encode_chunk(std::string_view in, std::vector<int32_t> & out) const {
    if (in.empty()) return;

    // Normalise (identity rule): dummy prefix, ' ' -> "▁", malformed UTF-8 -> U+FFFD; one symbol
    // per character.
    std::string norm;
    norm.reserve(in.size() + in.size() / 2 + kSpaceLen);
    std::vector<Symbol> sym;
    sym.reserve(in.size() + 1);
    auto push_symbol = [&](const char * bytes, size_t n) {
        const int32_t idx = (int32_t)sym.size();
        sym.push_back({(uint32_t)norm.size(), (uint32_t)n, idx - 1, idx + 1});
        norm.append(bytes, n);
    };
    if (add_space_prefix) push_symbol(kSpace, kSpaceLen);
    for (size_t i = 0; i < in.size();) {
        uint32_t cp;
        const size_t len = utf8_len((const unsigned char *)in.data() + i, in.size() - i, &cp);
        if (len == 0) {
            push_symbol("\xEF\xBF\xBD", 3);
            i += 1;
        } else if (cp == ' ') {
            push_symbol(kSpace, kSpaceLen);
            i += 1;
        } else {
            push_symbol(in.data() + i, len);
            i += len;
        }
    }
    sym.back().next = -1;

    // BPE: repeatedly merge the adjacent pair whose concatenation is the best-scoring piece.
    std::priority_queue<Candidate, std::vector<Candidate>, CandidateLess> agenda;
    std::map<std::string, std::pair<std::string, std::string>> rev_merge;  // unused pieces only
    auto add_pair = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        const uint32_t size = sym[l].len + sym[r].len;
        std::string piece = norm.substr(sym[l].off, size);
        const auto it = merge_piece.find(piece);
        if (it == merge_piece.end()) return;
        agenda.push({score[it->second], l, r, size});
        if (kind[it->second] == UNUSED) {
            rev_merge[piece] = {norm.substr(sym[l].off, sym[l].len), norm.substr(sym[r].off, sym[r].len)};
        }
    };
    for (int32_t i = 1; i < (int32_t)sym.size(); i++) add_pair(i - 1, i);
    while (!agenda.empty()) {
        const Candidate c = agenda.top();
        agenda.pop();
        Symbol & l = sym[c.left];
        Symbol & r = sym[c.right];
        if (l.len == 0 || r.len == 0 || l.len + r.len != c.size) continue;  // stale
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = c.left;
        add_pair(l.prev, c.left);
        add_pair(c.left, l.next);
    }

    // Emit: pieces as ids (unused pieces split back), anything else as bytes.
    bool prev_unk = false;
    auto emit_bytes = [&](const std::string & piece) {
        for (unsigned char b : piece) {
            const int32_t id = byte_token[b];
            if (id >= 0) {
                out.push_back(id);
                prev_unk = false;
            } else if (!prev_unk && unk >= 0) {  // no byte fallback: one <unk> per run
                out.push_back(unk);
                prev_unk = true;
            }
        }
    };
    std::function<void(const std::string &)> resegment = [&](const std::string & piece) {
        const auto it = merge_piece.find(piece);
        if (it == merge_piece.end()) {
            emit_bytes(piece);
            return;
        }
        if (kind[it->second] == UNUSED) {
            const auto rv = rev_merge.find(piece);
            if (rv != rev_merge.end()) {
                resegment(rv->second.first);
                resegment(rv->second.second);
                return;
            }
        }
        out.push_back(it->second);
        prev_unk = false;
    };
    for (int32_t i = 0; i != -1; i = sym[i].next) resegment(norm.substr(sym[i].off, sym[i].len));
}

void Vocab::tokenize(std::string_view s, bool add_bos, int32_t bos, bool split_added,
                     std::vector<int32_t> & out) const {
    if (add_bos) out.push_back(bos);
    if (!split_added) {
        encode_chunk(s, out);
        return;
    }
    size_t chunk_start = 0;
    bool strip_left = false;  // the previous added token strips the whitespace after it
    for (size_t i = 0; i < s.size();) {
        const Added * hit = nullptr;
        if (added_first[(unsigned char)s[i]]) {
            for (const Added & a : added) {
                if (s.compare(i, a.text.size(), a.text) == 0) {
                    hit = &a;
                    break;
                }
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        std::string_view chunk = s.substr(chunk_start, i - chunk_start);
        if (strip_left) chunk = lstrip_py(chunk);
        if (hit->strip) chunk = rstrip_py(chunk);
        encode_chunk(chunk, out);
        out.push_back(hit->id);
        strip_left = hit->strip;
        i += hit->text.size();
        chunk_start = i;
    }
    std::string_view tail = s.substr(chunk_start);
    if (strip_left) tail = lstrip_py(tail);
    encode_chunk(tail, out);
}

void Vocab::append_piece(int32_t token, std::string & out) const {
    if (token < 0 || token >= n_vocab || skip_on_decode[token]) return;
    const std::string & t = text[token];
    if (kind[token] == BYTE) {
        if (byte_value[token] >= 0) out.push_back((char)byte_value[token]);
        return;
    }
    size_t i = 0;
    while (i < t.size()) {
        const size_t p = t.find(kSpace, i);
        if (p == std::string::npos) {
            out.append(t, i, std::string::npos);
            break;
        }
        out.append(t, i, p - i);
        out.push_back(' ');
        i = p + kSpaceLen;
    }
}

}  // namespace ggpt
