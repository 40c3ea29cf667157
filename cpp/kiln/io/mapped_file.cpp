#include "kiln/io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kiln/core/error.hpp"

namespace kiln::io {

namespace {
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

int open_regular(const std::string& path, Fd& f, struct stat& st) {
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd < 0) throw IRError(str_cat(path, ": cannot open (", std::strerror(errno), ")"));
    if (::fstat(f.fd, &st) != 0) throw IRError(str_cat(path, ": cannot stat (", std::strerror(errno), ")"));
    if (!S_ISREG(st.st_mode)) throw IRError(str_cat(path, ": not a regular file"));
    return f.fd;
}
}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
    Fd f;
    struct stat st;
    open_regular(path, f, st);
    std::shared_ptr<MappedFile> m(new MappedFile());
    m->path_ = path;
    m->size_ = static_cast<size_t>(st.st_size);
    if (m->size_ == 0) return m;
    void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
    if (p == MAP_FAILED) throw IRError(str_cat(path, ": cannot map (", std::strerror(errno), ")"));
    m->data_ = p;
    return m;
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(data_, size_);
}

std::string read_text_file(const std::string& path) {
    Fd f;
    struct stat st;
    open_regular(path, f, st);
    std::string s;
    s.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < s.size()) {
        ssize_t r = ::read(f.fd, s.data() + got, s.size() - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw IRError(str_cat(path, ": cannot read (", std::strerror(errno), ")"));
        if (r == 0) break;
        got += static_cast<size_t>(r);
    }
    s.resize(got);
    return s;
}

}  // namespace kiln::io
