// SPDX-License-Identifier: Apache-2.0
// A pseudo-terminal for emulated serial devices: the master end stays with the emulator, the slave is
// published at a stable symlink that is re-pointed whenever a new pty replaces the old one.
#pragma once

#include <string>

namespace mto::virt {

// Owns a pty master fd (thread-bound like any fd owner: one thread uses it at a time). The slave is set
// to raw mode and closed again at once, so that only a host holds it open: the master then reports
// POLLHUP/EIO while no host has the port open, which is how an emulator notices a host opening it.
class Pty {
public:
    Pty();   // throws mto::Error when no pty can be allocated
    ~Pty();
    Pty(const Pty&) = delete;
    Pty& operator=(const Pty&) = delete;

    int masterFd() const { return master_; }
    // Hands the master fd to a new owner (e.g. an asio descriptor); this object no longer closes it.
    int releaseMaster();
    // /dev/pts/N
    const std::string& slavePath() const { return slavePath_; }

    // True while no process has the slave open (the master sees a hang-up).
    static bool slaveClosed(int masterFd);
    // cfmakeraw plus 8N1, no flow control, reads return as soon as one byte is there.
    static void makeRaw(int fd);

private:
    int master_ = -1;
    std::string slavePath_;
};

// Points linkPath at target, replacing what was there in one rename (no moment without a link); creates
// missing parent directories. Throws mto::Error when it cannot.
void publishLink(const std::string& linkPath, const std::string& target);
// Removes linkPath if it is a symlink to target (another emulator may own it by now); no error if absent.
void removeLink(const std::string& linkPath, const std::string& target);

} // namespace mto::virt
