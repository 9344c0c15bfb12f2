// The kernel cache on disk: checked reads, atomic writes, an LRU size bound.
#include <duet/codegen/llvm/disk_cache.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

namespace duet::codegen::jit {

namespace fs = std::filesystem;

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// A file: "DUETK1\n", the key's size and bytes, the object's size and
// checksum, then the object.
bool DiskCache::read(const std::string& key, const std::string& name, std::string* object, int64_t* rejected) const {
  if (dir_.empty()) return false;
  std::error_code ec;
  if (!fs::exists(path(name), ec)) return false;
  std::string data;
  try {  // any read error (a directory in the way, EIO) counts as a bad file
    std::ifstream in(path(name), std::ios::binary);
    if (!in) {
      ++*rejected;
      return false;
    }
    data.assign(std::istreambuf_iterator<char>(in), {});
  } catch (const std::exception&) {
    ++*rejected;
    return false;
  }
  const std::string magic = "DUETK1\n";
  size_t pos = magic.size();
  auto take_u64 = [&](uint64_t* v) {
    if (data.size() < pos + 8) return false;
    std::memcpy(v, data.data() + pos, 8);
    pos += 8;
    return true;
  };
  uint64_t key_size = 0, obj_size = 0, sum = 0;
  bool ok = data.compare(0, magic.size(), magic) == 0 && take_u64(&key_size) && data.size() >= pos + key_size &&
            data.compare(pos, key_size, key) == 0;
  if (ok) pos += key_size;
  ok = ok && take_u64(&obj_size) && take_u64(&sum) && data.size() == pos + obj_size;
  if (ok) {
    *object = data.substr(pos);
    ok = fnv1a(*object) == sum;
  }
  if (!ok) {
    ++*rejected;
    return false;
  }
  fs::last_write_time(path(name), fs::file_time_type::clock::now(), ec);  // used now (best effort)
  return true;
}

void DiskCache::write(const std::string& key, const std::string& name, const std::string& object) {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  std::string data = "DUETK1\n";
  auto put_u64 = [&](uint64_t v) { data.append(reinterpret_cast<const char*>(&v), 8); };
  put_u64(key.size());
  data += key;
  put_u64(object.size());
  put_u64(fnv1a(object));
  data += object;
  // A unique temporary name, then an atomic rename: readers see a whole file or none.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = fmt::format("{}.tmp.{}.{}", path(name), ::getpid(), counter++);
  bool written = false;
  try {
    std::ofstream out(tmp, std::ios::binary);
    written = static_cast<bool>(out.write(data.data(), static_cast<std::streamsize>(data.size())));
    out.close();
    written = written && !out.fail();
  } catch (const std::exception&) {
    written = false;
  }
  if (written) fs::rename(tmp, path(name), ec);
  if (!written || ec) fs::remove(tmp, ec);  // a full disk or a directory in the way: no cache, still correct
  if (++writes_ % 32 == 1) trim();
}

// Only duet's own files are touched: duet_kernel_*.o and their temporaries
// (a temporary older than an hour was left by a process that died).
int64_t DiskCache::trim() {
  if (dir_.empty()) return 0;
  struct File {
    fs::path path;
    fs::file_time_type time;
    uint64_t bytes;
  };
  std::vector<File> files;
  uint64_t total = 0;
  int64_t removed = 0;
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    std::string file = it->path().filename().string();
    if (file.rfind("duet_kernel_", 0) != 0) continue;
    std::error_code e2;
    fs::file_time_type time = it->last_write_time(e2);
    uint64_t bytes = it->file_size(e2);
    if (e2) continue;
    if (file.find(".tmp.") != std::string::npos) {
      if (now - time > std::chrono::hours(1) && fs::remove(it->path(), e2)) ++removed;
      continue;
    }
    if (file.size() < 2 || file.compare(file.size() - 2, 2, ".o") != 0) continue;
    files.push_back({it->path(), time, bytes});
    total += bytes;
  }
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.time < b.time; });
  for (const File& f : files) {
    if (total <= max_bytes_) break;
    std::error_code e2;
    if (fs::remove(f.path, e2)) ++removed;
    total -= f.bytes;  // gone, or not ours to remove: either way not counted again
  }
  return removed;
}

}  // namespace duet::codegen::jit
