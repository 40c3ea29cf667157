// A file mapped into memory (read-only content, copy-on-write pages: a stray write never reaches
// the file). The mapping lives as long as any shared_ptr to it; pages are read from disk when
// first touched, so mapping a large weights file costs no memory up front.
#pragma once
#include <memory>
#include <string>

namespace kiln::io {

class MappedFile {
public:
    // Throws IRError naming the path and the system's reason.
    static std::shared_ptr<MappedFile> open(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const unsigned char* data() const { return static_cast<const unsigned char*>(data_); }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    MappedFile() = default;
    void* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

// The whole content of a (small) file; throws IRError.
std::string read_text_file(const std::string& path);

}  // namespace kiln::io
