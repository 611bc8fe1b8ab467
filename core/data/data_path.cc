#include "core/data/data_path.h"

#include <glob.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace strata {
namespace {

// `text` with glob's special characters escaped, to match itself.
std::string GlobEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

bool HasPatternCharacters(absl::string_view text) {
  return text.find_first_of("*?[") != absl::string_view::npos;
}

// The files `pattern` matches, in name order; none when it matches nothing.
std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> files;
  glob_t matches = {};
  if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (size_t k = 0; k < matches.gl_pathc; ++k) files.emplace_back(matches.gl_pathv[k]);
  }
  globfree(&matches);
  return files;
}

// One part of a path, under `prefix` ("" or "<root>/", whose characters are
// never a pattern): an existing directory is its *.csv files, a name that
// does not exist but holds pattern characters a glob (the files it matches,
// none when it matches nothing), anything else itself.
std::vector<std::string> ExpandPart(const std::string& prefix, const std::string& part) {
  const std::string full = prefix + part;
  struct stat st;
  const bool exists = stat(full.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) return Glob(GlobEscape(full) + "/*.csv");
  if (!exists && HasPatternCharacters(part)) return Glob(GlobEscape(prefix) + part);
  return {full};
}

absl::StatusOr<std::vector<std::string>> ListUnconfined(const std::string& path, bool comma_lists) {
  struct stat whole;
  if (stat(path.c_str(), &whole) == 0 && S_ISREG(whole.st_mode)) return std::vector{path};
  std::vector<std::string> parts;
  if (comma_lists) {
    parts = absl::StrSplit(path, ',', absl::SkipEmpty());
  } else if (!path.empty()) {
    parts.push_back(path);
  }
  std::vector<std::string> files;
  for (const std::string& part : parts) {
    std::vector<std::string> found = ExpandPart("", part);
    if (found.empty()) return absl::NotFoundError(absl::StrCat(part, ": no file matches"));
    files.insert(files.end(), found.begin(), found.end());
  }
  if (files.empty()) return absl::InvalidArgumentError("the data spec names no file");
  return files;
}

// PermissionDenied for an absolute part or one whose ".." climbs above the
// root, whether or not its target exists (no probing outside the root).
// Errors name the whole `path`.
absl::Status CheckRelativeBelowRoot(const std::string& path, const std::string& part,
                                    const DataPathOptions& options) {
  if (part.empty() || part[0] == '/') {
    return absl::PermissionDeniedError(
        absl::StrCat(options.path_name, " '", path, "' must be relative to ", options.root_name));
  }
  int depth = 0;
  for (absl::string_view step : absl::StrSplit(part, '/')) {
    if (step == "..") {
      if (--depth < 0) {
        return absl::PermissionDeniedError(
            absl::StrCat(options.path_name, " '", path, "' leads outside ", options.root_name));
      }
    } else if (!step.empty() && step != ".") {
      ++depth;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListConfined(const std::string& path,
                                                      const DataPathOptions& options) {
  std::vector<std::string> parts = {path};
  if (options.comma_lists) parts = absl::StrSplit(path, ',', absl::SkipEmpty());
  if (parts.empty()) parts.push_back(path);  // "" or only commas: refused next
  for (const std::string& part : parts) {
    if (absl::Status s = CheckRelativeBelowRoot(path, part, options); !s.ok()) return s;
  }
  char root_buf[PATH_MAX], path_buf[PATH_MAX];
  if (realpath(options.root.c_str(), root_buf) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.root_name, " ", options.root, " does not exist"));
  }
  const std::string root = root_buf;
  std::vector<std::string> files;
  for (const std::string& part : parts) {
    std::vector<std::string> found = ExpandPart(root + "/", part);
    if (found.empty()) {
      return absl::NotFoundError(absl::StrCat(options.path_name, " '", path,
                                              "' matches no CSV file under ", options.root_name));
    }
    files.insert(files.end(), found.begin(), found.end());
  }
  // Every file, canonical, must lie under the root: a symlink may lead out.
  for (std::string& file : files) {
    if (realpath(file.c_str(), path_buf) == nullptr) {
      return absl::NotFoundError(absl::StrCat(options.path_name, " '", path,
                                              "' does not exist under ", options.root_name));
    }
    file = path_buf;
    if (!absl::StartsWith(file, root + "/")) {
      return absl::PermissionDeniedError(
          absl::StrCat(options.path_name, " '", path, "' leads outside ", options.root_name));
    }
  }
  return files;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ResolveDataPath(const std::string& path,
                                                         const DataPathOptions& options) {
  if (options.root.empty()) return ListUnconfined(path, options.comma_lists);
  return ListConfined(path, options);
}

absl::StatusOr<std::vector<std::string>> ListDataFiles(const std::string& spec) {
  return ResolveDataPath(spec, DataPathOptions());
}

}  // namespace strata
