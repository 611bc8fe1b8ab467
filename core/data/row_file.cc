#include "core/data/row_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/crc32c.h"
#include "core/base/file_util.h"

namespace strata {
namespace {

constexpr char kMagic[16] = {'S', 'T', 'R', 'A', 'T', 'A', '-', 'R',
                             'O', 'W', 'S', '-', 'F', '3', '2', '\n'};
constexpr uint32_t kFormatVersion = 1;
constexpr int64_t kAlignment = 4096;
// Ends the error of a row file that cannot be created.
constexpr char kUnwritable[] =
    " (a row file goes next to the first shard unless a writable cache directory is given)";
// Fixed part: magic, version, cols, rows, data offset.
constexpr size_t kRowsAt = 24;
constexpr size_t kFixedBytes = 40;
// The widest row a row file holds (a wider CSV is refused when converted).
constexpr uint32_t kMaxColumns = uint32_t{1} << 20;
// A header beyond this is not one this code wrote.
constexpr int64_t kMaxHeaderBytes = int64_t{64} << 20;

void AppendU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<char*>(&v), 4); }
void AppendBytes(std::string* out, const std::string& s) {
  AppendU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// The header with `rows` rows, padded to its data offset.
std::string Header(int64_t rows, int64_t cols, const std::string& source,
                   const std::vector<std::string>& names) {
  std::string tail;
  AppendBytes(&tail, source);
  AppendU32(&tail, static_cast<uint32_t>(names.size()));
  for (const std::string& n : names) AppendBytes(&tail, n);
  const int64_t offset =
      (static_cast<int64_t>(kFixedBytes + tail.size()) + kAlignment - 1) / kAlignment * kAlignment;
  std::string h(kMagic, sizeof(kMagic));
  AppendU32(&h, kFormatVersion);
  AppendU32(&h, static_cast<uint32_t>(cols));
  h.append(reinterpret_cast<const char*>(&rows), 8);
  const uint64_t o = static_cast<uint64_t>(offset);
  h.append(reinterpret_cast<const char*>(&o), 8);
  h += tail;
  h.resize(static_cast<size_t>(offset), '\0');
  return h;
}

// What the row file of `source` was made from: a changed shard (size or
// modification time) or option makes another.
std::string Describe(const RowFile::Source& source) {
  std::string d =
      absl::StrFormat("header=%d delimiter=%d drop=%s\n", static_cast<int>(source.csv.header),
                      source.csv.delimiter, absl::StrJoin(source.csv.drop_columns, "\x1f"));
  for (const std::string& f : source.files) {
    char resolved[PATH_MAX];
    const std::string path = realpath(f.c_str(), resolved) != nullptr ? resolved : f;
    // Size, inode and both times: a rewrite keeping size and mtime (a copy
    // with its times preserved) still changes the inode or ctime, which no
    // user can set. A shard that cannot be read is described as missing;
    // converting it then names it.
    struct stat st = {};
    if (stat(f.c_str(), &st) != 0) {
      absl::StrAppend(&d, path, "\x1fmissing\n");
      continue;
    }
    absl::StrAppendFormat(
        &d, "%s\x1f%d\x1f%d\x1f%d.%09d\x1f%d.%09d\n", path, static_cast<int64_t>(st.st_size),
        static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_mtim.tv_sec),
        static_cast<int64_t>(st.st_mtim.tv_nsec), static_cast<int64_t>(st.st_ctim.tv_sec),
        static_cast<int64_t>(st.st_ctim.tv_nsec));
  }
  return d;
}

// Reads a length-prefixed field of `header` at *at.
bool ReadBytes(const std::string& header, size_t* at, std::string* out) {
  uint32_t n = 0;
  if (*at + 4 > header.size()) return false;
  std::memcpy(&n, header.data() + *at, 4);
  *at += 4;
  if (n > header.size() - *at) return false;
  out->assign(header, *at, n);
  *at += n;
  return true;
}

// A file descriptor closed on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

absl::Status WriteAll(int fd, const char* data, size_t bytes, const std::string& path) {
  while (bytes > 0) {
    const ssize_t n = write(fd, data, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus("write", path, errno);
    data += n;
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Converts the shards into `tmp`; the caller renames it into place.
absl::Status Convert(const RowFile::Source& source, const std::string& description,
                     const std::string& tmp) {
  Fd out;
  out.fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out.fd < 0) {
    const absl::Status s = ErrnoToStatus("create the row file", tmp, errno);
    return absl::Status(s.code(), absl::StrCat(s.message(), kUnwritable));
  }
  std::vector<std::string> names;
  int64_t rows = 0;
  for (size_t f = 0; f < source.files.size(); ++f) {
    const std::string& file = source.files[f];
    absl::StatusOr<CsvTable> table = ReadCsvFile(file, source.csv);
    if (!table.ok()) return table.status();
    if (f == 0) {
      names = table->column_names;
      if (names.size() > kMaxColumns) {
        return absl::InvalidArgumentError(absl::StrCat(
            file, " has ", names.size(), " columns; a row file holds at most ", kMaxColumns));
      }
      const std::string header = Header(0, static_cast<int64_t>(names.size()), description, names);
      if (absl::Status s = WriteAll(out.fd, header.data(), header.size(), tmp); !s.ok()) return s;
    } else if (absl::Status s =
                   CheckShardColumns(source.files[0], names, file, table->column_names);
               !s.ok()) {
      return s;
    }
    const Matrix& values = table->values;
    if (absl::Status s = WriteAll(out.fd, reinterpret_cast<const char*>(values.data()),
                                  sizeof(float) * static_cast<size_t>(values.size()), tmp);
        !s.ok()) {
      return s;
    }
    rows += values.rows();
  }
  if (rows == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(absl::StrJoin(source.files, ", "), ": no data rows"));
  }
  if (pwrite(out.fd, &rows, sizeof(rows), kRowsAt) != sizeof(rows) || fsync(out.fd) != 0) {
    return ErrnoToStatus("write", tmp, errno);
  }
  return absl::OkStatus();
}

}  // namespace

bool RowFile::IsUnwritable(const absl::Status& status) {
  return absl::EndsWith(status.message(), kUnwritable);
}

std::string RowFile::PathFor(const Source& source) {
  const std::string dir = !source.cache_dir.empty() ? source.cache_dir
                          : source.files.empty()    ? "."
                                                    : DirName(source.files[0]);
  return absl::StrFormat("%s/.strata-rows-%08x.f32", dir, Crc32c(Describe(source)));
}

absl::StatusOr<std::unique_ptr<RowFile>> RowFile::FromCsv(const Source& source) {
  // No exception leaves core: out of memory is a status (and Convert's
  // temporary file is removed on every path out of it).
  try {
    return FromCsvOrThrow(source);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory converting CSV shards into a row file");
  }
}

absl::StatusOr<std::unique_ptr<RowFile>> RowFile::FromCsvOrThrow(const Source& source) {
  if (source.files.empty()) return absl::InvalidArgumentError("no CSV shard to read");
  if (!source.csv.label_column.empty()) {
    return absl::InvalidArgumentError(
        "a label column is not kept in a row file: train with class labels from memory");
  }
  const std::string description = Describe(source);
  const std::string path = PathFor(source);
  // Up to date when made from these shards as they are now.
  if (absl::StatusOr<std::unique_ptr<RowFile>> existing = Open(path);
      existing.ok() && (*existing)->source_ == description) {
    return existing;
  }
  std::random_device rd;
  const std::string tmp = absl::StrFormat("%s.tmp-%d-%08x", path, getpid(), rd());
  absl::Status converted;
  try {
    converted = Convert(source, description, tmp);
  } catch (...) {
    unlink(tmp.c_str());
    throw;
  }
  if (!converted.ok()) {
    unlink(tmp.c_str());
    return converted;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const absl::Status s = ErrnoToStatus("rename the row file to", path, errno);
    unlink(tmp.c_str());
    return s;
  }
  SyncDirectory(DirName(path));
  absl::StatusOr<std::unique_ptr<RowFile>> file = Open(path);
  if (file.ok()) (*file)->converted_ = true;
  return file;
}

absl::StatusOr<std::unique_ptr<RowFile>> RowFile::Open(const std::string& path) {
  Fd fd;
  fd.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd.fd < 0) return ErrnoToStatus("open the row file", path, errno);
  struct stat st = {};
  if (fstat(fd.fd, &st) != 0) return ErrnoToStatus("stat the row file", path, errno);
  const auto invalid = [&path](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a complete row file: ", why));
  };
  char fixed[kFixedBytes];
  if (pread(fd.fd, fixed, sizeof(fixed), 0) != static_cast<ssize_t>(sizeof(fixed)) ||
      std::memcmp(fixed, kMagic, sizeof(kMagic)) != 0) {
    return invalid("no row file header");
  }
  uint32_t version = 0, cols = 0;
  int64_t rows = 0;
  uint64_t offset = 0;
  std::memcpy(&version, fixed + 16, 4);
  std::memcpy(&cols, fixed + 20, 4);
  std::memcpy(&rows, fixed + kRowsAt, 8);
  std::memcpy(&offset, fixed + 32, 8);
  if (version != kFormatVersion) return invalid(absl::StrCat("format version ", version));
  if (cols == 0 || cols > kMaxColumns || rows <= 0 || offset < kFixedBytes ||
      offset % kAlignment != 0 || offset > static_cast<uint64_t>(kMaxHeaderBytes)) {
    return invalid(absl::StrCat(rows, " rows, ", cols, " columns, data at ", offset));
  }
  const __int128 bytes = static_cast<__int128>(offset) +
                         static_cast<__int128>(rows) * cols * static_cast<__int128>(sizeof(float));
  if (bytes != st.st_size) {
    return invalid(absl::StrCat(rows, " rows of ", cols, " columns from byte ", offset,
                                " need another size than its ", st.st_size, " bytes"));
  }
  std::string header(offset, '\0');
  if (pread(fd.fd, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size())) {
    return ErrnoToStatus("read the row file", path, errno);
  }
  size_t at = kFixedBytes;
  std::string source;
  uint32_t count = 0;
  if (!ReadBytes(header, &at, &source) || at + 4 > header.size()) return invalid("its source");
  std::memcpy(&count, header.data() + at, 4);
  at += 4;
  if (count != cols) return invalid(absl::StrCat(count, " names for ", cols, " columns"));
  auto file = std::unique_ptr<RowFile>(new RowFile());
  for (uint32_t c = 0; c < count; ++c) {
    std::string name;
    if (!ReadBytes(header, &at, &name)) return invalid("its column names");
    file->column_names_.push_back(std::move(name));
  }
  void* mapping = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd.fd, 0);
  if (mapping == MAP_FAILED) return ErrnoToStatus("map the row file", path, errno);
  file->path_ = path;
  file->source_ = std::move(source);
  file->mapping_ = mapping;
  file->mapping_bytes_ = static_cast<size_t>(st.st_size);
  file->data_ = reinterpret_cast<const float*>(static_cast<const char*>(mapping) + offset);
  file->rows_ = rows;
  file->cols_ = cols;
  return file;
}

RowFile::~RowFile() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_bytes_);
}

}  // namespace strata
