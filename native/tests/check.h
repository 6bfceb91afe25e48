// check.h - the C++ tests' one assertion: CHECK(cond, printf-style message) prints the failure
// and counts it in `failures`; a test's main returns non-zero when any failed.
#pragma once
#include <cstdio>

static int failures = 0;
#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                 \
      std::printf(__VA_ARGS__);                                                                                        \
      std::printf("\n");                                                                                               \
      ++failures;                                                                                                      \
    }                                                                                                                  \
  } while (0)
