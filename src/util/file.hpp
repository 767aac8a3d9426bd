// Whole-file reads with a size bound, and atomic replacement (tmp, fsync, rename, fsync dir).
#pragma once

#include <cstddef>
#include <string>

namespace horizon::util {

/// What read_file found: the text, or why there is none.
struct FileText {
    std::string text;
    int error = 0; ///< 0, or an errno value: EFBIG when the file is larger than the limit

    [[nodiscard]] bool ok() const { return error == 0; }

    /// "No such file or directory", "Is a directory", "File too large" (strerror of `error`).
    [[nodiscard]] std::string reason() const;
};

/// Reads `path` whole, at most `limit` bytes: the limit guards against pointing a setting at a
/// log or a device. A directory opens, then fails with EISDIR.
FileText read_file(const std::string& path, size_t limit);

/// Writes `content` to a temporary file beside `path` ("<path>.tmp.<pid>"), fsyncs it, renames
/// it over `path` and fsyncs the directory: a crash at any moment leaves the old file or the new
/// one, never a torn one. On failure returns false with `error` set ("cannot create
/// /x/state.json.tmp.42: ...") and leaves `path` untouched. Not for concurrent writers of the
/// same path within one process. The file gets permission bits `mode` (0600 unless told: state
/// and keys are private) before it takes the name, so it is never visible with wider ones.
bool write_file_atomically(const std::string& path, const std::string& content, std::string& error,
                           unsigned mode = 0600);

} // namespace horizon::util
