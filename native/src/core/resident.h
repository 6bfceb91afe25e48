// resident.h - pages of file mappings in this process (Linux; no-ops elsewhere): which ranges map
// a file, dropping their pages (a later read faults them back in from the file), and how much of
// them is resident now. Used for libllama's mapping of llm.gguf (docs/ARCHITECTURE.md "Memory
// defaults").
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ggpt {

using AddressRanges = std::vector<std::pair<uintptr_t, uintptr_t>>;  // [begin, end)

// The ranges of this process's mappings of `path` (by device and inode, from /proc/self/maps;
// none elsewhere).
AddressRanges mappings_of(const std::string & path);

// Drops the pages of read-only file mappings from this process (madvise MADV_DONTNEED).
void drop_pages(const AddressRanges & ranges);

// Bytes of the ranges resident in this process now (/proc/self/smaps; -1 where unknown).
int64_t mapped_rss(const AddressRanges & ranges);

}  // namespace ggpt
