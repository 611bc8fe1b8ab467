// The one grammar of a data path: which CSV files `strata train --data` and
// a TrainJob's csv_path name, optionally confined under a root directory.
//
//   path := part | part "," path      (lists: DataPathOptions::comma_lists)
//   part := an existing file          (itself, whatever characters it holds)
//         | an existing directory     (its *.csv files)
//         | a glob (*, ?, [...])      (the files it matches)
//         | any other name           (itself: reading it says if it exists)
//
// Files come in name order within a part, parts in the order given.
//
//   ListDataFiles("data/shards/");           // the CLI: data/shards/*.csv
//   DataPathOptions confined;
//   confined.root = "/srv/data";             // the server's --data_root
//   confined.comma_lists = false;
//   ResolveDataPath("day1/*.csv", confined);  // canonical paths under the root
//
// Under a root, a path is relative to it, and is refused (PermissionDenied)
// when it is absolute or climbs above the root through ".." (checked on the
// text first, so nothing outside is probed), or when any file it names
// resolves, through symlinks, outside the root. Files are then canonical
// (realpath). The root's own characters are never a pattern.
//
// Functions only; thread-safe.
#ifndef STRATA_CORE_DATA_DATA_PATH_H_
#define STRATA_CORE_DATA_DATA_PATH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace strata {

struct DataPathOptions {
  // The directory the path is confined to. Default empty: not confined;
  // paths are taken as given (relative to the working directory).
  std::string root;
  // Whether a comma separates the parts of a list. Default true (the CLI).
  // A confined path sets false: each part of a list would have to be
  // checked alone, so a comma is part of a name there.
  bool comma_lists = true;
  // How errors under a root name the path and the root: "csv_path 'x' leads
  // outside --data_root". Defaults: "data path" and "the data root".
  std::string path_name = "data path";
  std::string root_name = "the data root";
};

// The files `path` names. Not confined: NotFound when a pattern matches
// nothing ("<part>: no file matches"), InvalidArgument when the path names
// no file. Confined: PermissionDenied as above, FailedPrecondition when the
// root does not exist, NotFound when a file does not exist or a pattern (or
// directory) matches no file.
absl::StatusOr<std::vector<std::string>> ResolveDataPath(const std::string& path,
                                                         const DataPathOptions& options);

// ResolveDataPath not confined, with comma lists: a file, a comma-separated
// list, a directory (its *.csv files) or a glob.
absl::StatusOr<std::vector<std::string>> ListDataFiles(const std::string& spec);

}  // namespace strata

#endif  // STRATA_CORE_DATA_DATA_PATH_H_
