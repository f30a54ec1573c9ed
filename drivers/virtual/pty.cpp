// SPDX-License-Identifier: Apache-2.0
// Pseudo-terminal allocation, raw mode and the symlink an emulated device is published at.
#include "virtual/pty.hpp"

#include "mto/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <pty.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

namespace mto::virt {

namespace {

std::string errnoText(const std::string& what)
{
    return what + ": " + std::strerror(errno);
}

} // namespace

Pty::Pty()
{
    int slave = -1;
    char name[256] = {};
    if (::openpty(&master_, &slave, name, nullptr, nullptr) != 0) {
        throw Error(errnoText("cannot allocate a pseudo-terminal (openpty)"));
    }
    slavePath_ = name;
    makeRaw(slave);
    // Our own slave fd must not stay open: a host closing the port would then go unnoticed.
    ::close(slave);
    ::fcntl(master_, F_SETFD, FD_CLOEXEC);
}

Pty::~Pty()
{
    if (master_ >= 0) {
        ::close(master_);
    }
}

int Pty::releaseMaster()
{
    int fd = master_;
    master_ = -1;
    return fd;
}

bool Pty::slaveClosed(int masterFd)
{
    pollfd p{masterFd, POLLIN, 0};
    if (::poll(&p, 1, 0) < 0) {
        return false;
    }
    return (p.revents & POLLHUP) != 0;
}

void Pty::makeRaw(int fd)
{
    termios t{};
    if (::tcgetattr(fd, &t) != 0) {
        return;
    }
    ::cfmakeraw(&t);
    t.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
    t.c_cflag |= CS8 | CLOCAL | CREAD;
    t.c_iflag &= ~(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    ::tcsetattr(fd, TCSANOW, &t);
}

void publishLink(const std::string& linkPath, const std::string& target)
{
    namespace fs = std::filesystem;
    fs::path link(linkPath);
    std::error_code ec;
    if (link.has_parent_path()) {
        fs::create_directories(link.parent_path(), ec);
    }
    fs::path tmp = link;
    tmp += ".new." + std::to_string(::getpid());
    fs::remove(tmp, ec);
    if (::symlink(target.c_str(), tmp.c_str()) != 0) {
        throw Error(errnoText("cannot create symlink " + tmp.string() + " -> " + target));
    }
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
        int saved = errno;
        fs::remove(tmp, ec);
        errno = saved;
        throw Error(errnoText("cannot publish device link " + linkPath));
    }
}

void removeLink(const std::string& linkPath, const std::string& target)
{
    std::error_code ec;
    auto points = std::filesystem::read_symlink(linkPath, ec);
    if (!ec && points.string() == target) {
        std::filesystem::remove(linkPath, ec);
    }
}

} // namespace mto::virt
