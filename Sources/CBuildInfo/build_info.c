// What gentrain was built from: see include/build_info.h. Package.swift defines GENTRAIN_COMMIT.

#include "build_info.h"

#ifndef GENTRAIN_COMMIT
#define GENTRAIN_COMMIT ""
#endif

const char *gentrain_build_commit(void) { return GENTRAIN_COMMIT; }
