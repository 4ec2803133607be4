#pragma once
// Crash-safe replacement of a small file (issue 7: "a crash mid-write leaves the old
// file"): the data goes to "<path>.tmp" (created with `mode`), is fsync'ed, renamed
// over `path`, and the directory is fsync'ed so the rename itself is durable. Used by
// the lease file, the user database and its sealing key. Any thread, but two writers of
// the same path must not race (both use the same temporary name).

#include <string>
#include <string_view>
#include <sys/types.h>

namespace espgw {

/// Replaces `path` with `data` atomically. Returns false with `*error` ("<file>: <errno
/// text>") on failure; `path` is then unchanged and the temporary file removed.
bool write_file_atomic(const std::string& path, std::string_view data, mode_t mode, std::string* error);

}  // namespace espgw
