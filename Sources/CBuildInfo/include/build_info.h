// What gentrain was built from, for `gentrain --version`.
#ifndef GENTRAIN_BUILD_INFO_H
#define GENTRAIN_BUILD_INFO_H

/// The git commit the build was given (`GENTRAIN_COMMIT` in the environment of `swift build`, as
/// `scripts/install.sh` sets it from `git describe --always --dirty`), or "" when it was given none.
const char *gentrain_build_commit(void);

#endif
